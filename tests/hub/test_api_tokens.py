"""Integration API tokens: made and revoked by admins, the secret shown once and kept hashed, each operation
checked for its scope (read for GETs, write for changes, admin for the workspace's settings) with a 403 that
names the missing scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlmodel import select

from hub.app import create_app
from hub.models import ApiToken
from tests.conftest import assert_error_shape, bearer, run
from tests.hub.test_knowledge_base_api import RETURNS, other_token  # noqa: F401
from tests.hub.workspaces import other_admin_token  # noqa: F401


def make_token(client: TestClient, admin_token: str, scopes: list[str], **extra: Any) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/tokens",
        json={"name": f"CRM {'+'.join(scopes)}", "scopes": scopes, **extra},
        headers=bearer(admin_token),
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_token_is_shown_once_kept_hashed_listed_and_revoked(client, demo, settings):
    admin = demo["api_token"]
    expires_at = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    made = make_token(client, admin, ["read", "write"], expires_at=expires_at)
    assert made["token"].startswith("omh_") and made["scopes"] == ["read", "write"]
    assert made["expires_at"] is not None
    listed = client.get("/api/v1/tokens", headers=bearer(admin)).json()
    assert listed["items"] == [{key: value for key, value in made.items() if key != "token"}]

    async def stored(hub) -> list[str]:
        async with hub.database.session() as session:
            return [row.token_hash for row in (await session.exec(select(ApiToken))).all()]

    assert all(made["token"] not in value for value in run(stored, settings))
    assert client.get("/api/v1/me", headers=bearer(made["token"])).json() == {
        "workspace_id": demo["workspace_id"],
        "agent": None,
    }
    assert client.delete(f"/api/v1/tokens/{made['id']}", headers=bearer(admin)).status_code == 204
    revoked = client.get("/api/v1/me", headers=bearer(made["token"]))
    assert revoked.status_code == 401
    assert client.delete(f"/api/v1/tokens/{made['id']}", headers=bearer(admin)).status_code == 404


def test_each_operation_is_checked_for_its_scope(client, demo):
    admin = demo["api_token"]
    reader = make_token(client, admin, ["read"])["token"]
    writer = make_token(client, admin, ["read", "write"])["token"]
    integration_admin = make_token(client, admin, ["admin", "read", "write"])["token"]

    assert client.get("/api/v1/conversations", headers=bearer(reader)).status_code == 200
    assert client.post("/api/v1/kb/ask", json={"text": "returns?"}, headers=bearer(reader)).status_code == 200
    refused = client.post("/api/v1/kb/articles", json=RETURNS, headers=bearer(reader))
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    assert "'write' scope" in refused.json()["detail"] and "has: read" in refused.json()["detail"]
    assert_error_shape(refused)

    assert client.post("/api/v1/kb/articles", json=RETURNS, headers=bearer(writer)).status_code == 201
    for path in ("/api/v1/webhooks", "/api/v1/tokens", "/api/v1/inbound-events"):
        not_admin = client.get(path, headers=bearer(writer))
        assert not_admin.status_code == 403 and "'admin' scope" in not_admin.json()["detail"], path
        assert client.get(path, headers=bearer(integration_admin)).status_code == 200, path
    hooked = client.post(
        "/api/v1/webhooks",
        json={"url": "https://crm.example.com/h", "events": ["message.created"]},
        headers=bearer(integration_admin),
    )
    assert hooked.status_code == 201
    write_only = make_token(client, admin, ["write"])["token"]
    assert client.get("/api/v1/conversations", headers=bearer(write_only)).status_code == 403


def test_agents_tokens_keep_their_roles_scopes(client, demo, other_token):  # noqa: F811
    """A login or agent token: an agent reads and writes, only an admin administers."""
    assert client.get("/api/v1/conversations", headers=bearer(other_token)).status_code == 200
    refused = client.post(
        "/api/v1/tokens", json={"name": "mine", "scopes": ["read"]}, headers=bearer(other_token)
    )
    assert refused.status_code == 403 and refused.json()["code"] == "admin_only"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "x", "scopes": ["superuser"]}, 400, "scopes[0]"),
        ({"name": "x", "scopes": []}, 400, "scopes"),
        ({"name": "", "scopes": ["read"]}, 400, "name"),
        ({"name": "a\x00b", "scopes": ["read"]}, 400, "name"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}, 422, "expires_at"),
    ],
    ids=["unknown scope", "no scope", "no name", "control character", "already expired"],
)
def test_bad_tokens_are_refused_naming_the_field(client, demo, body, status, field):
    answer = client.post("/api/v1/tokens", json=body, headers=bearer(demo["api_token"]))
    assert answer.status_code == status, answer.text
    assert_error_shape(answer)
    assert any(field in error["field"] for error in answer.json()["errors"]), answer.json()
    assert client.get("/api/v1/tokens", headers=bearer(demo["api_token"])).json()["items"] == []


def test_another_workspaces_admin_cannot_see_or_revoke_a_token(client, demo, other_admin_token):  # noqa: F811
    made = make_token(client, demo["api_token"], ["read"])
    assert client.get("/api/v1/tokens", headers=bearer(other_admin_token)).json()["items"] == []
    foreign = client.delete(f"/api/v1/tokens/{made['id']}", headers=bearer(other_admin_token))
    assert foreign.status_code == 404
    assert client.get("/api/v1/me", headers=bearer(made["token"])).status_code == 200


def test_a_token_over_its_rate_limit_gets_429_with_retry_after(settings, demo):
    limited = settings.model_copy(update={"api_requests_per_minute": 3})
    with TestClient(app=create_app(limited), base_url="http://testserver.local") as client:
        token = make_token(client, demo["api_token"], ["read"])["token"]
        answers = [client.get("/api/v1/me", headers=bearer(token)) for _ in range(4)]
        assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["code"] == "rate_limited" and int(answers[-1].headers["retry-after"]) >= 1
        assert_error_shape(answers[-1])
        assert client.get("/api/v1/me", headers=bearer(demo["api_token"])).status_code == 200, (
            "each token is counted on its own"
        )
