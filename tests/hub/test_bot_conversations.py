"""The bot in web chat conversations, through the widget endpoints and the agent API: it answers, offers numbered
suggestions, abstains, hands over with a summary the agent sees, and keeps quiet once an agent has taken over."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from hub import bot as hub_bot
from hub import metrics
from hub.app import create_app
from tests.conftest import assert_error_shape, bearer, inbox_of, wait_for
from tests.hub.test_knowledge_base_api import REFUND_ZH, RETURNS, SHIPPING, create
from tests.hub.test_wechat_channel import API as WECHAT_API
from tests.hub.test_wechat_channel import (  # noqa: F401  (wechat_api is a fixture)
    calls_to,
    conversations,
    deliveries,
    messages,
    oa_text,
    post,
    wechat_api,
)

GREETING = "Hello! I'm the shop's assistant."


@pytest.fixture
def bot(client, demo) -> dict[str, Any]:
    """The demo web chat inbox with its bot on, and a few articles."""
    return bot_on(client, demo)


def bot_on(client, demo) -> dict[str, Any]:
    token, inbox = web_chat_bot_on(client, demo)
    articles = {
        "returns": create(client, token, RETURNS),
        "shipping": create(client, token, SHIPPING),
        "refund": create(client, token, REFUND_ZH),
        "shoes": create(
            client,
            token,
            {
                **RETURNS,
                "title": "Exchanging shoes",
                "questions": ["How do I exchange shoes?"],
                "answer": "Shoes: S",
            },
        ),
        "jackets": create(
            client,
            token,
            {
                **RETURNS,
                "title": "Exchanging jackets",
                "questions": ["How do I exchange a jacket?"],
                "answer": "Jackets: J",
            },
        ),
    }
    return {"token": token, "widget": inbox["widget_token"], "inbox": inbox, "articles": articles}


def web_chat_bot_on(client, demo) -> tuple[str, dict[str, Any]]:
    """The demo's API token and web chat inbox, its bot turned on with `GREETING`."""
    token = demo["api_token"]
    inbox = inbox_of(demo, "webchat")
    answer = client.put(
        f"/api/v1/inboxes/{inbox['id']}/bot",
        json={"enabled": True, "greeting": GREETING},
        headers=bearer(token),
    )
    assert answer.status_code == 200, answer.text
    return token, inbox


class Visitor:
    def __init__(self, client, widget: str) -> None:
        self.client, self.widget, self.token = client, widget, None
        self.sent = 0

    def say(self, text: str) -> dict[str, Any]:
        self.sent += 1
        headers = bearer(self.token) if self.token else {}
        answer = self.client.post(
            f"/widget/{self.widget}/messages",
            json={"text": text, "client_id": f"c{self.sent}"},
            headers=headers,
        )
        assert answer.status_code == 201, answer.text
        self.token = self.token or answer.json()["visitor_token"]
        return answer.json()

    def history(self) -> list[dict[str, Any]]:
        return self.client.get(f"/widget/{self.widget}/messages", headers=bearer(self.token)).json()["items"]

    def bot_replies(self, count: int) -> list[str]:
        """Wait for the bot's `count`-th reply; its replies so far."""
        return wait_for(
            lambda: (
                (texts := [m["text"] for m in self.history() if m["sender"] == "bot"])
                and len(texts) >= count
                and texts
            )
        )


def conversation_of(client, token: str, message_id: str) -> str:
    def find() -> str | None:
        for conversation in client.get("/api/v1/conversations", headers=bearer(token)).json()["items"]:
            messages = client.get(
                f"/api/v1/conversations/{conversation['id']}/messages", headers=bearer(token)
            )
            if any(message["id"] == message_id for message in messages.json()["items"]):
                return conversation["id"]
        return None

    return wait_for(find)


def settled(client) -> bool:
    """No job waiting or running (the bot answers inside the job that stores the customer's message)."""
    text = client.get("/metrics").text
    return re.search(r'^omnihub_queue_depth\{queue="broker_jobs"\} 0\.0$', text, re.MULTILINE) is not None


