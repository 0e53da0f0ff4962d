"""Email through the running app, against a real Dovecot (IMAP) and aiosmtpd (SMTP) on loopback.

Inboxes are created by the API, mail is delivered into Dovecot as a mail server would, and what the hub makes of it
is read back through the API; replies are read back from aiosmtpd header by header.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from ipaddress import ip_network
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlmodel import col, func, select

from connectors.email.polling import MailboxCursor
from connectors.email.testing import DovecotServer, SmtpRecorder, TestCertificate
from hub.app import create_app
from hub.models import Conversation, Message, OutboxEvent, PollState
from hub.runtime import Hub
from hub.settings import Settings
from tests.conftest import assert_error_shape, bearer, run, wait_for
from tests.connectors.email.conftest import MAILBOX_PASSWORD, Mailbox, fixture_mail

WAIT = 30.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Mail servers on loopback are reached because the operator opened 127.0.0.0/8; pollers start within 0.2 s."""
    return settings.model_copy(
        update={"allowed_private_networks": (ip_network("127.0.0.0/8"),), "poller_scan_seconds": 0.2}
    )


@pytest.fixture
def hub_client(settings: Settings, demo: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as test_client:
        yield test_client


def deliver(mailbox: Mailbox, mail: bytes) -> None:
    asyncio.run(mailbox.deliver(mail))


def create_inbox(
    client: TestClient, demo: dict[str, Any], settings: dict[str, Any], **body: Any
) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/inboxes",
        json={"kind": "email", "name": "Support mail", "settings": settings, **body},
        headers=bearer(demo["api_token"]),
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def inbox(client: TestClient, demo: dict[str, Any], inbox_id: str) -> dict[str, Any]:
    return client.get(f"/api/v1/inboxes/{inbox_id}", headers=bearer(demo["api_token"])).json()


def conversations(client: TestClient, demo: dict[str, Any], inbox_id: str) -> list[dict[str, Any]]:
    answer = client.get(
        "/api/v1/conversations",
        params={"inbox_id": inbox_id, "limit": 100},
        headers=bearer(demo["api_token"]),
    )
    return answer.json()["items"]


def messages(client: TestClient, demo: dict[str, Any], conversation_id: str) -> list[dict[str, Any]]:
    answer = client.get(
        f"/api/v1/conversations/{conversation_id}/messages",
        params={"limit": 500},
        headers=bearer(demo["api_token"]),
    )
    return answer.json()["items"]


def all_messages(client: TestClient, demo: dict[str, Any], inbox_id: str) -> list[dict[str, Any]]:
    return [
        message
        for conversation in conversations(client, demo, inbox_id)
        for message in messages(client, demo, conversation["id"])
    ]


def reply(client: TestClient, demo: dict[str, Any], conversation_id: str, text: str) -> dict[str, Any]:
    answer = client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": text},
        headers=bearer(demo["api_token"]),
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def message_status(
    client: TestClient, demo: dict[str, Any], conversation_id: str, message_id: str
) -> dict[str, Any]:
    return next(item for item in messages(client, demo, conversation_id) if item["id"] == message_id)


def sent_mail(smtp: SmtpRecorder, index: int = 0) -> EmailMessage:
    wait_for(lambda: len(smtp.received) > index, timeout=WAIT)
    parsed = email.message_from_bytes(smtp.received[index].data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def mail(sender: str, subject: str, message_id: str, text: str, **headers: str) -> bytes:
    lines = [
        f"From: {sender}",
        "To: support@shop.example",
        f"Subject: {subject}",
        f"Message-ID: <{message_id}>",
    ]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    lines += ["Date: Mon, 4 Nov 2024 10:00:00 +0000", "Content-Type: text/plain; charset=utf-8"]
    return ("\r\n".join(lines) + "\r\n\r\n" + text + "\r\n").encode()


def test_a_mailbox_is_read_threaded_and_answered(
    hub_client: TestClient, demo: dict[str, Any], mailbox: Mailbox, smtp: SmtpRecorder
) -> None:
    created = create_inbox(hub_client, demo, mailbox.settings(smtp))
    assert created["settings"]["password"] == "********"
    assert MAILBOX_PASSWORD not in hub_client.get("/api/v1/inboxes", headers=bearer(demo["api_token"])).text
    assert created["status"] in ("connecting", "active")
    inbox_id = created["id"]
    wait_for(lambda: inbox(hub_client, demo, inbox_id)["status"] == "active", timeout=WAIT)

    deliver(mailbox, fixture_mail("plain_text.eml"))
    first = wait_for(lambda: conversations(hub_client, demo, inbox_id), timeout=WAIT)[0]
    received = messages(hub_client, demo, first["id"])[0]
    assert received["direction"] == "in" and "order 1042" in received["text"]
    assert received["metadata"]["cc"] == ["wang.fang@example.com", "orders@example.com"]
    assert received["metadata"]["subject"] == "Where is my order 1042?"
    customer = hub_client.get(
        f"/api/v1/conversations/{first['id']}", headers=bearer(demo["api_token"])
    ).json()
    assert customer["identity"]["kind"] == "email" and customer["identity"]["value"] == "li.wei@example.com"
    assert customer["reply_subject"] == "Where is my order 1042?", "the inbox shows the subject replies keep"
    assert customer["reply_format"] == {
        "subject": "Re: Where is my order 1042?",
        "billed_per_sms_segment": False,
    }

    sent = reply(hub_client, demo, first["id"], "It ships today.\n\nSee https://shop.example/track")
    out = sent_mail(smtp)
    assert out["To"] == "li.wei@example.com"
    assert out["From"].addresses[0].addr_spec == "support@shop.example"
    assert out["Subject"] == customer["reply_format"]["subject"], (
        "the composer showed the subject that was sent"
    )
    assert out["In-Reply-To"] == "<CAF1042.order@mail.example.com>"
    assert out["References"] == "<CAF1042.order@mail.example.com>"
    our_id = out["Message-ID"]
    assert our_id == f"<omnihub.{sent['id']}@shop.example>"
    assert out["Auto-Submitted"] is None
    body = out.get_body(("plain",))
    html = out.get_body(("html",))
    assert body is not None and "It ships today." in body.get_content()
    assert html is not None and 'href="https://shop.example/track"' in html.get_content()
    wait_for(
        lambda: message_status(hub_client, demo, first["id"], sent["id"])["status"] == "sent", timeout=WAIT
    )

    # The mailbox sees our own reply (a copy filed in the inbox): it is not imported again.
    deliver(mailbox, smtp.received[0].data)
    # The customer answers our reply: it joins the conversation, with the whole thread in References.
    deliver(
        mailbox,
        mail(
            "Li Wei <li.wei@example.com>",
            "Re: Where is my order 1042?",
            "CAF1042.thanks@mail.example.com",
            "Thanks!",
            In_Reply_To=our_id,
            References=f"<CAF1042.order@mail.example.com> {our_id}",
        ),
    )
    thread = wait_for(lambda: len(got := messages(hub_client, demo, first["id"])) == 3 and got, timeout=WAIT)
    assert [item["direction"] for item in thread] == ["in", "out", "in"]
    assert thread[2]["text"] == "Thanks!"
    reply(hub_client, demo, first["id"], "You are welcome.")
    second = sent_mail(smtp, 1)
    assert second["In-Reply-To"] == "<CAF1042.thanks@mail.example.com>"
    assert (
        second["References"] == f"<CAF1042.order@mail.example.com> {our_id} <CAF1042.thanks@mail.example.com>"
    )
    assert second["Subject"] == "Re: Where is my order 1042?"

    # A new thread from the same customer opens a conversation of its own; the same mail twice is stored once.
    fresh = mail(
        "li.wei@example.com", "Another question", "CAF2000.new@mail.example.com", "Do you ship to Macau?"
    )
    deliver(mailbox, fresh)
    deliver(mailbox, fresh)
    deliver(mailbox, mail("li.wei@example.com", "Last one", "CAF3000.last@mail.example.com", "Sentinel"))
    wait_for(lambda: len(conversations(hub_client, demo, inbox_id)) == 3, timeout=WAIT)
    texts = [item["text"] for item in all_messages(hub_client, demo, inbox_id) if item["direction"] == "in"]
    assert texts.count("Do you ship to Macau?") == 1 and len(texts) == 4


def test_bad_settings_and_refused_credentials_name_the_field(
    hub_client: TestClient, demo: dict[str, Any], mailbox: Mailbox, smtp: SmtpRecorder
) -> None:
    def refused(settings: dict[str, Any]) -> dict[str, Any]:
        answer = hub_client.post(
            "/api/v1/inboxes",
            json={"kind": "email", "name": "Support mail", "settings": settings},
            headers=bearer(demo["api_token"]),
        )
        assert answer.status_code in (422, 502), answer.text
        assert_error_shape(answer)
        return answer.json() | {"status": answer.status_code}

    wrong_password = refused(mailbox.settings(smtp, password="wrong-secret"))
    assert wrong_password["code"] == "credentials_refused"
    assert wrong_password["errors"][0]["field"] == "settings.password"
    assert refused(mailbox.settings(smtp, folder="No Such Folder"))["errors"][0]["field"] == "settings.folder"
    plain_far_away = refused(mailbox.settings(smtp, imap_host="imap.example.com"))
    assert plain_far_away["code"] == "invalid_settings"
    assert plain_far_away["errors"][0]["field"] == "settings.imap_security"
    private = refused(mailbox.settings(smtp, imap_host="10.1.2.3", imap_security="ssl"))
    assert (
        private["errors"][0]["field"] == "settings.imap_host"
        and "private network" in private["errors"][0]["message"]
    )
    down = refused(mailbox.settings(smtp, smtp_port=9))
    assert down["status"] == 502 and down["code"] == "channel_unavailable"
    names = [
        item["name"] for item in hub_client.get("/api/v1/inboxes", headers=bearer(demo["api_token"])).json()
    ]
    assert "Support mail" not in names


def test_a_bounce_fails_the_reply_and_an_auto_reply_wakes_no_bot(
    hub_client: TestClient, demo: dict[str, Any], mailbox: Mailbox, smtp: SmtpRecorder, settings: Settings
) -> None:
    token = bearer(demo["api_token"])
    article = {"title": "Shipping", "questions": ["How long does shipping take?"], "answer": "Three days."}
    assert hub_client.post("/api/v1/kb/articles", json=article, headers=token).status_code == 201
    inbox_id = create_inbox(hub_client, demo, mailbox.settings(smtp), bot_enabled=True)["id"]

    deliver(
        mailbox, mail("ana@example.com", "Shipping", "ship-1@example.com", "How long does shipping take?")
    )
    conversation = wait_for(lambda: conversations(hub_client, demo, inbox_id), timeout=WAIT)[0]
    bot_mail = sent_mail(smtp)
    assert "Three days." in str(bot_mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert bot_mail["Auto-Submitted"] == "auto-replied"
    bot_answer = next(
        item for item in messages(hub_client, demo, conversation["id"]) if item["direction"] == "out"
    )
    assert bot_answer["sender"] == "bot"

    # An out-of-office answering the bot, asking the same question: stored, marked, and answered by nobody.
    deliver(
        mailbox,
        mail(
            "ana@example.com",
            "Automatic reply: Shipping",
            "oof-ship-1@example.com",
            "How long does shipping take?",
            In_Reply_To=bot_mail["Message-ID"],
            Auto_Submitted="auto-replied",
        ),
    )
    automatic = wait_for(
        lambda: next(
            (
                item
                for item in messages(hub_client, demo, conversation["id"])
                if item["text"].startswith("How") and item["metadata"].get("automated")
            ),
            None,
        ),
        timeout=WAIT,
    )
    assert automatic["metadata"]["automated"] == "auto_reply"

    # The bounce of the bot's mail marks it failed with the server's reason; it joins the same conversation.
    bounce = fixture_mail("dsn_bounce.eml").replace(
        b"<omnihub.msg-42@shop.example>", bot_mail["Message-ID"].encode()
    )
    deliver(mailbox, bounce)
    failed = wait_for(
        lambda: (
            (item := message_status(hub_client, demo, conversation["id"], bot_answer["id"]))["status"]
            == "failed"
            and item
        ),
        timeout=WAIT,
    )
    assert "550 5.1.1" in failed["error"] and "nobody@example.com" in failed["error"]
    health = hub_client.get(f"/api/v1/inboxes/{inbox_id}/health", headers=token).json()
    assert health["last_failure"]["message_id"] == bot_answer["id"] and health["failed_replies_24h"] == 1

    async def failure_events(hub: Hub) -> list[str]:
        async with hub.database.session() as session:
            rows = await session.exec(
                select(OutboxEvent).where(
                    OutboxEvent.event_type == "message.failed", OutboxEvent.subject_id == bot_answer["id"]
                )
            )
            return [row.payload["reason"] for row in rows.all()]

    assert run(failure_events, settings) == [failed["error"]]
    assert len(conversations(hub_client, demo, inbox_id)) == 1
    # Neither the auto-reply nor the bounce made the bot (or anyone) write again.
    assert len(smtp.received) == 1
    outgoing = [item for item in messages(hub_client, demo, conversation["id"]) if item["direction"] == "out"]
    assert len(outgoing) == 1


def test_a_reply_the_server_refuses_fails_with_its_words(
    hub_client: TestClient, demo: dict[str, Any], mailbox: Mailbox, smtp: SmtpRecorder
) -> None:
    inbox_id = create_inbox(hub_client, demo, mailbox.settings(smtp))["id"]
    deliver(mailbox, mail("bo@example.com", "Hello", "hello-1@example.com", "Hi"))
    conversation = wait_for(lambda: conversations(hub_client, demo, inbox_id), timeout=WAIT)[0]
    smtp.reply_to_data = "554 5.7.1 Message rejected as spam"
    sent = reply(hub_client, demo, conversation["id"], "Buy now")
    failed = wait_for(
        lambda: (
            (item := message_status(hub_client, demo, conversation["id"], sent["id"]))["status"] == "failed"
            and item
        ),
        timeout=WAIT,
    )
    assert "554 5.7.1 Message rejected as spam" in failed["error"] and failed["delivery_attempts"] == 1


def test_a_broken_mailbox_shows_on_its_inbox_and_stops_no_other(
    hub_client: TestClient,
    demo: dict[str, Any],
    mailbox: Mailbox,
    smtp: SmtpRecorder,
    certificate: TestCertificate,
) -> None:
    other_server = DovecotServer.start(certificate, {mailbox.username: mailbox.password})
    try:
        other = Mailbox(other_server, mailbox.username, mailbox.password)
        broken_id = create_inbox(
            hub_client, demo, other.settings(smtp, poll_interval_seconds=5), name="Other"
        )["id"]
        working_id = create_inbox(hub_client, demo, mailbox.settings(smtp))["id"]
        wait_for(lambda: inbox(hub_client, demo, broken_id)["status"] == "active", timeout=WAIT)
        other_server.stop()
        broken = wait_for(
            lambda: (found := inbox(hub_client, demo, broken_id))["status"] == "retrying" and found,
            timeout=WAIT,
        )
        assert "127.0.0.1" in broken["status_reason"] and broken["status_retry_at"]
        deliver(mailbox, mail("cy@example.com", "Still here", "still-1@example.com", "Hello?"))
        assert wait_for(lambda: conversations(hub_client, demo, working_id), timeout=WAIT)
        assert inbox(hub_client, demo, working_id)["status"] == "active"
    finally:
        other_server.stop()


def test_a_mailbox_refusing_the_settings_fails_its_inbox_naming_the_setting_until_it_is_corrected(
    hub_client: TestClient, demo: dict[str, Any], mailbox: Mailbox, smtp: SmtpRecorder
) -> None:
    """The folder read is deleted after the inbox was created: the inbox fails, naming settings.folder; the admin
    points it at another folder and it reads again."""
    asyncio.run(mailbox.dovecot.create_folder(mailbox.username, mailbox.password, "Orders"))
    inbox_id = create_inbox(
        hub_client, demo, mailbox.settings(smtp, folder="Orders", poll_interval_seconds=5)
    )["id"]
    wait_for(lambda: inbox(hub_client, demo, inbox_id)["status"] == "active", timeout=WAIT)
    asyncio.run(mailbox.dovecot.delete_folder(mailbox.username, mailbox.password, "Orders"))
    failed = wait_for(
        lambda: (found := inbox(hub_client, demo, inbox_id))["status"] == "failed" and found, timeout=WAIT
    )
    assert "Orders" in failed["status_reason"] and "settings.folder" in failed["status_reason"]
    assert failed.get("status_retry_at") is None
    corrected = hub_client.patch(
        f"/api/v1/inboxes/{inbox_id}",
        json={"settings": {"folder": "INBOX"}},
        headers=bearer(demo["api_token"]),
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["settings"]["password"] == "********", "the password left out is kept"
    wait_for(lambda: inbox(hub_client, demo, inbox_id)["status"] == "active", timeout=WAIT)
    deliver(mailbox, mail("dee@example.com", "Back again", "back-1@example.com", "Can you read me now?"))
    assert wait_for(lambda: conversations(hub_client, demo, inbox_id), timeout=WAIT)


def test_a_mail_server_on_loopback_is_refused_unless_the_operator_opens_it(
    settings: Settings, demo: dict[str, Any], mailbox: Mailbox, smtp: SmtpRecorder
) -> None:
    closed = settings.model_copy(update={"allowed_private_networks": ()})
    with TestClient(app=create_app(closed), base_url="http://testserver.local") as client:
        answer = client.post(
            "/api/v1/inboxes",
            json={"kind": "email", "name": "Support mail", "settings": mailbox.settings(smtp)},
            headers=bearer(demo["api_token"]),
        )
    assert answer.status_code == 422, answer.text
    assert_error_shape(answer)
    assert {error["field"] for error in answer.json()["errors"]} == {
        "settings.imap_host",
        "settings.smtp_host",
    }
    assert "loopback" in answer.json()["errors"][0]["message"]


async def saved_position(hub: Hub, inbox_id: str) -> tuple[MailboxCursor | None, int]:
    """The inbox's durable mailbox position and how many mails (one message each) it has stored."""
    async with hub.database.session() as session:
        state = await session.get(PollState, inbox_id)
        stored = (
            await session.exec(
                select(func.count())
                .select_from(Message)
                .join(Conversation, col(Message.conversation_id) == Conversation.id)
                .where(Conversation.inbox_id == inbox_id)
            )
        ).one()
    cursor = state.cursor if state is not None else None
    return (MailboxCursor.decode(cursor) if cursor is not None else None), stored


def test_restarted_mid_import_nothing_is_lost_or_stored_twice(
    settings: Settings, demo: dict[str, Any], mailbox: Mailbox, smtp: SmtpRecorder
) -> None:
    total = 60
    for number in range(total):
        deliver(
            mailbox,
            mail(
                f"customer{number}@example.com",
                f"Order {number}",
                f"order-{number}@example.com",
                f"Mail {number}",
            ),
        )
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as first:
        inbox_id = create_inbox(first, demo, mailbox.settings(smtp, batch_size=1))["id"]
        wait_for(lambda: len(conversations(first, demo, inbox_id)) >= 3, timeout=WAIT)
    saved, imported = run(lambda hub: saved_position(hub, inbox_id), settings)
    assert saved is not None and imported - 1 <= saved.last_uid <= imported, (
        "the stopped process's durable position must sit at most one batch behind what it stored, never ahead"
    )
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as second:
        before = len(conversations(second, demo, inbox_id))
        assert before < total, "the first process imported everything before it stopped; nothing was tested"
        wait_for(lambda: len(conversations(second, demo, inbox_id)) == total, timeout=WAIT * 4)
        texts = [item["text"] for item in all_messages(second, demo, inbox_id)]
    assert sorted(texts) == sorted(f"Mail {number}" for number in range(total))


def test_a_new_thread_opens_a_ticket_and_the_agents_reply_is_its_first_response(
    hub_client: TestClient, demo: dict[str, Any], mailbox: Mailbox, smtp: SmtpRecorder
) -> None:
    token = bearer(demo["api_token"])
    inbox_id = create_inbox(hub_client, demo, mailbox.settings(smtp))["id"]
    targets = {"normal": {"first_response_minutes": 60}}
    assert hub_client.put(f"/api/v1/inboxes/{inbox_id}/sla", json=targets, headers=token).status_code == 200

    def tickets() -> list[dict[str, Any]]:
        return hub_client.get("/api/v1/tickets", params={"inbox_id": inbox_id}, headers=token).json()["items"]

    deliver(
        mailbox, mail("li.wei@example.com", "退货 order 1042", "t-1@mail.example.com", "Please take it back")
    )
    [ticket] = wait_for(tickets, timeout=WAIT)
    [conversation] = conversations(hub_client, demo, inbox_id)
    assert (
        ticket["subject"] == "退货 order 1042" and ticket["source"] == "email" and ticket["status"] == "new"
    )
    assert ticket["conversation_id"] == conversation["id"] and ticket["description"] == "Please take it back"
    assert ticket["sla"]["first_response_due_at"] is not None

    sent = reply(hub_client, demo, conversation["id"], "We will collect it tomorrow.")
    answered = hub_client.get(f"/api/v1/tickets/{ticket['id']}", headers=token).json()
    assert answered["status"] == "open" and answered["sla"]["first_responded_at"] == sent["created_at"]
    our_id = sent_mail(smtp)["Message-ID"]

    # The customer's answer joins the thread and its ticket; an auto-reply starting a thread opens none.
    deliver(
        mailbox,
        mail(
            "li.wei@example.com", "Re: 退货 order 1042", "t-2@mail.example.com", "Thanks", In_Reply_To=our_id
        ),
    )
    deliver(
        mailbox,
        mail(
            "away@example.com",
            "Out of office",
            "oof-1@example.com",
            "Back Monday",
            Auto_Submitted="auto-replied",
        ),
    )
    deliver(mailbox, mail("ana@example.com", "Sentinel", "t-3@mail.example.com", "Last"))
    wait_for(lambda: len(conversations(hub_client, demo, inbox_id)) == 3, timeout=WAIT)
    assert sorted(item["subject"] for item in wait_for(lambda: len(tickets()) == 2 and tickets())) == [
        "Sentinel",
        "退货 order 1042",
    ]


def test_an_inbox_that_opens_no_tickets_for_new_threads_opens_none(
    hub_client: TestClient, demo: dict[str, Any], mailbox: Mailbox, smtp: SmtpRecorder
) -> None:
    inbox_id = create_inbox(hub_client, demo, mailbox.settings(smtp, open_ticket_on_new_thread=False))["id"]
    deliver(mailbox, mail("li.wei@example.com", "Question", "q-1@mail.example.com", "Hello"))
    wait_for(lambda: conversations(hub_client, demo, inbox_id), timeout=WAIT)
    assert hub_client.get("/api/v1/tickets", headers=bearer(demo["api_token"])).json()["items"] == []


def test_the_conversation_list_finds_a_mail_by_its_subject(
    hub_client: TestClient, demo: dict[str, Any], mailbox: Mailbox, smtp: SmtpRecorder
) -> None:
    inbox_id = create_inbox(hub_client, demo, mailbox.settings(smtp))["id"]
    deliver(mailbox, mail("li.wei@example.com", "Warranty claim for kettle", "w1@mail.example.com", "Hello."))
    conversation = wait_for(lambda: conversations(hub_client, demo, inbox_id), timeout=WAIT)[0]

    def found(query: str) -> list[str]:
        answer = hub_client.get(
            "/api/v1/conversations",
            params={"q": query, "channel": "email"},
            headers=bearer(demo["api_token"]),
        )
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert found("WARRANTY claim") == [conversation["id"]]
    assert found("toaster") == []
