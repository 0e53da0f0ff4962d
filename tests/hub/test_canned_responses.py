"""Canned responses through the API: admins write them, every agent finds them by what they type (a short code's
start, or words of the content), a short code is unique in the workspace; bad input answers with its field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import assert_error_shape, bearer, run
from tests.hub.test_contacts import _plain_agent_token
from tests.hub.workspaces import other_admin_token  # noqa: F401

PATH = "/api/v1/canned_responses"


def create(client, token: str, short_code: str, content: str) -> Any:
    return client.post(PATH, json={"short_code": short_code, "content": content}, headers=bearer(token))


def found(client, token: str, q: str | None = None) -> list[str]:
    answer = client.get(PATH, params={"q": q} if q is not None else {}, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return [each["short_code"] for each in answer.json()["items"]]


@pytest.fixture
def agent_token(settings, demo) -> str:
    return run(_plain_agent_token, settings)


def test_admins_write_canned_responses_and_every_agent_finds_them(client, demo, agent_token):
    admin = demo["api_token"]
    made = create(client, admin, "  Refund ", "Your refund is on its way: 3-5 working days.")
    assert made.status_code == 201, made.text
    assert made.json()["short_code"] == "refund" and made.json()["content"].startswith("Your refund")
    assert create(client, admin, "refund-policy", "We refund within 30 days of delivery.").status_code == 201
    assert create(client, admin, "退货", "七天无理由退货。<b>not markup</b>").status_code == 201
    assert create(client, admin, "hello", "Hi! How can I help?\nAsk away.").status_code == 201

    assert found(client, agent_token) == ["refund", "refund-policy", "退货", "hello"]
    assert found(client, agent_token, "REF") == ["refund", "refund-policy"]
    assert found(client, agent_token, "30 days") == ["refund-policy"]
    assert found(client, agent_token, "working") == ["refund"]
    assert found(client, agent_token, "退") == ["退货"]
    assert found(client, agent_token, "%") == []
    assert found(client, agent_token, "_") == []
    listed = client.get(PATH, params={"q": "hello"}, headers=bearer(agent_token)).json()["items"]
    assert listed[0]["content"] == "Hi! How can I help?\nAsk away."
    markup = client.get(PATH, params={"q": "退货"}, headers=bearer(agent_token)).json()["items"][0]
    assert markup["content"] == "七天无理由退货。<b>not markup</b>"

    changed = client.patch(
        f"{PATH}/{made.json()['id']}", json={"content": "Refunded: 3 days."}, headers=bearer(admin)
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["short_code"] == "refund" and changed.json()["content"] == "Refunded: 3 days."
    renamed = client.patch(
        f"{PATH}/{made.json()['id']}", json={"short_code": "Refunded"}, headers=bearer(admin)
    )
    assert renamed.status_code == 200 and renamed.json()["short_code"] == "refunded"
    assert client.delete(f"{PATH}/{made.json()['id']}", headers=bearer(admin)).status_code == 204
    assert found(client, agent_token) == ["refund-policy", "退货", "hello"]
    gone = client.delete(f"{PATH}/{made.json()['id']}", headers=bearer(admin))
    assert gone.status_code == 404 and gone.json()["code"] == "canned_response_not_found"


def test_a_short_code_is_unique_in_the_workspace_and_not_across_workspaces(client, demo, other_admin_token):  # noqa: F811
    admin = demo["api_token"]
    first = create(client, admin, "thanks", "Thank you!")
    assert first.status_code == 201
    taken = create(client, admin, "THANKS", "Thanks again!")
    assert taken.status_code == 409, taken.text
    assert_error_shape(taken)
    assert taken.json()["code"] == "short_code_taken"
    other = create(client, admin, "bye", "Goodbye!")
    renamed = client.patch(
        f"{PATH}/{other.json()['id']}", json={"short_code": "thanks"}, headers=bearer(admin)
    )
    assert renamed.status_code == 409 and renamed.json()["code"] == "short_code_taken"
    same = client.patch(f"{PATH}/{first.json()['id']}", json={"short_code": "thanks"}, headers=bearer(admin))
    assert same.status_code == 200
    assert create(client, other_admin_token, "thanks", "Their own thanks").status_code == 201
    assert found(client, other_admin_token) == ["thanks"]
    assert found(client, admin) == ["thanks", "bye"]
    assert (
        client.get(PATH, headers=bearer(other_admin_token)).json()["items"][0]["content"]
        == "Their own thanks"
    )


def test_only_admins_write_canned_responses(client, demo, agent_token):
    made = create(client, demo["api_token"], "hi", "Hello!").json()
    for method, path, body in (
        ("POST", PATH, {"short_code": "mine", "content": "x"}),
        ("PATCH", f"{PATH}/{made['id']}", {"content": "changed"}),
        ("DELETE", f"{PATH}/{made['id']}", None),
    ):
        refused = client.request(method, path, json=body, headers=bearer(agent_token))
        assert refused.status_code == 403, (method, refused.text)
        assert_error_shape(refused)
        assert refused.json()["code"] == "admin_only"
    assert client.get(PATH, headers=bearer(demo["api_token"])).json()["items"][0]["content"] == "Hello!"


def test_canned_responses_are_paged(client, demo):
    admin = demo["api_token"]
    for number in range(5):
        assert create(client, admin, f"code-{number}", f"Answer {number}").status_code == 201
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "q": "code"} | ({"cursor": cursor} if cursor else {})
        page = client.get(PATH, params=params, headers=bearer(admin)).json()
        seen += [each["short_code"] for each in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [f"code-{number}" for number in range(5)]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"short_code": "two words", "content": "x"}, 422, "short_code"),
        ({"short_code": "", "content": "x"}, 422, "short_code"),
        ({"short_code": "a" * 41, "content": "x"}, 422, "short_code"),
        ({"short_code": "ok", "content": "  \x00 "}, 422, "content"),
        ({"short_code": "ok", "content": "x" * 5001}, 400, None),
        ({"short_code": "ok"}, 400, None),
        ({"short_code": "ok", "content": "x", "html": True}, 400, None),
    ],
)
def test_bad_canned_responses_are_refused_naming_the_field(client, demo, body, status, field):
    answer = client.post(PATH, json=body, headers=bearer(demo["api_token"]))
    assert answer.status_code == status, answer.text
    assert_error_shape(answer)
    if field:
        assert answer.json()["errors"][0]["field"] == field
    assert found(client, demo["api_token"]) == []
    bad_cursor = client.get(PATH, params={"cursor": "nope"}, headers=bearer(demo["api_token"]))
    assert bad_cursor.status_code == 400 and bad_cursor.json()["code"] == "invalid_cursor"
    control_character = client.get(PATH, params={"q": "a\x00b"}, headers=bearer(demo["api_token"]))
    assert control_character.status_code == 400, "PostgreSQL cannot compare a text holding NUL"
