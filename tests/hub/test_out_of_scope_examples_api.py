"""The business's out-of-scope examples through /api/v1/kb/out-of-scope-examples: listed, added, removed, bad input
refused, and never seen or changed by another workspace."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import assert_error_shape, bearer
from tests.hub.test_knowledge_base_api import other_token  # noqa: F401  (a fixture)

PATH = "/api/v1/kb/out-of-scope-examples"


def add_example(client, token: str, text: str, locale: str = "") -> dict[str, Any]:
    answer = client.post(PATH, json={"text": text, "locale": locale}, headers=bearer(token))
    assert answer.status_code == 201, answer.text
    return answer.json()


def listed(client, token: str) -> list[tuple[str, str]]:
    answer = client.get(PATH, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return [(item["text"], item["locale"]) for item in answer.json()["items"]]


def test_examples_are_added_listed_oldest_first_and_removed(client, demo):
    token = demo["api_token"]
    assert listed(client, token) == []
    wifi = add_example(client, token, "  How do I change my wifi password?\u0007 ", "en")
    assert set(wifi) == {"id", "text", "locale", "created_at"}
    assert (wifi["text"], wifi["locale"]) == ("How do I change my wifi password?", "en")
    add_example(client, token, "明天天气怎么样")
    assert listed(client, token) == [("How do I change my wifi password?", "en"), ("明天天气怎么样", "")]

    removed = client.delete(f"{PATH}/{wifi['id']}", headers=bearer(token))
    assert removed.status_code == 204
    assert listed(client, token) == [("明天天气怎么样", "")]
    gone = client.delete(f"{PATH}/{wifi['id']}", headers=bearer(token))
    assert gone.status_code == 404 and gone.json()["code"] == "example_not_found"
    assert_error_shape(gone)


def test_the_list_comes_in_pages_oldest_first(client, demo):
    token = demo["api_token"]
    texts = [f"How do I renew my gym membership number {n}?" for n in range(5)]
    for text in texts:
        add_example(client, token, text)
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        answer = client.get(PATH, params=query, headers=bearer(token))
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= 2
        seen += [item["text"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == texts
    refused = client.get(PATH, params={"cursor": "not-an-id"}, headers=bearer(token))
    assert refused.status_code == 400
    assert_error_shape(refused)
    assert refused.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": ""}, 400, None),
        ({"text": " \u0000 "}, 422, "invalid_input"),
        ({"text": "x" * 501}, 400, None),
        ({"text": "do you sell cars", "locale": "not a locale!"}, 400, None),
        ({"text": "do you sell cars", "extra": 1}, 400, None),
        ({"locale": "en"}, 400, None),
        ({"text": "Do you sell groceries?"}, 409, "duplicate_example"),
        ({"text": " Do you sell groceries? "}, 409, "duplicate_example"),
    ],
)
def test_bad_examples_are_refused_and_change_nothing(client, demo, body, status, code):
    token = demo["api_token"]
    add_example(client, token, "Do you sell groceries?")
    refused = client.post(PATH, json=body, headers=bearer(token))
    assert refused.status_code == status, refused.text
    assert_error_shape(refused)
    if code:
        assert refused.json()["code"] == code
    assert listed(client, token) == [("Do you sell groceries?", "")]


def test_an_unknown_id_is_not_found(client, demo):
    for example_id in ("0190f1c2-0000-7000-8000-000000000000", "not-an-id"):
        answer = client.delete(f"{PATH}/{example_id}", headers=bearer(demo["api_token"]))
        assert answer.status_code in (400, 404), answer.text
        assert_error_shape(answer)


def test_another_workspace_never_sees_or_removes_the_examples(client, demo, other_token):  # noqa: F811
    token = demo["api_token"]
    mine = add_example(client, token, "Do you sell groceries?")
    assert listed(client, other_token) == []
    refused = client.delete(f"{PATH}/{mine['id']}", headers=bearer(other_token))
    assert refused.status_code == 404 and refused.json()["code"] == "example_not_found"
    assert listed(client, token) == [("Do you sell groceries?", "")]
    theirs = add_example(client, other_token, "Do you sell groceries?")
    assert theirs["id"] != mine["id"]
    assert client.get(PATH, headers={}).status_code == 401
    assert client.post(PATH, json={"text": "hello"}, headers={}).status_code == 401
