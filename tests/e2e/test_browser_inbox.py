"""The agent inbox in headless Chromium at desktop (1280×800) and phone (390×844) sizes: a new conversation
appears live with its unread count (kept across a reload and shown in the tab title), the agent replies, assigns,
labels, resolves it and opens a ticket, sees the page the visitor is on now appear live, which the tickets list and the ticket's page show; a visitor's name and message holding markup render as text. Screenshots of the list and
a conversation at both sizes go to artifacts/screenshots/ (CI artifacts)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import wait_for
from tests.e2e.test_browser_widget import (  # the widget's module skips when Chromium or Playwright is missing
    DESKTOP,
    PHONE,
    UI_TIMEOUT_MS,
    Browser,
    Page,
    RunningHub,
    browser,  # noqa: F401 (a fixture)
    expect,
    hub_server,  # noqa: F401 (a fixture)
    manual_routing,
    new_page,
    signed_in_admin,
)

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
XSS_NAME = '<img src=x onerror="window.pwned=1">Zoë'
XSS_TEXT = "<script>window.pwned=1</script><b>where is my order?</b>"


def visit_page(hub_server: RunningHub, visitor_token: str, title: str) -> None:  # noqa: F811
    """The visitor's widget reports the page they are on now, as the widget does on every page view."""
    socket_url = hub_server.url.replace("http://", "ws://") + f"/widget/{hub_server.widget_token}/ws"
    with connect(socket_url) as socket:
        socket.send(json.dumps({"visitor_token": visitor_token}))
        assert json.loads(socket.recv(timeout=10))["type"] == "ready"
        socket.send(
            json.dumps({"type": "page", "url": "https://shop.example.com/checkout?step=2", "title": title})
        )
        socket.send(json.dumps({"type": "unknown"}))  # answered only after the page frame was stored
        assert json.loads(socket.recv(timeout=10))["code"] == "unknown_frame"


