"""What the agent inbox shows of a conversation, in headless Chromium, read on screen as an agent reads it: the bot's
messages marked as the bot's in the timeline; an email conversation's composer naming the subject and the
recipient its reply then carries (the mail read back from the SMTP server); the list filtered by team, live; and the
customer panel with the customer's attributes, VIP level, tags and other conversations (one click opens them).

The hub, its two signed-in agents and its team come from the inbox actions' fixtures; the mail servers are a real
Dovecot (IMAP) and aiosmtpd (SMTP) on loopback."""

from __future__ import annotations

import asyncio
import email
import email.policy
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

import httpx
import pytest

from connectors.email.testing import (
    DovecotServer,
    SmtpRecorder,
    loopback_settings,
    mail_servers,
)
from tests.conftest import bearer, inbox_of, wait_for
from tests.e2e.test_browser_inbox_actions import (  # skips with the widget's module when Chromium is missing
    Inboxes,
    agents,  # noqa: F401 (a fixture)
    hub_server,  # noqa: F401 (a fixture)
    inboxes,  # noqa: F401 (a fixture)
    new_conversation,
    open_conversation,
    row_of,
    stored,
)
from tests.e2e.test_browser_widget import (
    UI_TIMEOUT_MS,
    browser,  # noqa: F401 (a fixture)
    expect,
)

pytestmark = pytest.mark.e2e

MAILBOX, MAILBOX_PASSWORD = "support@shop.example", "imap-secret"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[DovecotServer, SmtpRecorder]]:
    with mail_servers(MAILBOX, MAILBOX_PASSWORD) as running:
        yield running


def test_the_bots_messages_are_marked_as_the_bots_and_an_agents_reply_is_not(agents: Inboxes) -> None:  # noqa: F811
    hub, admin = agents.hub, agents.admin.page
    created = hub.api.post(
        "/api/v1/inboxes",
        json={"kind": "webchat", "name": "Chat with the bot", "settings": {}, "bot_enabled": True},
    )
    assert created.status_code == 201, created.text
    inbox = created.json()
    greeting = "Hello! I am the shop's assistant."
    bot = hub.api.put(f"/api/v1/inboxes/{inbox['id']}/bot", json={"enabled": True, "greeting": greeting})
    assert bot.status_code == 200, bot.text
    answer = f"Return any item within 30 days ({uuid.uuid4().hex[:6]})."
    article = hub.api.post(
        "/api/v1/kb/articles",
        json={
            "title": "Returns",
            "questions": ["How do I return an item?"],
            "answer": answer,
            "locale": "en",
        },
    )
    assert article.status_code == 201, article.text

    question = "How do I return an item?"
    posted = httpx.post(
        f"{hub.url}/widget/{inbox['widget_token']}/messages",
        json={"text": question, "client_id": uuid.uuid4().hex},
    )
    assert posted.status_code == 201, posted.text
    conversation = wait_for(
        lambda: next(
            (
                found
                for found in hub.api.get("/api/v1/conversations", params={"inbox_id": inbox["id"]}).json()[
                    "items"
                ]
                if [message["sender"] for message in hub.messages(found["id"])] == ["contact", "bot", "bot"]
            ),
            None,
        ),
        timeout=15,
    )
    open_conversation(admin, conversation, question)
    timeline = admin.locator("#messages .message")
    expect(timeline.locator(".message-text")).to_have_text(
        [question, greeting, answer], timeout=UI_TIMEOUT_MS
    )
    expect(timeline.nth(0).locator(".bot-mark")).to_have_count(0)
    for index in (1, 2):
        expect(timeline.nth(index).locator(".message-meta .bot-mark")).to_have_text("BOT")
        expect(timeline.nth(index).locator(".message-meta")).to_contain_text("Bot")

    admin.get_by_role("textbox", name="Reply").fill("A person here: I can help too.")
    admin.get_by_role("button", name="Reply", exact=True).click()
    mine = timeline.filter(has_text="A person here")
    expect(mine.locator(".message-meta")).to_contain_text(agents.admin.name, timeout=UI_TIMEOUT_MS)
    expect(mine.locator(".bot-mark")).to_have_count(0)
    expect(admin.locator("#messages .bot-mark")).to_have_count(2)