def bot_metric(client, name: str, label: str = "") -> float:
    pattern = rf"^omnihub_bot_{name}_total{re.escape(label)} ([0-9.]+)$"
    found = re.search(pattern, client.get("/metrics").text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_question_is_answered_after_the_greeting_and_marked_as_the_bots(client, bot):
    visitor = Visitor(client, bot["widget"])
    sent = visitor.say("How can I return an item?")
    assert visitor.bot_replies(2) == [GREETING, RETURNS["answer"]]

    conversation_id = conversation_of(client, bot["token"], sent["id"])
    messages = client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=bearer(bot["token"])
    ).json()
    assert [(m["direction"], m["sender"], m["text"]) for m in messages["items"]] == [
        ("in", "contact", "How can I return an item?"),
        ("out", "bot", GREETING),
        ("out", "bot", RETURNS["answer"]),
    ]
    conversation = client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(bot["token"])).json()
    assert conversation["status"] == "bot" and conversation["assignee_id"] is None

    visitor.say("退款要多久才到账？")
    assert visitor.bot_replies(3)[-1] == REFUND_ZH["answer"]
    assert bot_metric(client, "deflections") >= 2


def test_a_worker_stopping_right_after_the_turn_leaves_its_replies_to_the_sweeper(
    settings, demo, monkeypatch
):
    """The bot's replies are written in its turn's transaction, claimed for the turn's job to deliver: when the job
    stops right after that commit, the turn is recorded and so are its replies, which the sweeper delivers."""
    fast = settings.model_copy(update={"sweep_interval_seconds": 0.2, "stuck_after_seconds": 0.3})
    stopped = []

    class StopsTheJob:
        def labels(self, decision: str) -> None:
            stopped.append(decision)
            raise RuntimeError("the worker stopped")

    with TestClient(app=create_app(fast), base_url="http://testserver.local") as client:
        setup = bot_on(client, demo)
        monkeypatch.setattr(metrics, "BOT_REPLIES", StopsTheJob())
        visitor = Visitor(client, setup["widget"])
        visitor.say("How can I return an item?")
        assert visitor.bot_replies(2) == [GREETING, RETURNS["answer"]]
        assert stopped == ["answer"], "the job did not stop after the turn, so this test proves nothing"


def test_a_message_two_workers_take_at_once_is_answered_once(client, demo, monkeypatch, caplog):
    """Two turns of one message decided side by side (as two workers would) are written together: only one is
    recorded, and only its replies are stored and sent; the other is skipped, not failed on a unique violation."""
    considered = []
    consider = hub_bot._consider

    async def twice(hub, item) -> None:
        considered.append(item.message_id)
        await asyncio.gather(consider(hub, item), consider(hub, item))

    monkeypatch.setattr(hub_bot, "_consider", twice)
    setup = bot_on(client, demo)
    visitor = Visitor(client, setup["widget"])
    sent = visitor.say("How can I return an item?")
    assert visitor.bot_replies(2) == [GREETING, RETURNS["answer"]]
    wait_for(lambda: settled(client))
    assert considered == [sent["id"]]
    conversation_id = conversation_of(client, setup["token"], sent["id"])
    stored = client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=bearer(setup["token"])
    ).json()["items"]
    assert [(m["sender"], m["text"], m["status"]) for m in stored if m["sender"] == "bot"] == [
        ("bot", GREETING, "delivered"),
        ("bot", RETURNS["answer"], "delivered"),
    ]
    assert [m["text"] for m in visitor.history() if m["sender"] == "bot"] == [GREETING, RETURNS["answer"]]
    assert not [record for record in caplog.records if record.getMessage().startswith("bot.failed")]


def test_an_edited_or_disabled_article_is_answered_from_at_once_in_a_conversation(client, bot):
    """The bot answers from the article as stored when the customer asks: a new answer is said at the next question,
    and a disabled article is no longer answered with."""
    visitor = Visitor(client, bot["widget"])
    visitor.say("When will my parcel arrive?")
    assert visitor.bot_replies(2)[-1] == SHIPPING["answer"]

    path = f"/api/v1/kb/articles/{bot['articles']['shipping']['id']}"
    edited = client.patch(path, json={"answer": "Orders arrive tomorrow."}, headers=bearer(bot["token"]))
    assert edited.status_code == 200, edited.text
    visitor.say("When will my parcel arrive?")
    assert visitor.bot_replies(3)[-1] == "Orders arrive tomorrow."

    disabled = client.patch(path, json={"enabled": False}, headers=bearer(bot["token"]))
    assert disabled.status_code == 200, disabled.text
    visitor.say("When will my parcel arrive?")
    assert visitor.bot_replies(4)[-1] not in (SHIPPING["answer"], "Orders arrive tomorrow.")


