"""Twilio SMS in Debian's Chromium against a real `omnihub serve`: an admin connects a Twilio number through the form
(checked with a stand-in of Twilio's API) and sees the two URLs to paste into Twilio; an agent answering an SMS
conversation sees the segments and encoding of the reply as they type, on any channel whose conversation view says
replies are billed per SMS segment (`reply_format`), never by the channel's name; the composer's segment counter
(admin_ui/static/sms_segments.js) gives what its Python twin gives on the same cases."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

# Through the widget tests' module, which skips off CI when Chromium or playwright is missing.
from connectors.sms.testing import FROM_NUMBER, inbound_form, signed_request
from tests.conftest import wait_for
from tests.connectors.sms.test_segments import CASES
from tests.e2e.served_hub import FakeTwilioApi
from tests.e2e.test_browser_widget import (  # noqa: F401  (browser and hub_server are fixtures)
    UI_TIMEOUT_MS,
    Browser,
    Page,
    Route,
    RunningHub,
    browser,
    expect,
    hub_server,
    signed_in_admin,
)

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def admin(browser: Browser, hub_server: RunningHub) -> Page:  # noqa: F811
    return signed_in_admin(browser, hub_server, [])


def test_the_composers_segment_counter_agrees_with_its_python_twin(admin: Page) -> None:
    counted = admin.evaluate(
        """async (texts) => {
             const { smsSegments } = await import("/static/sms_segments.js");
             return texts.map((text) => smsSegments(text));
           }""",
        [text for _, text, _ in CASES],
    )
    expected = [
        {"encoding": encoding, "units": units, "segments": segments, "perSegment": per}
        for _, _, (encoding, units, segments, per) in CASES
    ]
    assert counted == expected


def test_an_admin_connects_a_twilio_number_and_sees_the_webhook_urls_to_paste(
    admin: Page,
    hub_server: RunningHub,  # noqa: F811
) -> None:
    admin.get_by_role("link", name="Admin").click()
    admin.get_by_role("link", name="Twilio SMS", exact=True).click()
    admin.get_by_label("Name", exact=True).fill("Support line")
    admin.locator('[name="settings.account_sid"]').fill(ACCOUNT_SID)
    admin.locator('[name="settings.auth_token"]').fill("f" * 32)
    admin.locator('[name="settings.from_number"]').fill(FROM_NUMBER)
    with FakeTwilioApi(auth_token=AUTH_TOKEN) as twilio:
        admin.locator('[name="settings.api_base_url"]').fill(twilio.url)
        admin.get_by_role("button", name="Create inbox").click()
        expect(admin.locator('[data-error-for="settings.auth_token"]')).to_contain_text(
            "Auth Token", timeout=UI_TIMEOUT_MS
        )
        admin.locator('[name="settings.auth_token"]').fill(AUTH_TOKEN)
        admin.get_by_role("button", name="Create inbox").click()
        expect(admin).to_have_url(re.compile(r"/admin/inboxes/[0-9a-f-]{36}$"), timeout=UI_TIMEOUT_MS)
    inbox_id = admin.url.rsplit("/", 1)[1]
    webhook = f"{hub_server.url}/webhooks/twilio_sms/{inbox_id}"
    expect(admin.locator('[data-fact="inbound_webhook_url"]')).to_have_text(webhook)
    expect(admin.locator('[data-fact="status_callback_url"]')).to_have_text(f"{webhook}/status")
    expect(admin.locator("main")).not_to_contain_text(AUTH_TOKEN)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    admin.screenshot(path=str(SCREENSHOTS / "admin-inbox-twilio-sms.png"), full_page=True)


def test_an_agent_sees_the_segments_and_encoding_of_an_sms_reply_as_they_type(
    admin: Page,
    hub_server: RunningHub,  # noqa: F811
) -> None:
    with FakeTwilioApi(auth_token=AUTH_TOKEN) as twilio:
        created = hub_server.api.post(
            "/api/v1/inboxes",
            json={
                "kind": "twilio_sms",
                "name": "Composer SMS",
                "settings": {
                    "account_sid": ACCOUNT_SID,
                    "auth_token": AUTH_TOKEN,
                    "from_number": FROM_NUMBER,
                    "api_base_url": twilio.url,
                },
            },
        )
    assert created.status_code == 201, created.text
    webhook = created.json()["inbound_webhook_url"]
    form = inbound_form("SM" + "4" * 32, "Is my order shipped?", AccountSid=ACCOUNT_SID)
    raw = signed_request(webhook, form, token=AUTH_TOKEN)
    assert httpx.post(webhook, content=raw.body, headers=dict(raw.headers)).status_code == 200
    inbox_id = created.json()["id"]

    def conversation() -> str | None:
        items = hub_server.api.get("/api/v1/conversations", params={"inbox_id": inbox_id}).json()["items"]
        return items[0]["id"] if items else None

    conversation_id = wait_for(conversation)
    admin.goto(f"{hub_server.url}/inbox/conversations/{conversation_id}")
    reply = admin.locator("#reply-text")
    reply.fill("a" * 161)
    expect(admin.locator("#segments")).to_have_text("GSM-7 · 161/306 · 2 SMS", timeout=UI_TIMEOUT_MS)
    reply.fill("您好，您的订单已发货")
    expect(admin.locator("#segments")).to_have_text("UCS-2 · 10/70 · 1 SMS", timeout=UI_TIMEOUT_MS)
    admin.screenshot(path=str(SCREENSHOTS / "inbox-sms-segments.png"))
    assert urlsplit(webhook).path.endswith(inbox_id)


def test_the_segment_counter_follows_the_reply_format_not_the_channels_name(
    admin: Page,
    hub_server: RunningHub,  # noqa: F811
) -> None:
    text = f"Do you ship abroad? {uuid.uuid4().hex[:8]}"
    posted = httpx.post(
        f"{hub_server.url}/widget/{hub_server.widget_token}/messages",
        json={"text": text, "client_id": uuid.uuid4().hex},
    )
    assert posted.status_code == 201, posted.text
    conversation = wait_for(lambda: hub_server.conversation_with(text), timeout=15)
    detail_path = f"/api/v1/conversations/{conversation['id']}"
    assert hub_server.api.get(detail_path).json()["reply_format"]["billed_per_sms_segment"] is False

    admin.goto(f"{hub_server.url}/inbox/conversations/{conversation['id']}")
    expect(admin.locator(".message-in .message-text")).to_have_text([text], timeout=UI_TIMEOUT_MS)
    admin.locator("#reply-text").fill("a" * 161)
    expect(admin.locator("#segments")).to_be_empty(timeout=UI_TIMEOUT_MS)

    def billed_per_segment(route: Route) -> None:
        """The same web chat conversation, as a channel billed per SMS segment would describe it."""
        answer = route.fetch()
        detail = answer.json()
        detail["reply_format"]["billed_per_sms_segment"] = True
        route.fulfill(response=answer, json=detail)

    admin.route(f"{hub_server.url}{detail_path}", billed_per_segment)
    admin.reload()
    expect(admin.locator(".message-in .message-text")).to_have_text([text], timeout=UI_TIMEOUT_MS)
    admin.locator("#reply-text").fill("a" * 161)
    expect(admin.locator("#segments")).to_have_text("GSM-7 · 161/306 · 2 SMS", timeout=UI_TIMEOUT_MS)