def deliver(dovecot: DovecotServer, mail: bytes) -> None:
    """Into the mailbox as a mail server would, from a thread of its own: Playwright's loop runs in this one."""
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, dovecot.append(MAILBOX, MAILBOX_PASSWORD, mail)).result(timeout=30)


def mail_from_a_customer(customer: str, subject: str, text: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"Zoë Customer <{customer}>"
    mail["To"] = MAILBOX
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{uuid.uuid4().hex}@customer.example>"
    mail["Date"] = email.utils.formatdate()
    mail.set_content(text)
    return mail.as_bytes()


def test_an_email_reply_shows_the_subject_and_recipient_it_is_sent_with(
    agents: Inboxes,  # noqa: F811
    servers: tuple[DovecotServer, SmtpRecorder],
) -> None:
    hub, admin = agents.hub, agents.admin.page
    dovecot, smtp = servers
    created = hub.api.post(
        "/api/v1/inboxes",
        json={
            "kind": "email",
            "name": "Support mail",
            "settings": loopback_settings(dovecot, smtp, MAILBOX, MAILBOX_PASSWORD)
            | {"from_name": "Shop Support"},
        },
    )
    assert created.status_code == 201, created.text
    inbox = created.json()
    customer = f"zoe.{uuid.uuid4().hex[:6]}@customer.example"
    subject = f"Order 1042 <still> late {uuid.uuid4().hex[:4]}"
    text = "My order has not arrived yet."
    # The customer answers a mail of ours from a Chinese client, which stacked its own reply prefixes.
    deliver(dovecot, mail_from_a_customer(customer, f"回复：RE: {subject}", text))
    conversation = wait_for(
        lambda: next(
            iter(hub.api.get("/api/v1/conversations", params={"inbox_id": inbox["id"]}).json()["items"]), None
        ),
        timeout=30,
    )

    expect(row_of(admin, conversation).locator(".channel")).to_have_text("email", timeout=UI_TIMEOUT_MS)
    open_conversation(admin, conversation, text)
    expect(admin.locator("#email-subject")).to_be_visible()
    expect(admin.locator("#email-subject")).to_have_text(f"Subject Re: {subject}")
    expect(admin.locator("#reply-context")).to_have_text(f"To: {customer}")
    admin.get_by_role("textbox", name="Reply").fill("It left our warehouse today.")
    admin.get_by_role("button", name="Reply", exact=True).click()
    expect(admin.locator(".message-out .delivery")).to_have_text(["sent"], timeout=UI_TIMEOUT_MS)
    [sent] = wait_for(lambda: [mail for mail in smtp.received if customer in mail.recipients], timeout=15)
    reply = email.message_from_bytes(sent.data, policy=email.policy.default)
    assert reply["To"] == customer
    assert reply["Subject"] == f"Re: {subject}"

    webchat, webchat_text, _ = new_conversation(hub, "Not an email")
    open_conversation(admin, webchat, webchat_text)
    expect(admin.locator("#email-subject")).to_be_hidden()
    expect(admin.locator("#reply-context")).not_to_contain_text("To:")


def test_the_team_filter_shows_the_teams_conversations_and_one_transferred_to_it_live(
    agents: Inboxes,  # noqa: F811
) -> None:
    hub, admin = agents.hub, agents.admin.page
    billing, billing_text, _ = new_conversation(hub, "Charged twice")
    other, _, _ = new_conversation(hub, "Where is the shop?")
    later, _, _ = new_conversation(hub, "Refund my second order")
    moved = hub.api.post(f"/api/v1/conversations/{billing['id']}/transfer", json={"team_id": agents.team_id})
    assert moved.status_code == 200, moved.text
    for conversation in (billing, other, later):
        expect(row_of(admin, conversation)).to_be_visible(timeout=UI_TIMEOUT_MS)

    admin.locator(".filters summary").click()
    admin.locator(".filters").get_by_label("Team").select_option(label="Billing")
    rows = admin.locator("#conversations .conversation")
    expect(row_of(admin, other)).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(row_of(admin, billing)).to_be_visible()
    expect(row_of(admin, later)).to_have_count(0)
    team_ids = {
        stored(hub, {"id": row})["team_id"]
        for row in rows.evaluate_all("rows => rows.map(row => row.dataset.conversationId)")
    }
    assert team_ids == {agents.team_id}

    arrived, _, _ = new_conversation(hub, "Arrived while the list shows Billing")
    moved = hub.api.post(f"/api/v1/conversations/{later['id']}/transfer", json={"team_id": agents.team_id})
    assert moved.status_code == 200, moved.text
    expect(row_of(admin, later)).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(row_of(admin, arrived)).to_have_count(0)  # announced live before the transfer, and left out
    expect(row_of(admin, other)).to_have_count(0)
    row_of(admin, billing).click()
    expect(admin.locator(".message-in .message-text")).to_have_text([billing_text], timeout=UI_TIMEOUT_MS)

    admin.locator(".filters").get_by_label("Team").select_option("")
    expect(row_of(admin, other)).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(row_of(admin, arrived)).to_be_visible()
    admin.locator(".filters summary").click()


def test_the_customer_panel_shows_attributes_vip_tags_and_opens_the_customers_other_conversation(
    agents: Inboxes,  # noqa: F811
) -> None:
    hub, admin = agents.hub, agents.admin.page
    inbox = f"/api/v1/inboxes/{inbox_of(hub.demo, 'webchat')['id']}"
    window = hub.api.get(inbox).json()["reopen_window_hours"]
    assert hub.api.patch(inbox, json={"reopen_window_hours": 0}).status_code == 200
    try:
        first, first_text, visitor_token = new_conversation(hub, "My first order")
        resolved = hub.api.post(f"/api/v1/conversations/{first['id']}/resolve")
        assert resolved.status_code == 200, resolved.text
        second_text = f"A new question {uuid.uuid4().hex[:6]}"
        wrote = httpx.post(
            f"{hub.url}/widget/{hub.widget_token}/messages",
            json={"text": second_text, "client_id": uuid.uuid4().hex},
            headers=bearer(visitor_token),
        )
        assert wrote.status_code == 201, wrote.text
        second = wait_for(lambda: hub.conversation_with(second_text), timeout=15)
    finally:
        hub.api.patch(inbox, json={"reopen_window_hours": window})
    assert second["id"] != first["id"] and second["contact_id"] == first["contact_id"]
    changed = hub.api.patch(
        f"/api/v1/contacts/{second['contact_id']}",
        json={
            "name": "Mei Chen",
            "vip_level": 3,
            "tags": ["wholesale", "<b>returns</b>"],
            "attributes": {"plan": "gold", "orders": 12},
        },
    )
    assert changed.status_code == 200, changed.text

    open_conversation(admin, second, second_text)
    panel = admin.locator("#customer")
    expect(panel.locator(".customer-name")).to_contain_text("Mei Chen", timeout=UI_TIMEOUT_MS)
    expect(panel.locator(".vip")).to_have_text("VIP 3")
    expect(panel.locator(".tags .tag")).to_have_text(changed.json()["tags"])
    attributes = panel.locator(".customer-section", has=admin.get_by_role("heading", name="Attributes"))
    expect(attributes.locator("dt", has_text="plan").locator("+ dd")).to_have_text("gold")
    expect(attributes.locator("dt", has_text="orders").locator("+ dd")).to_have_text("12")
    others = panel.locator(".customer-section", has=admin.get_by_role("heading", name="Other conversations"))
    expect(others.get_by_role("button")).to_have_count(1)
    expect(others.get_by_role("button")).to_contain_text("resolved")

    others.get_by_role("button").click()
    expect(admin).to_have_url(f"{hub.url}/inbox/conversations/{first['id']}", timeout=UI_TIMEOUT_MS)
    expect(admin.locator(".message-in .message-text")).to_have_text([first_text], timeout=UI_TIMEOUT_MS)
    expect(others.get_by_role("button")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    others.get_by_role("button").click()
    expect(admin.locator(".message-in .message-text")).to_have_text([second_text], timeout=UI_TIMEOUT_MS)
    assert admin.locator("#customer b").count() == 0