def test_the_bots_answer_reaches_the_visitors_socket_marked_as_the_bots(client, bot):
    visitor = Visitor(client, bot["widget"])
    visitor.say("hello")
    visitor.bot_replies(2)
    earlier = {message["id"] for message in visitor.history()}
    with client.websocket_connect(f"/widget/{bot['widget']}/ws?visitor_token={visitor.token}") as socket:
        assert socket.receive_json()["type"] == "ready"
        visitor.say("When will my parcel arrive?")
        pushed = None
        while pushed is None:
            frame = socket.receive_json(timeout=10)
            message = frame.get("message", {})
            if (
                frame.get("type") == "message.created"
                and message["sender"] == "bot"
                and message["id"] not in earlier
            ):
                pushed = frame["message"]
    assert pushed["text"] == SHIPPING["answer"]


def test_a_suggestion_is_chosen_by_its_number(client, bot):
    visitor = Visitor(client, bot["widget"])
    visitor.say("how do I exchange")
    suggestions = visitor.bot_replies(2)[-1]
    assert suggestions.startswith("Did you mean:")
    listed = re.findall(r"^(\d)\. (.+)$", suggestions, re.MULTILINE)
    assert {title for _, title in listed} >= {"Exchanging shoes", "Exchanging jackets"}
    number = next(number for number, title in listed if title == "Exchanging jackets")

    visitor.say(f"第{'一二三'[int(number) - 1]}个")
    assert visitor.bot_replies(3)[-1] == "Jackets: J"
    assert bot_metric(client, "replies", '{decision="suggest"}') >= 1


def test_two_abstains_in_a_row_hand_over_with_a_summary(client, bot):
    visitor = Visitor(client, bot["widget"])
    sent = visitor.say("What is the capital of France?")
    assert "could you put it another way" in visitor.bot_replies(2)[-1].lower()
    conversation_id = conversation_of(client, bot["token"], sent["id"])
    assert (
        client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(bot["token"])).json()["status"]
        == "bot"
    )

    visitor.say("Do you repair bicycles?")
    assert "passing you to a colleague" in visitor.bot_replies(3)[-1]
    wait_for(lambda: settled(client))
    conversation = client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(bot["token"])).json()
    assert conversation["status"] in ("queued", "assigned")
    messages = client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=bearer(bot["token"])
    ).json()
    (note,) = [m for m in messages["items"] if m["direction"] == "note"]
    assert note["sender"] == "bot"
    assert "could not answer 2 questions in a row" in note["text"]
    assert "What is the capital of France?" in note["text"] and "Do you repair bicycles?" in note["text"]
    assert bot_metric(client, "handoffs", '{reason="abstained"}') >= 1


def test_asking_for_a_person_in_chinese_hands_over_with_the_summary_visible_to_the_agent(client, bot):
    token = bot["token"]
    with client.websocket_connect(f"/api/v1/agent/ws?token={token}") as agent_socket:
        assert agent_socket.receive_json()["type"] == "ready"
        visitor = Visitor(client, bot["widget"])
        visitor.say("退款要多久？")
        assert visitor.bot_replies(2)[-1] == REFUND_ZH["answer"]
        sent = visitor.say("转人工")
        assert "转接人工客服" in visitor.bot_replies(3)[-1]

        events: list[dict[str, Any]] = []
        while not any(
            e.get("type") == "message.created" and e["message"]["direction"] == "note" for e in events
        ):
            events.append(agent_socket.receive_json(timeout=10))
        while not any(e.get("type") == "conversation.handed_off" for e in events):
            events.append(agent_socket.receive_json(timeout=10))
    note = next(
        e["message"]
        for e in events
        if e.get("type") == "message.created" and e["message"]["direction"] == "note"
    )
    assert note["sender"] == "bot"
    assert "客户要求人工服务" in note["text"]
    assert "退款要多久" in note["text"] and REFUND_ZH["answer"][:10] in note["text"]

    conversation_id = conversation_of(client, token, sent["id"])
    assert client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(token)).json()["status"] in (
        "queued",
        "assigned",
    )
    assert all(m["text"] != note["text"] for m in visitor.history())

    visitor.say("还在吗")
    wait_for(lambda: len(visitor.history()) == 6 and settled(client))
    assert len([m for m in visitor.history() if m["sender"] == "bot"]) == 3
    assert bot_metric(client, "handoffs", '{reason="asked_for_human"}') >= 1