def presence_of_the_admin(hub_server: RunningHub) -> str:  # noqa: F811
    agents = hub_server.api.get("/api/v1/agents").json()
    return next(agent["presence"] for agent in agents if agent["email"] == hub_server.demo["admin_email"])


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the page scrolls sideways"
    )


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_an_agent_sees_a_conversation_arrive_live_and_answers_assigns_labels_and_resolves_it(
    browser: Browser,  # noqa: F811
    hub_server: RunningHub,  # noqa: F811
    size: str,
) -> None:
    console_errors: list[str] = []
    viewport = DESKTOP if size == "desktop" else PHONE
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with manual_routing(hub_server):
        page = signed_in_admin(browser, hub_server, console_errors, viewport)
        text = f"{XSS_TEXT} {uuid.uuid4().hex[:6]}"
        posted = httpx.post(
            f"{hub_server.url}/widget/{hub_server.widget_token}/messages",
            json={"text": text, "client_id": uuid.uuid4().hex},
        )
        assert posted.status_code == 201, posted.text
        row = page.locator(".conversation", has_text=text)
        expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(row.locator(".unread-count")).to_have_text("1")
        expect(row.locator(".channel")).to_have_text("webchat")
        conversation = wait_for(lambda: hub_server.conversation_with(text), timeout=15)
        renamed = hub_server.api.patch(
            f"/api/v1/contacts/{conversation['contact_id']}", json={"name": XSS_NAME}
        )
        assert renamed.status_code == 200, renamed.text

        page.reload()
        row = page.locator(f'[data-conversation-id="{conversation["id"]}"]')
        expect(row.locator(".customer")).to_have_text(XSS_NAME, timeout=UI_TIMEOUT_MS)
        expect(row.locator(".preview")).to_have_text(text)
        expect(row.locator(".unread-count")).to_have_text("1")
        assert page.title().startswith("(1) ")
        no_sideways_scroll(page)
        expect(page.get_by_role("button", name="Log out")).to_be_in_viewport(ratio=1)
        page.screenshot(path=str(SCREENSHOTS / f"inbox-{size}.png"))
        search = page.get_by_label("Search customers")
        search.fill(text.split()[-1])
        search.press("Enter")
        expect(page.locator(".conversation")).to_have_count(1, timeout=UI_TIMEOUT_MS)
        expect(row).to_be_visible()
        search.fill("")
        search.press("Enter")

        row.click()
        expect(page.locator(".message-in .message-text")).to_have_text([text])
        expect(page.locator(".message-in .channel")).to_have_text(["webchat"])  # each message's channel badge
        expect(row.locator(".unread-count")).to_have_count(0)
        assert page.title() == "Inbox · Omnihub"
        canned = hub_server.api.post(
            "/api/v1/canned_responses", json={"short_code": f"on-it-{size}", "content": "We are on it."}
        )
        assert canned.status_code == 201, canned.text
        page.locator("#reply-text").press_sequentially(f"/on-it-{size[:3]}")
        expect(page.locator("#canned [role=option]")).to_have_count(1)
        page.locator("#reply-text").press("Enter")
        expect(page.locator("#reply-text")).to_have_value("We are on it.")
        page.get_by_role("button", name="Reply", exact=True).click()
        expect(page.locator(".message-out .delivery")).to_contain_text(["delivered"], timeout=UI_TIMEOUT_MS)
        no_sideways_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"conversation-{size}.png"))

        if size == "phone":
            page.get_by_role("button", name="Customer").click()
        expect(page.locator(".customer-name")).to_have_text(XSS_NAME)
        visit_page(hub_server, posted.json()["visitor_token"], f"Checkout {XSS_NAME}")
        expect(page.locator("#customer .page.current")).to_contain_text(
            f"Checkout {XSS_NAME}", timeout=UI_TIMEOUT_MS
        )
        expect(page.locator("#customer .page.current")).to_contain_text("https://shop.example.com/checkout")
        page.get_by_role("button", name="Assign to me").click()
        expect(page.locator("#facts")).to_contain_text("Demo Admin", timeout=UI_TIMEOUT_MS)
        expect(page.locator("#capacity")).to_have_text(re.compile(r"^1 / \d+$"), timeout=UI_TIMEOUT_MS)
        page.get_by_label("Presence").select_option("away")
        wait_for(lambda: presence_of_the_admin(hub_server) == "away", timeout=15)
        page.get_by_label("Presence").select_option("online")
        wait_for(lambda: presence_of_the_admin(hub_server) == "online", timeout=15)
        page.get_by_label("Labels").fill("Refund, vip")
        page.get_by_role("button", name="Save labels").click()
        expect(page.locator("#facts")).to_contain_text("refund, vip", timeout=UI_TIMEOUT_MS)
        subject = f"Refund ({size}) for {XSS_NAME}"
        page.get_by_label("Ticket subject").fill(subject)
        page.get_by_role("button", name="Open ticket").click()
        expect(page.locator("#customer")).to_contain_text(subject, timeout=UI_TIMEOUT_MS)
        no_sideways_scroll(page)
        if size == "desktop":
            page.locator("body").press("e")
        else:
            page.get_by_role("button", name="Resolve").click()
        expect(page.locator("#thread-title .status")).to_have_text("resolved", timeout=UI_TIMEOUT_MS)

        page.get_by_role("link", name="Tickets").click()
        ticket_row = page.locator(".records-table tr", has_text=subject)
        expect(ticket_row).to_have_count(1, timeout=UI_TIMEOUT_MS)
        expect(page.locator(".records-table th")).to_contain_text(
            ["Subject", "Status", "Priority", "Assignee", "SLA due"]
        )
        filters = page.locator(".records-filters")
        filters.get_by_label("Status").select_option("solved")
        expect(ticket_row).to_have_count(0, timeout=UI_TIMEOUT_MS)
        filters.get_by_label("Status").select_option("new,open,pending")
        filters.get_by_label("Assignee").select_option("none")
        expect(ticket_row).to_have_count(1, timeout=UI_TIMEOUT_MS)
        no_sideways_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"tickets-{size}.png"))
        ticket_row.get_by_role("link").click()
        expect(page.get_by_role("heading", name=subject)).to_be_visible()
        page.get_by_label("Comment").fill("Refund approved by finance.")
        page.get_by_role("button", name="Add comment").click()
        expect(page.locator(".comments .message-note .message-text")).to_have_text(
            ["Refund approved by finance."]
        )
        page.get_by_role("link", name="Open the conversation").click()
        expect(page.locator(".message-in .message-text")).to_have_text([text], timeout=UI_TIMEOUT_MS)

    stored = hub_server.api.get(f"/api/v1/conversations/{conversation['id']}").json()
    assert (stored["status"], stored["labels"]) == ("resolved", ["refund", "vip"])
    assert page.evaluate("window.pwned") is None
    assert page.locator("img[src='x'], b, script:not([src]):not([type='application/json'])").count() == 0
    assert console_errors == []
    page.context.close()


