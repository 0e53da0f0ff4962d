"""The knowledge-base API: articles per workspace, the bot's decision on a question, CSV and Markdown files."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import assert_error_shape, bearer
from tests.hub.workspaces import token_of_another_workspace

RETURNS = {
    "title": "Returns",
    "questions": ["How do I return an item?", "Can I send my order back?"],
    "answer": "You can return any item within 30 days: open the order and choose Return.",
    "locale": "en",
    "tags": ["returns"],
}
SHIPPING = {
    "title": "Shipping time",
    "questions": ["How long does delivery take?", "When will my parcel arrive?"],
    "answer": "Orders arrive within 3 to 5 working days.",
    "locale": "en",
    "tags": ["shipping"],
}
REFUND_ZH = {
    "title": "退款多久到账",
    "questions": ["退款什么时候到账", "退款要多久"],
    "answer": "退款会在 3 到 7 个工作日内原路退回。",
    "locale": "zh-CN",
    "tags": ["退款"],
}


def create(client, token: str, article: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/api/v1/kb/articles", json=article, headers=bearer(token))
    assert answer.status_code == 201, answer.text
    return answer.json()


def ask(client, token: str, text: str, **extra: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/kb/ask", json={"text": text, **extra}, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def other_token(settings) -> str:
    """An API token of a second workspace."""
    return token_of_another_workspace(
        settings, workspace="Other shop", email="other@example.com", role="agent"
    )


def test_an_article_is_created_read_changed_and_deleted(client, demo):
    token = demo["api_token"]
    created = create(client, token, RETURNS)
    assert {key: created[key] for key in RETURNS} == RETURNS
    assert created["enabled"] is True and created["id"]
    path = f"/api/v1/kb/articles/{created['id']}"
    assert client.get(path, headers=bearer(token)).json() == created

    changed = client.patch(path, json={"answer": "Returns are free within 60 days."}, headers=bearer(token))
    assert changed.status_code == 200, changed.text
    assert changed.json()["answer"] == "Returns are free within 60 days."
    assert changed.json()["questions"] == RETURNS["questions"]
    assert client.get(path, headers=bearer(token)).json()["answer"] == "Returns are free within 60 days."

    assert client.delete(path, headers=bearer(token)).status_code == 204
    gone = client.get(path, headers=bearer(token))
    assert gone.status_code == 404 and gone.json()["code"] == "article_not_found"
    assert_error_shape(gone)


def test_ask_answers_suggests_or_abstains_as_the_bot_would(client, demo):
    token = demo["api_token"]
    returns = create(client, token, RETURNS)
    create(client, token, SHIPPING)
    refund = create(client, token, REFUND_ZH)

    answered = ask(client, token, "how can I return an item")
    assert answered["decision"] == "answer"
    assert answered["article_id"] == returns["id"]
    assert 0 < answered["score"] <= 1 and answered["suggestions"] == []

    chinese = ask(client, token, "退款要多久才到账？")
    assert (chinese["decision"], chinese["article_id"]) == ("answer", refund["id"])

    abstained = ask(client, token, "what is the capital of France")
    assert abstained == {
        "decision": "abstain",
        "article_id": None,
        "score": abstained["score"],
        "suggestions": [],
    }

    only_chinese = ask(client, token, "how can I return an item", locale="zh-CN")
    assert only_chinese["article_id"] != returns["id"]


def test_an_edit_or_a_disabled_article_changes_the_next_answer(client, demo):
    token = demo["api_token"]
    returns = create(client, token, RETURNS)
    assert ask(client, token, "can I send my order back")["article_id"] == returns["id"]
    path = f"/api/v1/kb/articles/{returns['id']}"

    client.patch(path, json={"enabled": False}, headers=bearer(token))
    assert ask(client, token, "can I send my order back")["decision"] == "abstain"

    client.patch(
        path, json={"enabled": True, "questions": ["Do you sell gift cards?"]}, headers=bearer(token)
    )
    assert ask(client, token, "do you sell gift cards")["article_id"] == returns["id"]


def test_a_suggestion_lists_close_articles(client, demo):
    token = demo["api_token"]
    first = create(
        client, token, {**RETURNS, "questions": ["How do I return shoes?"], "title": "Returning shoes"}
    )
    second = create(
        client, token, {**RETURNS, "questions": ["How do I return a jacket?"], "title": "Returning jackets"}
    )
    suggested = ask(client, token, "how do I return")
    assert suggested["decision"] == "suggest", suggested
    assert {item["article_id"] for item in suggested["suggestions"]} == {first["id"], second["id"]}
    assert all(set(item) == {"article_id", "title", "score"} for item in suggested["suggestions"])


def test_articles_are_listed_in_pages(client, demo):
    token = demo["api_token"]
    made = [create(client, token, {**RETURNS, "title": f"Article {number}"})["id"] for number in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/kb/articles", params=params, headers=bearer(token)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    bad = client.get("/api/v1/kb/articles", params={"cursor": "nonsense"}, headers=bearer(token))
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"


def test_another_workspace_never_sees_or_changes_the_articles(client, demo, other_token):
    token = demo["api_token"]
    returns = create(client, token, RETURNS)
    path = f"/api/v1/kb/articles/{returns['id']}"
    for answer in (
        client.get(path, headers=bearer(other_token)),
        client.patch(path, json={"title": "Mine"}, headers=bearer(other_token)),
        client.delete(path, headers=bearer(other_token)),
    ):
        assert answer.status_code == 404, answer.text
    assert client.get("/api/v1/kb/articles", headers=bearer(other_token)).json()["items"] == []
    assert ask(client, other_token, "how do I return an item")["decision"] == "abstain"
    exported = client.get("/api/v1/kb/export", headers=bearer(other_token))
    assert returns["id"] not in exported.text
    assert client.get(path, headers=bearer(token)).json()["title"] == "Returns"
    assert client.get("/api/v1/kb/articles", headers={}).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**RETURNS, "title": ""}, "title"),
        ({**RETURNS, "title": "x" * 201}, "title"),
        ({**RETURNS, "questions": []}, "questions"),
        ({**RETURNS, "questions": ["q"] * 51}, "questions"),
        ({**RETURNS, "questions": ["x" * 501]}, "questions"),
        ({**RETURNS, "answer": "x" * 10_001}, "answer"),
        ({**RETURNS, "locale": "not a locale"}, "locale"),
        ({**RETURNS, "tags": ["a,b"]}, "tags"),
        ({**RETURNS, "tags": ["t"] * 21}, "tags"),
        ({**RETURNS, "colour": "red"}, "colour"),
        ({key: value for key, value in RETURNS.items() if key != "answer"}, "answer"),
    ],
)
def test_bad_articles_are_refused_naming_the_field(client, demo, body, field):
    answer = client.post("/api/v1/kb/articles", json=body, headers=bearer(demo["api_token"]))
    assert answer.status_code == 400, answer.text
    assert_error_shape(answer)
    assert answer.json()["code"] == "invalid_request"
    assert field in answer.text
    assert client.get("/api/v1/kb/articles", headers=bearer(demo["api_token"])).json()["items"] == []


def test_text_that_cleans_to_nothing_is_refused(client, demo):
    answer = client.post(
        "/api/v1/kb/articles",
        json={**RETURNS, "questions": ["ok", "\x00\x01"]},
        headers=bearer(demo["api_token"]),
    )
    assert answer.status_code == 422
    assert answer.json()["errors"] == [{"field": "questions[1]", "message": "must not be empty"}]
    too_long = client.post("/api/v1/kb/ask", json={"text": "x" * 4001}, headers=bearer(demo["api_token"]))
    assert too_long.status_code == 400 and too_long.json()["code"] == "invalid_request"


@pytest.mark.parametrize("file_format", ["csv", "markdown"])
def test_an_export_imports_back_and_updates_by_id(client, demo, other_token, file_format):
    token = demo["api_token"]
    tricky = {**RETURNS, "answer": '# Not a heading\nLine two, with "quotes", commas\n\n- and a list'}
    made = [create(client, token, article) for article in (tricky, SHIPPING, {**REFUND_ZH, "enabled": False})]
    exported = client.get("/api/v1/kb/export", params={"format": file_format}, headers=bearer(token))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith(
        "text/csv" if file_format == "csv" else "text/markdown"
    )

    again = client.post(
        "/api/v1/kb/import", params={"format": file_format}, content=exported.content, headers=bearer(token)
    )
    assert again.json() == {"created": 0, "updated": 3}
    listed = client.get("/api/v1/kb/articles", headers=bearer(token)).json()["items"]
    fields = ("id", "title", "questions", "answer", "locale", "tags", "enabled")
    assert [{key: item[key] for key in fields} for item in listed] == [
        {key: item[key] for key in fields} for item in made
    ]

    elsewhere = client.post(
        "/api/v1/kb/import",
        params={"format": file_format},
        content=exported.content,
        headers=bearer(other_token),
    )
    assert elsewhere.json() == {"created": 3, "updated": 0}
    copied = client.get("/api/v1/kb/articles", headers=bearer(other_token)).json()["items"]
    assert {item["id"] for item in copied}.isdisjoint(item["id"] for item in made)
    assert (
        client.get(f"/api/v1/kb/articles/{made[0]['id']}", headers=bearer(token)).json()["title"] == "Returns"
    )


def test_a_csv_written_by_hand_is_imported(client, demo):
    token = demo["api_token"]
    csv_file = (
        "title,questions,answer,locale,tags\r\n"
        'Opening hours,"When are you open?\nWhat are your hours?",We are open 9:00 to 18:00.,en,"hours\nstore"\r\n'
    )
    answer = client.post("/api/v1/kb/import", content=csv_file.encode(), headers=bearer(token))
    assert answer.json() == {"created": 1, "updated": 0}
    (article,) = client.get("/api/v1/kb/articles", headers=bearer(token)).json()["items"]
    assert article["questions"] == ["When are you open?", "What are your hours?"]
    assert article["tags"] == ["hours", "store"] and article["enabled"] is True
    assert ask(client, token, "what are your opening hours")["article_id"] == article["id"]


GOOD_CSV_ROW = "Good,q,a\r\n"
GOOD_MARKDOWN = "# Good\n\n## Questions\n\n- q\n\n## Answer\n\na\n\n"


@pytest.mark.parametrize(
    ("file_format", "content", "field"),
    [
        ("csv", "title,answer\r\nA,B\r\n", "header"),
        ("csv", "title,questions,answer\r\n" + GOOD_CSV_ROW + "A,,B\r\n", "articles[1]"),
        ("csv", "title,questions,answer,enabled\r\nGood,q,a,\r\nA,q,B,maybe\r\n", "row 3"),
        ("markdown", "Some text first\n# Title\n", "line 1"),
        ("markdown", GOOD_MARKDOWN + "# Title\n\n## Questions\n\n- q\n\n## Answer\n\n", "articles[1]"),
        ("markdown", "# Title\n\ncolour: red\n", "line 1"),
    ],
)
def test_a_bad_file_is_refused_whole_naming_the_place(client, demo, file_format, content, field):
    token = demo["api_token"]
    answer = client.post(
        "/api/v1/kb/import", params={"format": file_format}, content=content.encode(), headers=bearer(token)
    )
    assert answer.status_code == 422, answer.text
    assert_error_shape(answer)
    assert answer.json()["errors"][0]["field"] == field
    assert client.get("/api/v1/kb/articles", headers=bearer(token)).json()["items"] == []
    not_utf8 = client.post("/api/v1/kb/import", content="标题".encode("gbk"), headers=bearer(token))
    assert not_utf8.status_code == 400 and not_utf8.json()["code"] == "invalid_encoding"


def test_a_workspace_holds_at_most_max_articles(client, demo, monkeypatch):
    import hub.api.knowledge_base

    monkeypatch.setattr(hub.api.knowledge_base, "MAX_ARTICLES", 3)
    token = demo["api_token"]
    first, _ = create(client, token, RETURNS), create(client, token, SHIPPING)
    rows = f"id,title,questions,answer\r\n{first['id']},Returns,How do I return?,Within 30 days.\r\n,Hours,When are you open?,9 to 6.\r\n"
    assert client.post("/api/v1/kb/import", content=rows.encode(), headers=bearer(token)).json() == {
        "created": 1,
        "updated": 1,
    }
    refused = client.post("/api/v1/kb/articles", json=REFUND_ZH, headers=bearer(token))
    assert refused.status_code == 422 and refused.json()["code"] == "too_many_articles"
    assert_error_shape(refused)
    assert len(client.get("/api/v1/kb/articles", headers=bearer(token)).json()["items"]) == 3
