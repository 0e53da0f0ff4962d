"""The bot's engines through web chat and the API: the LLM engine grounded in the top articles, the external bot
called with a signed event, both falling back to the knowledge base; their settings, secrets sealed at rest; and
the business's synonyms, effective at once on every process."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from litestar.testing import TestClient
from sqlmodel import select

from hub.app import create_app
from hub.models import WorkspaceBot
from normalizer.webhook_signature import verify_webhook_signature
from tests.conftest import assert_error_shape, bearer, run, wait_for
from tests.hub.test_bot_conversations import GREETING, Visitor, bot, conversation_of  # noqa: F401
from tests.hub.test_knowledge_base_api import RETURNS, ask, create, other_token  # noqa: F401

LLM_BASE = "https://llm.example.com/v1"
BOT_URL = "https://bot.example.com/omnihub"
API_KEY = "sk-test-0123456789"
SIGNING_KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SIGNING_KEY).decode()


def put_engines(client, token: str, body: dict[str, Any]) -> httpx.Response:
    return client.put("/api/v1/bot/engines", json=body, headers=bearer(token))


def use_engine(client, bot: dict[str, Any], engine: str, body: dict[str, Any]) -> None:  # noqa: F811
    assert put_engines(client, bot["token"], body).status_code == 200
    chosen = client.put(
        f"/api/v1/inboxes/{bot['inbox']['id']}/bot",
        json={"enabled": True, "greeting": GREETING, "engine": engine},
        headers=bearer(bot["token"]),
    )
    assert chosen.status_code == 200, chosen.text


def completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "shop-model",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ],
    }


@pytest.fixture
def outside() -> Iterator[respx.Router]:
    with respx.mock(assert_all_called=False) as router:
        yield router


LLM = {"llm": {"base_url": LLM_BASE, "model": "shop-model", "api_key": API_KEY, "timeout_seconds": 2}}
WEBHOOK = {"webhook": {"url": BOT_URL, "secret": SECRET}}


def test_the_llm_engine_answers_grounded_in_the_top_articles(client, bot, outside):  # noqa: F811
    use_engine(client, bot, "llm", LLM)
    route = outside.post(f"{LLM_BASE}/chat/completions").respond(
        json=completion(json.dumps({"article": 1, "answer": "Within 30 days, from the order page."}))
    )
    visitor = Visitor(client, bot["widget"])
    visitor.say("Can I give back something I bought?")
    assert visitor.bot_replies(2)[-1] == "Within 30 days, from the order page."

    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    sent = json.loads(request.content)
    assert sent["model"] == "shop-model"
    system, user = sent["messages"]
    assert user == {"role": "user", "content": "Can I give back something I bought?"}
    assert "Never invent policies" in system["content"] and RETURNS["answer"] in system["content"]


def test_the_llm_engine_abstains_when_no_article_answers(client, bot, outside):  # noqa: F811
    use_engine(client, bot, "llm", LLM)
    outside.post(f"{LLM_BASE}/chat/completions").respond(
        json=completion(json.dumps({"article": None, "answer": ""}))
    )
    visitor = Visitor(client, bot["widget"])
    visitor.say("Can I return a gift I opened?")
    assert "could you put it another way" in visitor.bot_replies(2)[-1].lower()


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, json={"error": {"message": "overloaded"}}),
        httpx.ConnectTimeout("no answer"),
        httpx.Response(200, json=completion("I think you can return it within 90 days.")),
        httpx.Response(200, json=completion(json.dumps({"article": 7, "answer": "Made up."}))),
    ],
    ids=["server error", "timeout", "not the asked shape", "an article it was not given"],
)
def test_llm_failures_fall_back_to_the_knowledge_base(client, bot, outside, failure):  # noqa: F811
    use_engine(client, bot, "llm", LLM)
    route = outside.post(f"{LLM_BASE}/chat/completions")
    if isinstance(failure, Exception):
        route.side_effect = failure
    else:
        route.return_value = failure
    visitor = Visitor(client, bot["widget"])
    visitor.say("How can I return an item?")
    assert visitor.bot_replies(2)[-1] == RETURNS["answer"]
    assert route.called
    assert 'omnihub_bot_engine_fallbacks_total{engine="llm"' in client.get("/metrics").text


def test_a_slow_llm_is_given_up_on_in_time(client, bot, outside):  # noqa: F811
    use_engine(client, bot, "llm", {"llm": {**LLM["llm"], "timeout_seconds": 0.2}})

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=completion(json.dumps({"article": 1, "answer": "late"})))

    outside.post(f"{LLM_BASE}/chat/completions").mock(side_effect=slow)
    visitor = Visitor(client, bot["widget"])
    visitor.say("How can I return an item?")
    assert visitor.bot_replies(2)[-1] == RETURNS["answer"]
    assert 'engine="llm",reason="timeout"' in client.get("/metrics").text


def test_the_external_bot_gets_a_signed_event_and_its_answer_is_sent(client, bot, outside):  # noqa: F811
    use_engine(client, bot, "webhook", WEBHOOK)
    route = outside.post(BOT_URL).respond(json={"action": "reply", "text": "Hi from the shop's own bot"})
    visitor = Visitor(client, bot["widget"])
    sent = visitor.say("Is the blue lamp back in stock?")
    assert visitor.bot_replies(2)[-1] == "Hi from the shop's own bot"

    request = route.calls.last.request
    event = json.loads(request.content)
    assert event["type"] == "bot.message" and event["text"] == "Is the blue lamp back in stock?"
    assert event["id"] == sent["id"] == request.headers["webhook-id"]
    assert event["conversation_id"] == conversation_of(client, bot["token"], sent["id"])
    assert verify_webhook_signature(
        SIGNING_KEY,
        request.headers["webhook-id"],
        int(request.headers["webhook-timestamp"]),
        request.content,
        request.headers["webhook-signature"],
    )
    assert not verify_webhook_signature(
        b"another key of 32 bytes.........",
        request.headers["webhook-id"],
        int(request.headers["webhook-timestamp"]),
        request.content,
        request.headers["webhook-signature"],
    )


def test_the_external_bot_can_hand_over_to_a_person(client, bot, outside):  # noqa: F811
    use_engine(client, bot, "webhook", WEBHOOK)
    outside.post(BOT_URL).respond(json={"action": "handoff"})
    visitor = Visitor(client, bot["widget"])
    sent = visitor.say("I'd like to talk about a wholesale contract")
    assert "passing you to a colleague" in visitor.bot_replies(2)[-1]
    conversation_id = conversation_of(client, bot["token"], sent["id"])
    wait_for(
        lambda: (
            client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(bot["token"])).json()[
                "status"
            ]
            in ("queued", "assigned")
        )
    )


def test_an_external_bot_that_fails_leaves_the_answer_to_the_knowledge_base(client, bot, outside):  # noqa: F811
    use_engine(client, bot, "webhook", WEBHOOK)
    route = outside.post(BOT_URL).respond(json={"action": "dance"})
    visitor = Visitor(client, bot["widget"])
    visitor.say("How can I return an item?")
    assert visitor.bot_replies(2)[-1] == RETURNS["answer"]
    assert route.called and 'engine="webhook",reason="bad_answer"' in client.get("/metrics").text


def test_engine_secrets_are_sealed_write_only_and_kept_when_left_out(client, bot, settings):  # noqa: F811
    token = bot["token"]
    assert client.get("/api/v1/bot/engines", headers=bearer(token)).json() == {"llm": None, "webhook": None}
    assert put_engines(client, token, {**LLM, **WEBHOOK}).status_code == 200
    changed = put_engines(
        client,
        token,
        {
            "llm": {"base_url": LLM_BASE, "model": "bigger-model"},
            "webhook": {"url": BOT_URL, "timeout_seconds": 3},
        },
    )
    assert changed.status_code == 200
    assert client.get("/api/v1/bot/engines", headers=bearer(token)).json() == {
        "llm": {"base_url": LLM_BASE, "model": "bigger-model", "timeout_seconds": 8.0, "api_key_set": True},
        "webhook": {"url": BOT_URL, "timeout_seconds": 3.0, "secret_set": True},
    }

    async def stored(hub) -> str:
        async with hub.database.session() as session:
            row = (await session.exec(select(WorkspaceBot))).one()
            return json.dumps([row.llm, row.webhook])

    at_rest = run(stored, settings)
    assert (
        API_KEY not in at_rest
        and SECRET not in at_rest
        and base64.b64encode(SIGNING_KEY).decode() not in at_rest
    )


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (
            {"llm": {"base_url": "http://127.0.0.1:8000/v1", "model": "m", "api_key": "k"}},
            422,
            "destination_refused",
            "llm.base_url",
        ),
        (
            {"webhook": {"url": "http://169.254.169.254/bot", "secret": SECRET}},
            422,
            "destination_refused",
            "webhook.url",
        ),
        ({"llm": {"base_url": LLM_BASE, "model": "m"}}, 422, "secret_required", "llm.api_key"),
        ({"webhook": {"url": BOT_URL}}, 422, "secret_required", "webhook.secret"),
        (
            {
                "webhook": {
                    "url": BOT_URL,
                    "secret": "whsec_" + base64.b64encode(b"short").decode() + "=" * 20,
                }
            },
            422,
            "invalid_input",
            "webhook.secret",
        ),
        (
            {"webhook": {"url": BOT_URL, "secret": "plain-secret-of-thirty-characters"}},
            400,
            "invalid_request",
            None,
        ),
        (
            {"llm": {"base_url": "ftp://llm.example.com", "model": "m", "api_key": "k"}},
            400,
            "invalid_request",
            None,
        ),
        ({"llm": {**LLM["llm"], "timeout_seconds": 60}}, 400, "invalid_request", None),
        ({"gpt": {}}, 400, "invalid_request", None),
    ],
)
def test_bad_engine_settings_are_refused_naming_the_field(client, bot, body, status, code, field):  # noqa: F811
    refused = put_engines(client, bot["token"], body)
    assert refused.status_code == status and refused.json()["code"] == code, refused.text
    assert_error_shape(refused)
    if field:
        assert refused.json()["errors"][0]["field"] == field
    assert client.get("/api/v1/bot/engines", headers=bearer(bot["token"])).json() == {
        "llm": None,
        "webhook": None,
    }


def test_an_inbox_cannot_choose_an_engine_the_workspace_has_not_configured(client, bot, other_token):  # noqa: F811
    path = f"/api/v1/inboxes/{bot['inbox']['id']}/bot"
    refused = client.put(path, json={"enabled": True, "engine": "llm"}, headers=bearer(bot["token"]))
    assert refused.status_code == 422 and refused.json()["code"] == "engine_not_configured"
    assert client.get(path, headers=bearer(bot["token"])).json()["engine"] == "knowledge_base"

    assert put_engines(client, other_token, LLM).status_code == 200
    assert client.get("/api/v1/bot/engines", headers=bearer(bot["token"])).json()["llm"] is None
    refused = client.put(path, json={"enabled": True, "engine": "llm"}, headers=bearer(bot["token"]))
    assert refused.status_code == 422


GIFT_CARDS = {
    "title": "Gift cards",
    "questions": ["Do you sell gift cards?", "你们有礼品卡吗"],
    "answer": "Yes: gift cards from 10 to 500 euros, sold on the website.",
    "locale": "en",
    "tags": [],
}


def test_business_synonyms_take_effect_at_once_on_every_process(client, settings, demo, other_token):  # noqa: F811
    token = demo["api_token"]
    gift_cards = create(client, token, GIFT_CARDS)
    assert client.get("/api/v1/kb/synonyms", headers=bearer(token)).json() == {"groups": []}
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as other_process:
        assert ask(other_process, token, "do you sell vouchers")["decision"] != "answer"

        saved = client.put(
            "/api/v1/kb/synonyms",
            json={"groups": [["gift card", " voucher ", "voucher", "购物券"]]},
            headers=bearer(token),
        )
        assert saved.status_code == 200
        assert saved.json() == {"groups": [["gift card", "voucher", "购物券"]]}
        assert ask(other_process, token, "do you sell vouchers")["article_id"] == gift_cards["id"]
        assert ask(other_process, token, "do you sell vouchers")["decision"] == "answer"

        client.put("/api/v1/kb/synonyms", json={"groups": []}, headers=bearer(token))
        assert ask(other_process, token, "do you sell vouchers")["decision"] != "answer"
    assert client.get("/api/v1/kb/synonyms", headers=bearer(other_token)).json() == {"groups": []}


@pytest.mark.parametrize(
    ("groups", "status", "field"),
    [
        ([["only one"]], 400, None),
        ([["same", " same "]], 422, "groups[0]"),
        ([["ok", "fine"], ["x", "\u0000"]], 422, "groups[1]"),
        ([["x" * 101, "y"]], 400, None),
        ("refund", 400, None),
    ],
)
def test_bad_synonym_groups_are_refused_and_change_nothing(client, demo, groups, status, field):
    token = demo["api_token"]
    client.put("/api/v1/kb/synonyms", json={"groups": [["refund", "money back"]]}, headers=bearer(token))
    refused = client.put("/api/v1/kb/synonyms", json={"groups": groups}, headers=bearer(token))
    assert refused.status_code == status, refused.text
    assert_error_shape(refused)
    if field:
        assert refused.json()["errors"][0]["field"] == field
    assert client.get("/api/v1/kb/synonyms", headers=bearer(token)).json() == {
        "groups": [["refund", "money back"]]
    }