@pytest.mark.parametrize("takes_over", ["assign", "reply"])
def test_the_bot_is_silent_once_an_agent_has_taken_over(client, bot, demo, takes_over):
    token = bot["token"]
    visitor = Visitor(client, bot["widget"])
    sent = visitor.say("How can I return an item?")
    visitor.bot_replies(2)
    conversation_id = conversation_of(client, token, sent["id"])
    if takes_over == "assign":
        agent_id = client.get("/api/v1/me", headers=bearer(token)).json()["agent"]["id"]
        assigned = client.post(
            f"/api/v1/conversations/{conversation_id}/assign",
            json={"agent_id": agent_id},
            headers=bearer(token),
        )
        assert assigned.status_code == 200
    else:
        replied = client.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"text": "Hi, Anna here."},
            headers=bearer(token),
        )
        assert replied.status_code == 201
    wait_for(lambda: settled(client))

    second = visitor.say("When will my parcel arrive?")
    wait_for(lambda: any(m["id"] == second["id"] for m in visitor.history()) and settled(client))
    assert [m["sender"] for m in visitor.history()] == [
        "contact",
        "bot",
        "bot",
        *(["agent"] if takes_over == "reply" else []),
        "contact",
    ]


def test_with_the_bot_off_new_conversations_go_to_people(client, bot):
    token = bot["token"]
    client.put(f"/api/v1/inboxes/{bot['inbox']['id']}/bot", json={"enabled": False}, headers=bearer(token))
    visitor = Visitor(client, bot["widget"])
    sent = visitor.say("How can I return an item?")
    conversation_id = conversation_of(client, token, sent["id"])
    wait_for(lambda: settled(client))
    assert [m["sender"] for m in visitor.history()] == ["contact"]
    assert (
        client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(token)).json()["status"]
        != "bot"
    )


def test_bot_settings_are_validated_and_scoped_to_the_workspace(client, bot):
    token = bot["token"]
    path = f"/api/v1/inboxes/{bot['inbox']['id']}/bot"
    assert client.get(path, headers=bearer(token)).json() == {
        "enabled": True,
        "greeting": GREETING,
        "run_when": "always",
        "handoff_after_abstains": 2,
        "engine": "knowledge_base",
    }
    for body in (
        {"run_when": "sometimes"},
        {"handoff_after_abstains": 0},
        {"greeting": "x" * 1001},
        {"engine": "gpt"},
        {"colour": 1},
    ):
        refused = client.put(path, json=body, headers=bearer(token))
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_request", body
    missing = client.get("/api/v1/inboxes/00000000-0000-7000-8000-000000000000/bot", headers=bearer(token))
    assert missing.status_code == 404 and missing.json()["code"] == "inbox_not_found"


def test_clear_frustration_hands_over_at_once(client, bot):
    visitor = Visitor(client, bot["widget"])
    visitor.say("How can I return an item?")
    visitor.bot_replies(2)
    sent = visitor.say("this is useless, you are not helping at all")
    assert "passing you to a colleague" in visitor.bot_replies(3)[-1]
    conversation_id = conversation_of(client, bot["token"], sent["id"])
    wait_for(lambda: settled(client))
    messages = client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=bearer(bot["token"])
    ).json()
    (note,) = [m for m in messages["items"] if m["direction"] == "note"]
    assert "the customer seemed frustrated" in note["text"]
    assert bot_metric(client, "handoffs", '{reason="frustration"}') >= 1


