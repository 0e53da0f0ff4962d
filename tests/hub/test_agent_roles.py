"""Changing an agent's role and name (`PATCH /api/v1/agents/{id}`, admins only): audited, the workspace's last
admin stays one (409), an agent cannot make itself admin (403), and a demoted admin's sessions and tokens lose
admin rights with their next request."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select

from hub.models import AuditEntry
from tests.conftest import assert_error_shape, bearer, run
from tests.hub.test_assignment_api import make_agents
from tests.hub.workspaces import other_admin_token  # noqa: F401


def me(client, token: str) -> dict[str, Any]:
    return client.get("/api/v1/me", headers=bearer(token)).json()["agent"]


def change(client, token: str, agent_id: str, **body: Any) -> Any:
    return client.patch(f"/api/v1/agents/{agent_id}", json=body, headers=bearer(token))


def audited(settings, agent_id: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    async def read(hub) -> list[tuple[str, str | None, dict[str, Any]]]:
        async with hub.database.session() as session:
            rows = (
                await session.exec(
                    select(AuditEntry).where(AuditEntry.subject_id == agent_id).order_by(col(AuditEntry.id))
                )
            ).all()
        return [(row.action, row.actor_id, row.details) for row in rows]

    return run(read, settings)


@pytest.fixture
def ann(settings, demo) -> dict[str, str]:
    return make_agents(settings, demo["workspace_id"], ["ann"])["ann"]


def test_an_admin_promotes_and_demotes_and_the_tokens_follow_at_once(client, demo, settings, ann):
    admin = demo["api_token"]
    admin_id = me(client, admin)["id"]
    assert client.get("/api/v1/tokens", headers=bearer(ann["token"])).status_code == 403

    promoted = change(client, admin, ann["id"], role="admin", name="  Ann Lee ")
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "admin" and promoted.json()["name"] == "Ann Lee"
    assert client.get("/api/v1/tokens", headers=bearer(ann["token"])).status_code == 200

    demoted = change(client, ann["token"], admin_id, role="agent")
    assert demoted.status_code == 200, demoted.text
    refused = client.get("/api/v1/tokens", headers=bearer(admin))
    assert refused.status_code == 403 and refused.json()["code"] == "admin_only"
    assert {
        agent["id"]: agent["role"] for agent in client.get("/api/v1/agents", headers=bearer(admin)).json()
    }[admin_id] == "agent"

    assert audited(settings, ann["id"]) == [
        ("agent.updated", admin_id, {"role": ["agent", "admin"], "name": ["ann", "Ann Lee"]})
    ]
    assert audited(settings, admin_id) == [("agent.updated", ann["id"], {"role": ["admin", "agent"]})]


def test_the_last_admin_cannot_be_demoted_even_by_themselves(client, demo, settings, ann):
    admin = demo["api_token"]
    admin_id = me(client, admin)["id"]
    refused = change(client, admin, admin_id, role="agent")
    assert refused.status_code == 409, refused.text
    assert_error_shape(refused)
    assert refused.json()["code"] == "last_admin" and "last admin" in refused.json()["detail"]
    assert me(client, admin)["role"] == "admin"
    assert change(client, admin, admin_id, role="admin").status_code == 200
    assert audited(settings, admin_id) == []


def test_an_agent_cannot_raise_their_own_role_or_change_anyone(client, demo, ann):
    refused = change(client, ann["token"], ann["id"], role="admin")
    assert refused.status_code == 403, refused.text
    assert_error_shape(refused)
    assert me(client, ann["token"])["role"] == "agent"
    admin_id = me(client, demo["api_token"])["id"]
    assert change(client, ann["token"], admin_id, role="agent").status_code == 403


def test_another_workspaces_admin_cannot_change_this_ones_agents(client, demo, ann, other_admin_token):  # noqa: F811
    answer = change(client, other_admin_token, ann["id"], role="admin")
    assert answer.status_code == 404
    assert me(client, ann["token"])["role"] == "agent"


@pytest.mark.parametrize(
    "body",
    [{"role": "owner"}, {"role": None, "name": ""}, {"name": "Ann\x00"}, {"name": "x" * 101}, {"rank": 1}],
)
def test_bad_changes_answer_400_and_change_nothing(client, demo, ann, body):
    answer = change(client, demo["api_token"], ann["id"], **body)
    assert answer.status_code == 400, answer.text
    assert_error_shape(answer)
    assert me(client, ann["token"])["name"] == "ann" and me(client, ann["token"])["role"] == "agent"