ALERT_PROBES = """
window.hiddenTab = false;
Object.defineProperty(Document.prototype, "hidden", { get: () => window.hiddenTab });
window.notifications = [];
window.permissionAsked = 0;
window.Notification = class {
  static permission = "default";
  static requestPermission() {
    window.permissionAsked += 1;
    window.Notification.permission = "granted";
    return Promise.resolve("granted");
  }
  constructor(title, options) { window.notifications.push({ title, body: options.body }); }
  addEventListener() {}
};
window.chimes = 0;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) { window.chimes += 1; return start.apply(this, args); };
"""


def test_a_chinese_browser_gets_the_inbox_in_chinese_with_alerts_live_note_removal_and_a_switch_to_english(
    browser: Browser,  # noqa: F811
    hub_server: RunningHub,  # noqa: F811
) -> None:
    """Signed out, an admin page sends the browser to sign in and back; the inbox reads in Chinese; alerts switched
    on from the header ring and notify while the tab is hidden (the permission asked on that click only); a note
    deleted by someone else leaves the open conversation; the header's switch turns the inbox English."""
    console_errors: list[str] = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = new_page(browser, console_errors)
    page.context.add_init_script(ALERT_PROBES)
    page.goto(f"{hub_server.url}/admin/reports")
    expect(page).to_have_url(f"{hub_server.url}/inbox?next=%2Fadmin%2Freports")
    page.get_by_label("邮箱").fill(hub_server.demo["admin_email"])
    page.get_by_label("密码").fill(hub_server.demo["admin_password"])
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{hub_server.url}/admin/reports", timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="每日各渠道会话数")).to_be_visible()

    page.goto(f"{hub_server.url}/inbox")
    expect(page.locator("#connection")).to_have_text("实时", timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("tab")).to_have_text(["我的", "未分配", "全部"])
    assert page.evaluate("window.permissionAsked") == 0
    page.get_by_role("button", name="提醒：关").click()
    expect(page.get_by_role("button", name="提醒：开")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("[window.permissionAsked, localStorage.getItem('omnihub.alerts')]") == [1, "on"]

    page.evaluate("window.hiddenTab = true")
    text = f"你好，我的订单到哪了？ {uuid.uuid4().hex[:6]}"
    posted = httpx.post(
        f"{hub_server.url}/widget/{hub_server.widget_token}/messages",
        json={"text": text, "client_id": uuid.uuid4().hex},
    )
    assert posted.status_code == 201, posted.text
    row = page.locator(".conversation", has_text=text)
    expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.wait_for_function("window.notifications.some((each) => each.body.includes('你好'))")
    assert page.evaluate("window.chimes") > 0
    page.evaluate("window.hiddenTab = false")

    row.click()
    expect(page.get_by_role("button", name="分配给我")).to_be_visible()
    assert re.fullmatch(r"[\u4e00-\u9fff]+", row.locator(".status").inner_text()), "the status in Chinese"
    conversation = wait_for(lambda: hub_server.conversation_with(text), timeout=15)
    written = hub_server.api.post(
        f"/api/v1/conversations/{conversation['id']}/notes", json={"text": "客户是老用户，优先处理"}
    )
    assert written.status_code == 201, written.text
    note = page.locator(".message-note", has_text="客户是老用户")
    expect(note).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(note.locator(".message-meta")).to_contain_text("备注")
    page.screenshot(path=str(SCREENSHOTS / "inbox-zh-CN.png"))
    deleted = hub_server.api.delete(
        f"/api/v1/conversations/{conversation['id']}/notes/{written.json()['id']}"
    )
    assert deleted.status_code == 204, deleted.text
    expect(note).to_have_count(0, timeout=UI_TIMEOUT_MS)

    page.locator("header").get_by_label("语言").select_option("en")
    expect(page.get_by_role("button", name="Assign to me")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("tab")).to_have_text(["Mine", "Unassigned", "All"])
    expect(page.locator("#connection")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Alerts on")).to_be_visible()
    assert console_errors == []
    page.context.close()