def test_on_wechat_the_bot_answers_once_per_message_and_hands_over_on_frustration(client, demo, wechat_api):  # noqa: F811
    token = demo["api_token"]
    inbox = inbox_of(demo, "wechat_oa")
    client.put(f"/api/v1/inboxes/{inbox['id']}/bot", json={"enabled": True}, headers=bearer(token))
    create(client, token, REFUND_ZH)

    delivery = deliveries(demo, "wechat_oa").post(oa_text("退款一般要多久到账", 990001))
    assert [post(client, demo, "wechat_oa", delivery).text for _ in range(3)] == ["success"] * 3
    [conversation] = wait_for(lambda: conversations(client, demo))
    wait_for(lambda: calls_to(wechat_api, "/cgi-bin/message/custom/send"))
    wait_for(lambda: settled(client))
    [send] = calls_to(wechat_api, "/cgi-bin/message/custom/send")
    assert json.loads(send.request.content)["text"]["content"] == REFUND_ZH["answer"]

    post(
        client,
        demo,
        "wechat_oa",
        deliveries(demo, "wechat_oa").post(oa_text("什么破机器人，气死我了", 990002)),
    )
    wait_for(lambda: len(calls_to(wechat_api, "/cgi-bin/message/custom/send")) == 2)
    handoff = calls_to(wechat_api, "/cgi-bin/message/custom/send")[-1]
    assert "转接人工客服" in json.loads(handoff.request.content)["text"]["content"]
    wait_for(lambda: settled(client))
    notes = [m for m in messages(client, demo, conversation["id"]) if m["direction"] == "note"]
    assert len(notes) == 1 and "客户似乎不满意" in notes[0]["text"]
    status = client.get(f"/api/v1/conversations/{conversation['id']}", headers=bearer(token)).json()["status"]
    assert status in ("queued", "assigned")


def test_a_bot_reply_whose_send_fails_transiently_is_sent_again_by_a_delivery_job(client, demo, wechat_api):  # noqa: F811
    token = demo["api_token"]
    inbox = inbox_of(demo, "wechat_oa")
    client.put(f"/api/v1/inboxes/{inbox['id']}/bot", json={"enabled": True}, headers=bearer(token))
    create(client, token, REFUND_ZH)
    sends = wechat_api.post(f"{WECHAT_API}/cgi-bin/message/custom/send")
    sends.side_effect = [
        httpx.Response(503),
        httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "msgid": 1002}),
    ]

    post(client, demo, "wechat_oa", deliveries(demo, "wechat_oa").post(oa_text("退款一般要多久到账", 990101)))
    [conversation] = wait_for(lambda: conversations(client, demo))
    reply = wait_for(
        lambda: next(
            (
                m
                for m in messages(client, demo, conversation["id"])
                if m["sender"] == "bot" and m["status"] == "sent"
            ),
            None,
        ),
        timeout=20,
    )
    assert reply["text"] == REFUND_ZH["answer"]
    assert [json.loads(call.request.content)["text"]["content"] for call in sends.calls] == [
        REFUND_ZH["answer"]
    ] * 2


def _run_when(client, bot, run_when: str) -> None:
    answer = client.put(
        f"/api/v1/inboxes/{bot['inbox']['id']}/bot",
        json={"enabled": True, "greeting": GREETING, "run_when": run_when},
        headers=bearer(bot["token"]),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["run_when"] == run_when


def _business_hours(client, bot, weekly: dict[str, list[str]]) -> None:
    answer = client.put(
        f"/api/v1/inboxes/{bot['inbox']['id']}/business_hours",
        json={"time_zone": "UTC", "weekly": weekly},
        headers=bearer(bot["token"]),
    )
    assert answer.status_code == 200, answer.text


def _presence(client, bot, presence: str) -> None:
    answer = client.put("/api/v1/me/presence", json={"presence": presence}, headers=bearer(bot["token"]))
    assert answer.status_code == 200, answer.text


def _left_to_people(client, bot) -> dict[str, Any]:
    """A visitor's question in a conversation the bot does not take: stored, unanswered, waiting for a person."""
    visitor = Visitor(client, bot["widget"])
    sent = visitor.say("How can I return an item?")
    conversation_id = conversation_of(client, bot["token"], sent["id"])
    wait_for(lambda: settled(client))
    assert [m["sender"] for m in visitor.history()] == ["contact"]
    conversation = client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(bot["token"])).json()
    assert conversation["status"] in ("queued", "assigned")
    return conversation


def test_out_of_hours_only_the_bot_is_silent_in_hours_and_answers_when_closed(client, bot):
    everyday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    _business_hours(client, bot, {day: ["00:00-00:00"] for day in everyday})
    _run_when(client, bot, "out_of_hours")
    _left_to_people(client, bot)

    day = everyday[(datetime.now(UTC).weekday() + 3) % 7]
    _business_hours(client, bot, {day: ["00:00-00:01"]})
    visitor = Visitor(client, bot["widget"])
    visitor.say("How can I return an item?")
    assert visitor.bot_replies(2) == [GREETING, RETURNS["answer"]]


def test_no_agent_available_only_the_bot_is_silent_while_an_agent_is_online_and_answers_when_nobody_is(
    client, bot
):
    _run_when(client, bot, "no_agent_available")
    _presence(client, bot, "online")
    conversation = _left_to_people(client, bot)
    assert conversation["status"] == "assigned"

    _presence(client, bot, "offline")
    visitor = Visitor(client, bot["widget"])
    visitor.say("How can I return an item?")
    assert visitor.bot_replies(2) == [GREETING, RETURNS["answer"]]


def test_out_of_hours_without_business_hours_is_refused_and_nothing_changes(client, bot):
    path = f"/api/v1/inboxes/{bot['inbox']['id']}/bot"
    refused = client.put(
        path, json={"enabled": True, "run_when": "out_of_hours"}, headers=bearer(bot["token"])
    )
    assert refused.status_code == 422, refused.text
    assert_error_shape(refused)
    assert refused.json()["code"] == "no_business_hours"
    assert refused.json()["errors"][0]["field"] == "run_when"
    assert client.get(path, headers=bearer(bot["token"])).json()["run_when"] == "always"


def _tickets_of(client, bot, conversation_id: str) -> list[dict[str, Any]]:
    answer = client.get(
        "/api/v1/tickets", params={"conversation_id": conversation_id}, headers=bearer(bot["token"])
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def _asks_for_a_person(client, bot) -> str:
    """A visitor asks the bot, then for a person; answers the conversation's id once the hand-over is done."""
    visitor = Visitor(client, bot["widget"])
    visitor.say("退款要多久？")
    visitor.bot_replies(2)
    sent = visitor.say("转人工")
    visitor.bot_replies(3)
    conversation_id = conversation_of(client, bot["token"], sent["id"])
    wait_for(lambda: settled(client))
    return conversation_id


def test_handing_over_while_nobody_is_available_opens_a_ticket_with_the_summary(client, bot):
    conversation_id = _asks_for_a_person(client, bot)
    [ticket] = wait_for(lambda: _tickets_of(client, bot, conversation_id))
    assert ticket["source"] == "bot_handoff" and ticket["status"] == "new"
    assert ticket["subject"] == "转人工"
    assert "退款要多久" in ticket["summary"] and REFUND_ZH["answer"][:10] in ticket["summary"]
    conversation = client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(bot["token"])).json()
    assert conversation["status"] == "queued", "it still waits for whoever comes online first"


def test_handing_over_while_an_agent_is_online_opens_no_ticket(client, bot):
    _presence(client, bot, "online")
    conversation_id = _asks_for_a_person(client, bot)
    conversation = client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(bot["token"])).json()
    assert conversation["status"] == "assigned"
    assert _tickets_of(client, bot, conversation_id) == []


def test_asking_the_bot_for_a_ticket_opens_one_with_the_summary_and_only_one(client, bot):
    visitor = Visitor(client, bot["widget"])
    visitor.say("退款要多久？")
    visitor.bot_replies(2)
    sent = visitor.say("请帮我提交工单，退款还没到账")
    replies = visitor.bot_replies(3)
    assert replies[-1] == "已为您提交工单，客服会在这里跟进。"
    conversation_id = conversation_of(client, bot["token"], sent["id"])
    [ticket] = wait_for(lambda: _tickets_of(client, bot, conversation_id))
    assert ticket["source"] == "bot_request" and ticket["status"] == "new"
    assert ticket["subject"] == "请帮我提交工单，退款还没到账"
    assert "退款要多久" in ticket["summary"]
    visitor.say("Please open a ticket again")
    assert visitor.bot_replies(4)[-1] == (
        "A ticket about this conversation is already open; a colleague will follow up here."
    )
    wait_for(lambda: settled(client))
    assert len(_tickets_of(client, bot, conversation_id)) == 1
    conversation = client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(bot["token"])).json()
    assert conversation["status"] == "bot", "the bot goes on answering while the ticket waits for a person"
