"""The widget and the agent inbox in Debian's Chromium, against a real `omnihub serve` process.

Skipped only off CI when Chromium or the playwright package is missing (scripts/install-browser.sh
installs Chromium); under CI=true a missing browser is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import bearer, inbox_of, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    # A shop page the test serves itself (page.route) counts as public to Chromium, which then blocks its widget's
    # socket to the hub on 127.0.0.1; a real shop and its hub are both public.
    "--disable-features=LocalNetworkAccessChecks",
]
UI_TIMEOUT_MS = 15_000
QUESTION = "你好，我的订单在哪里？"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
ANSWER = "您的订单今天发货。Your order ships today."


def _missing_browser() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (run scripts/install-browser.sh)"
    return None


if os.environ.get("CI") != "true" and (reason := _missing_browser()):
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Browser, Locator, Page, Route, expect, sync_playwright  # noqa: E402

pytestmark = pytest.mark.e2e


class RunningHub:
    def __init__(
        self, url: str, demo: dict[str, Any], log: Path, environment: dict[str, str] | None = None
    ) -> None:
        self.url = url
        self.demo = demo
        self.log = log
        self.environment = environment or {}
        """The `omnihub` commands' environment for this hub (its data dir), for commands such as create-admin."""
        self.api = httpx.Client(base_url=url, headers=bearer(demo["api_token"]), timeout=10)

    @property
    def widget_token(self) -> str:
        return inbox_of(self.demo, "webchat")["widget_token"]

    def conversation_with(self, text: str) -> dict[str, Any] | None:
        """The conversation holding a message with this text, once the worker has stored it."""
        for conversation in self.api.get("/api/v1/conversations", params={"limit": 100}).json()["items"]:
            if any(message["text"] == text for message in self.messages(conversation["id"])):
                return conversation
        return None

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        return self.api.get(f"/api/v1/conversations/{conversation_id}/messages").json()["items"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """`omnihub demo --json`, then `omnihub serve`, in embedded mode on a data dir and port of their own."""
    data_dir = tmp_path_factory.mktemp("hub")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("OMNIHUB_")}
    environment.update(
        OMNIHUB_DATA_DIR=str(data_dir),
        OMNIHUB_HOST="127.0.0.1",
        OMNIHUB_PORT=str(port),
        OMNIHUB_PUBLIC_URL=url,
        OMNIHUB_LOG_LEVEL="WARNING",
        OMNIHUB_ALLOWED_PRIVATE_NETWORKS="127.0.0.1/32",  # stand-ins for channel APIs (the admin pages' tests)
    )
    omnihub = str(Path(sys.executable).with_name("omnihub"))
    demo = json.loads(
        subprocess.run(
            [omnihub, "demo", "--json"],
            env=environment,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    log = data_dir / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [omnihub, "serve"], env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    try:

        def healthy() -> bool:
            assert server.poll() is None, f"omnihub serve exited:\n{log.read_text()}"
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout=60, interval=0.1)
        running = RunningHub(url, demo, log, environment)
        yield running
        running.api.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()  # an abandoned widget long-poll holds uvicorn's graceful shutdown for up to 25 s
            server.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def console_errors() -> list[str]:
    return []


DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


def new_page(
    browser: Browser,
    console_errors: list[str],
    *,
    without_websocket: bool = False,
    viewport: dict[str, int] = DESKTOP,
) -> Page:
    """A fresh profile (empty localStorage) that records console errors, such as CSP violations."""
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    if without_websocket:
        context.add_init_script("window.WebSocket = undefined;")
    page = context.new_page()
    record_errors(page, console_errors)
    return page


def record_errors(page: Page, errors: list[str]) -> None:
    """Console errors and uncaught exceptions, and each answer of 400 or above with its method and URL (the
    console's own line names neither)."""
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and errors.append(f"{response.request.method} {response.url}: a status of {response.status}")
        ),
    )


def in_english(page: Page, hub_server: RunningHub) -> None:
    """The inbox follows the browser's language (these contexts say zh-CN): tests that read its English labels
    choose English as the header's switch does, with the cookie."""
    page.context.add_cookies([{"name": "omnihub_lang", "value": "en", "url": hub_server.url}])


def shop_in(page: Page, hub_server: RunningHub, language: str, snippet_language: str | None = None) -> None:
    """A shop page in `language` with the widget's snippet (naming `snippet_language` if given), served by the test
    at an address of the hub."""
    named = f' data-lang="{snippet_language}"' if snippet_language else ""
    shop = (
        f'<!doctype html><html lang="{language}"><head><title>Shop</title></head><body><h1>Shop</h1>'
        f'<script src="/widget.js" data-widget-token="{hub_server.widget_token}"{named} async></script>'
        "</body></html>"
    )
    page.route(f"{hub_server.url}/shop", lambda route: route.fulfill(body=shop, content_type="text/html"))
    page.goto(f"{hub_server.url}/shop")


def ask_from_the_demo_shop(
    browser: Browser,
    hub_server: RunningHub,
    console_errors: list[str],
    question: str,
    *,
    without_websocket: bool = False,
) -> tuple[Page, Locator, dict[str, Any]]:
    """A visitor opens the widget on the demo shop and asks; answers the page, the widget and the conversation."""
    visitor = new_page(browser, console_errors, without_websocket=without_websocket)
    visitor.goto(f"{hub_server.url}/demo")
    widget = visitor.locator("omnihub-chat")
    widget.locator(".bubble").click()
    widget.locator("textarea").fill(question)
    widget.locator(".send").click()
    return visitor, widget, wait_for(lambda: hub_server.conversation_with(question), timeout=15)


def signed_in_admin(
    browser: Browser, hub_server: RunningHub, console_errors: list[str], viewport: dict[str, int] = DESKTOP
) -> Page:
    """A fresh page where the demo admin signed in at /inbox (in English), once its socket is live."""
    page = new_page(browser, console_errors, viewport=viewport)
    in_english(page, hub_server)
    page.goto(f"{hub_server.url}/inbox")
    page.get_by_label("Email").fill(hub_server.demo["admin_email"])
    page.get_by_label("Password").fill(hub_server.demo["admin_password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#connection")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    return page


def open_in_the_inbox(
    browser: Browser,
    hub_server: RunningHub,
    console_errors: list[str],
    conversation: dict[str, Any],
    question: str,
) -> Page:
    """The demo admin signs in and opens the conversation, showing the customer's question."""
    agent = signed_in_admin(browser, hub_server, console_errors)
    agent.locator(f'[data-conversation-id="{conversation["id"]}"]').click()
    expect(agent.locator(".message-in .message-text")).to_have_text([question])
    return agent


@pytest.mark.parametrize("transport", ["websocket", "http"])
def test_visitor_chats_in_chinese_and_keeps_the_history_after_a_reload(
    browser: Browser, hub_server: RunningHub, console_errors: list[str], transport: str
) -> None:
    question = f"{QUESTION} ({transport})"
    answer = f"{ANSWER} ({transport})"
    page = new_page(browser, console_errors, without_websocket=transport == "http")
    page.goto(f"{hub_server.url}/demo")
    widget = page.locator("omnihub-chat")
    widget.locator(".bubble").click()
    expect(widget.locator(".panel")).to_be_visible()
    expect(widget.locator("h2")).to_have_text("Chat with us")
    widget.locator("textarea").fill(question)
    widget.locator(".send").click()

    mine = widget.locator(".list .msg.mine")
    expect(mine.locator(".text")).to_have_text([question])
    expect(mine.locator(".state")).to_have_text(["Sent"], timeout=UI_TIMEOUT_MS)
    conversation = wait_for(lambda: hub_server.conversation_with(question), timeout=15)

    reply = hub_server.api.post(f"/api/v1/conversations/{conversation['id']}/messages", json={"text": answer})
    assert reply.status_code == 201, reply.text
    theirs = widget.locator(".list .msg:not(.mine) .text")
    expect(theirs).to_have_text([answer], timeout=UI_TIMEOUT_MS)
    page.screenshot(path=f"/tmp/omnihub-widget-{transport}.png")

    page.reload()
    widget.locator(".bubble").click()
    expect(widget.locator(".list .text")).to_have_text([question, answer], timeout=UI_TIMEOUT_MS)
    assert console_errors == []
    page.context.close()


def test_on_a_phone_the_open_chat_fills_the_screen_and_send_is_not_covered(
    browser: Browser, hub_server: RunningHub, console_errors: list[str]
) -> None:
    question = f"{QUESTION} (phone)"
    page = new_page(browser, console_errors, viewport=PHONE)
    page.goto(f"{hub_server.url}/demo")
    widget = page.locator("omnihub-chat")
    widget.locator(".bubble").click()
    panel = widget.locator(".panel")
    expect(panel).to_be_visible()
    assert panel.bounding_box() == {"x": 0, "y": 0, "width": PHONE["width"], "height": PHONE["height"]}
    expect(widget.locator(".bubble")).to_be_hidden()
    widget.locator("textarea").fill(question)
    widget.locator(".send").click(timeout=5_000)
    expect(widget.locator(".list .msg.mine .state")).to_have_text(["Sent"], timeout=UI_TIMEOUT_MS)
    page.screenshot(path="/tmp/omnihub-widget-phone.png")
    widget.locator(".close").click(timeout=5_000)
    expect(panel).to_be_hidden()
    expect(widget.locator(".bubble")).to_be_visible()
    assert console_errors == []
    page.context.close()


@pytest.mark.parametrize(
    ("page_language", "snippet_language", "send", "placeholder", "sent"),
    [
        ("zh-CN", None, "发送", "输入消息…", "已发送"),
        ("en", "zh-CN", "发送", "输入消息…", "已发送"),
        ("zh-CN", "en", "Send", "Type a message…", "Sent"),
    ],
)
def test_the_widget_speaks_the_pages_language_unless_the_snippet_names_one(
    browser: Browser,
    hub_server: RunningHub,
    console_errors: list[str],
    page_language: str,
    snippet_language: str | None,
    send: str,
    placeholder: str,
    sent: str,
) -> None:
    page = new_page(browser, console_errors)
    shop_in(page, hub_server, page_language, snippet_language)
    widget = page.locator("omnihub-chat")
    widget.locator(".bubble").click()
    expect(widget.locator(".send")).to_have_text(send)
    expect(widget.locator("textarea")).to_have_attribute("placeholder", placeholder)
    widget.locator("textarea").fill(f"{QUESTION} ({page_language}/{snippet_language})")
    widget.locator(".send").click()
    expect(widget.locator(".list .msg.mine .state")).to_have_text([sent], timeout=UI_TIMEOUT_MS)
    assert console_errors == []
    page.context.close()


def test_the_widget_is_operated_by_keyboard_with_focus_kept_in_the_open_chat(
    browser: Browser, hub_server: RunningHub, console_errors: list[str]
) -> None:
    page = new_page(browser, console_errors)
    page.goto(f"{hub_server.url}/demo")
    widget = page.locator("omnihub-chat")
    widget.locator(".bubble").focus()
    page.keyboard.press("Enter")
    expect(widget.locator(".panel")).to_be_visible()
    expect(widget.locator("textarea")).to_be_focused()

    def focused() -> str:
        return page.evaluate(
            "() => { const el = document.querySelector('omnihub-chat').shadowRoot.activeElement;"
            " return el ? el.className || el.tagName : 'outside'; }"
        )

    seen = []
    for _ in range(6):
        page.keyboard.press("Tab")
        seen.append(focused())
    assert set(seen) == {"minimise", "close", "attach", "TEXTAREA", "send"}, seen
    widget.locator(".minimise").focus()
    page.keyboard.press("Shift+Tab")
    assert focused() == "send", "Shift+Tab from the first control goes to the last"
    page.keyboard.press("Escape")
    expect(widget.locator(".panel")).to_be_hidden()
    expect(widget.locator(".bubble")).to_be_focused()
    assert console_errors == []
    page.context.close()


def test_agent_signs_in_and_answers_from_the_inbox(
    browser: Browser, hub_server: RunningHub, console_errors: list[str]
) -> None:
    question = f"我想退货 {uuid.uuid4().hex[:6]}"
    answer = "好的，我们马上为您处理退货。"
    with manual_routing(hub_server):
        answer_and_assign_from_the_inbox(browser, hub_server, console_errors, question, answer)


@contextmanager
def manual_routing(hub_server: RunningHub) -> Iterator[None]:
    """The demo web chat inbox routes nothing by itself while inside (agents take conversations), then as before:
    otherwise the agent who signs in is given the waiting conversation at once."""
    routing = f"/api/v1/inboxes/{inbox_of(hub_server.demo, 'webchat')['id']}/routing"
    before = hub_server.api.get(routing).json()
    assert hub_server.api.put(routing, json={"strategy": "manual"}).status_code == 200
    try:
        yield
    finally:
        restored = hub_server.api.put(routing, json={key: before[key] for key in ("strategy", "fallback")})
        assert restored.status_code == 200, restored.text


def answer_and_assign_from_the_inbox(
    browser: Browser, hub_server: RunningHub, console_errors: list[str], question: str, answer: str
) -> None:
    posted = httpx.post(
        f"{hub_server.url}/widget/{hub_server.widget_token}/messages",
        json={"text": question, "client_id": uuid.uuid4().hex},
    )
    assert posted.status_code == 201, posted.text
    conversation = wait_for(lambda: hub_server.conversation_with(question), timeout=15)

    page = open_in_the_inbox(browser, hub_server, console_errors, conversation, question)
    page.locator("#reply-text").fill(answer)
    page.get_by_role("button", name="Reply", exact=True).click()
    expect(page.locator(".message-out .message-text")).to_have_text([answer], timeout=UI_TIMEOUT_MS)
    expect(page.locator(".message-out .delivery")).to_have_text(["delivered"], timeout=UI_TIMEOUT_MS)

    page.locator("#reply-text").fill("客户很着急，优先处理。")
    page.get_by_role("button", name="Note", exact=True).click()
    expect(page.locator(".message-note .message-text")).to_have_text(["客户很着急，优先处理。"])
    page.get_by_role("button", name="Assign to me").click()
    expect(page.locator("#facts")).to_contain_text("Demo Admin", timeout=UI_TIMEOUT_MS)
    page.screenshot(path="/tmp/omnihub-inbox.png")

    stored = {(message["direction"], message["text"]) for message in hub_server.messages(conversation["id"])}
    assert {("in", question), ("out", answer), ("note", "客户很着急，优先处理。")} <= stored
    assert hub_server.api.get(f"/api/v1/conversations/{conversation['id']}").json()["status"] == "assigned"
    assert console_errors == []
    page.context.close()


def test_the_visitor_sees_the_agent_typing_and_then_the_answer_which_the_agent_sees_read(
    browser: Browser, hub_server: RunningHub, console_errors: list[str]
) -> None:
    """Web addresses in both directions are links in both UIs (the punctuation after them left out), and markup in
    the agent's answer is text in the widget."""
    cart = f"https://shop.example.com/cart/{uuid.uuid4().hex[:6]}"
    question = f"有人在吗？购物车：{cart}。"
    visitor, widget, conversation = ask_from_the_demo_shop(browser, hub_server, console_errors, question)
    agent = open_in_the_inbox(browser, hub_server, console_errors, conversation, question)
    expect(agent.locator(".message-in .message-text a")).to_have_attribute("href", cart)
    agent.locator("#reply-text").press_sequentially("在的，")
    expect(widget.locator(".typing")).to_be_visible(timeout=UI_TIMEOUT_MS)
    answer = "在的，<b>请看</b> https://shop.example.com/help/returns?lang=zh (退货)."
    agent.locator("#reply-text").press_sequentially(answer[3:])
    agent.locator("#reply-text").press("Enter")
    theirs = widget.locator(".list .msg:not(.mine) .text")
    expect(theirs).to_have_text([answer], timeout=UI_TIMEOUT_MS)
    expect(theirs.locator("a")).to_have_attribute("href", "https://shop.example.com/help/returns?lang=zh")
    expect(theirs.locator("a")).to_have_attribute("target", "_blank")
    assert theirs.locator("b").count() == 0
    expect(widget.locator(".list .msg.mine .text a")).to_have_text([cart])
    expect(agent.locator(".message-out .message-text a")).to_have_text(
        ["https://shop.example.com/help/returns?lang=zh"]
    )
    expect(widget.locator(".typing")).to_be_hidden(timeout=UI_TIMEOUT_MS)
    expect(agent.locator(".message-out .delivery")).to_have_text(["read"], timeout=UI_TIMEOUT_MS)
    assert console_errors == []
    visitor.context.close()
    agent.context.close()


def test_the_agent_sees_the_customer_typing_until_their_message_arrives(
    browser: Browser, hub_server: RunningHub, console_errors: list[str]
) -> None:
    question = f"还有一个问题 {uuid.uuid4().hex[:6]}"
    visitor, widget, conversation = ask_from_the_demo_shop(browser, hub_server, console_errors, question)
    agent = open_in_the_inbox(browser, hub_server, console_errors, conversation, question)
    typing = agent.locator("#customer-typing")
    widget.locator("textarea").press_sequentially("能开发票吗")
    expect(typing).to_have_text("Customer is typing…", timeout=UI_TIMEOUT_MS)
    widget.locator("textarea").press("Enter")
    expect(agent.locator(".message-in .message-text")).to_have_text(
        [question, "能开发票吗"], timeout=UI_TIMEOUT_MS
    )
    expect(typing).to_be_hidden()
    assert console_errors == []
    visitor.context.close()
    agent.context.close()


def test_the_agent_attaches_an_image_and_the_visitor_sees_it(
    browser: Browser, hub_server: RunningHub, console_errors: list[str], tmp_path: Path
) -> None:
    question = f"能看看照片吗？ {uuid.uuid4().hex[:6]}"
    visitor, widget, conversation = ask_from_the_demo_shop(browser, hub_server, console_errors, question)
    agent = open_in_the_inbox(browser, hub_server, console_errors, conversation, question)
    photo = tmp_path / "teapot.png"
    photo.write_bytes(PNG)
    with agent.expect_file_chooser() as chooser:
        agent.get_by_role("button", name="Attach", exact=True).click()
    chooser.value.set_files(str(photo))
    expect(agent.locator("#pending-attachments li")).to_contain_text(["teapot.png"])
    agent.evaluate(  # a file dragged from the desktop onto the conversation
        """async () => {
            const drop = new DataTransfer();
            drop.items.add(new File(["our returns policy"], "returns.txt", { type: "text/plain" }));
            document.querySelector("#messages").dispatchEvent(
                new DragEvent("drop", { dataTransfer: drop, bubbles: true, cancelable: true }));
        }"""
    )
    expect(agent.locator("#pending-attachments li")).to_contain_text(["teapot.png", "returns.txt"])
    agent.locator("#reply-text").fill("这是茶壶的照片。")
    agent.get_by_role("button", name="Reply", exact=True).click()
    expect(agent.locator(".message-out img")).to_have_count(1)
    expect(agent.locator(".message-out a.attachment", has_text="returns.txt")).to_have_count(1)
    expect(agent.locator("#pending-attachments li")).to_have_count(0)

    sent_image = widget.locator(".list .msg:not(.mine) img.image")
    expect(sent_image).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(sent_image).to_have_attribute("alt", "teapot.png")
    expect(widget.locator(".list .msg:not(.mine) a.file")).to_have_text("returns.txt")
    assert visitor.evaluate("(image) => image.naturalWidth", sent_image.element_handle()) == 1
    assert console_errors == []
    visitor.context.close()
    agent.context.close()


def test_the_visitor_attaches_an_image_and_the_agent_sees_it(
    browser: Browser, hub_server: RunningHub, console_errors: list[str], tmp_path: Path
) -> None:
    question = f"我收到的货坏了 {uuid.uuid4().hex[:6]}"
    visitor, widget, conversation = ask_from_the_demo_shop(browser, hub_server, console_errors, question)
    agent = open_in_the_inbox(browser, hub_server, console_errors, conversation, question)
    photo = tmp_path / "broken-cup.png"
    photo.write_bytes(PNG)
    attach = widget.get_by_role("button", name="Attach a file")
    expect(attach.locator("svg")).to_be_visible()  # drawn: an emoji is an empty box without an emoji font
    with visitor.expect_file_chooser() as chooser:
        attach.click()
    chooser.value.set_files(str(photo))
    mine = widget.locator(".list .msg.mine")
    expect(mine.last.locator("img.image")).to_have_attribute("alt", "broken-cup.png")
    expect(mine.last.locator(".state")).to_have_text("Sent", timeout=UI_TIMEOUT_MS)

    received = agent.locator(".message-in img")
    expect(received).to_have_count(1, timeout=UI_TIMEOUT_MS)
    agent.wait_for_function(
        "(image) => image.complete", arg=received.element_handle()
    )  # loaded, not just shown
    assert agent.evaluate("(image) => image.naturalWidth", received.element_handle()) == 1
    [_question, image_message] = hub_server.messages(conversation["id"])
    assert [attachment["name"] for attachment in image_message["attachments"]] == ["broken-cup.png"]
    assert console_errors == []
    visitor.context.close()
    agent.context.close()


def test_the_inbox_session_survives_reloads_and_new_tabs_and_logging_out_ends_it_everywhere(
    browser: Browser, hub_server: RunningHub, console_errors: list[str]
) -> None:
    page = signed_in_admin(browser, hub_server, console_errors)
    [cookie] = [each for each in page.context.cookies() if each["name"] == "omnihub_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "omnihub_session" not in page.evaluate("document.cookie"), (
        "no script of the page can read the session"
    )
    token = cookie["value"]
    assert httpx.get(f"{hub_server.url}/api/v1/me", headers=bearer(token)).status_code == 200

    page.reload()
    expect(page.locator("#connection")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    other_tab = page.context.new_page()
    other_tab.goto(f"{hub_server.url}/inbox")
    expect(other_tab.locator("#connection")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    expect(other_tab.get_by_role("button", name="Sign in")).to_be_hidden()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(other_tab.get_by_role("button", name="Sign in")).to_be_visible(timeout=UI_TIMEOUT_MS)
    wait_for(lambda: httpx.get(f"{hub_server.url}/api/v1/me", headers=bearer(token)).status_code == 401)
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert console_errors == []
    page.context.close()


def test_each_conversation_has_an_address_that_reopens_it_and_forged_changes_are_refused(
    browser: Browser, hub_server: RunningHub, console_errors: list[str]
) -> None:
    question = "这个地址能打开对话吗？"
    visitor, _, conversation = ask_from_the_demo_shop(browser, hub_server, console_errors, question)
    page = open_in_the_inbox(browser, hub_server, console_errors, conversation, question)
    address = f"{hub_server.url}/inbox/conversations/{conversation['id']}"
    expect(page).to_have_url(address)

    page.reload()
    expect(page.locator(".message-in .message-text")).to_have_text([question], timeout=UI_TIMEOUT_MS)
    link = page.context.new_page()
    link.goto(address)
    expect(link.locator(".message-in .message-text")).to_have_text([question], timeout=UI_TIMEOUT_MS)

    resolve = f"/api/v1/conversations/{conversation['id']}/resolve"
    forged = page.evaluate(
        "async (path) => [(await fetch(path, {method: 'POST'})).status,"
        " (await fetch(path, {method: 'POST', headers: {'X-CSRF-Token': 'forged'}})).status]",
        resolve,
    )
    assert forged == [403, 403], "the cookie alone, or with a made-up token, changes nothing"
    assert (
        httpx.get(
            f"{hub_server.url}/api/v1/conversations/{conversation['id']}",
            headers=bearer(hub_server.demo["api_token"]),
        ).json()["status"]
        != "resolved"
    )
    visitor.context.close()
    page.context.close()


def hub_unavailable(retry_after_seconds: int) -> dict[str, Any]:
    """The hub's answer while its database is away (tests/production/test_outages.py provokes the real one)."""
    return {
        "status": 503,
        "headers": {"Retry-After": str(retry_after_seconds), "Content-Type": "application/json"},
        "body": json.dumps(
            {
                "status_code": 503,
                "code": "database_unavailable",
                "detail": "The database cannot be reached; nothing of this request was kept. Try again shortly.",
            }
        ),
    }


def test_the_widget_shows_an_outage_as_reconnecting_and_sends_the_message_once_it_ends(
    browser: Browser, hub_server: RunningHub, console_errors: list[str]
) -> None:
    question = f"还在吗？ {uuid.uuid4().hex[:6]}"
    page = new_page(browser, console_errors, without_websocket=True)
    outage = {"over": False}

    def during_the_outage(route: Route) -> None:
        if outage["over"]:
            route.continue_()
        else:
            route.fulfill(**hub_unavailable(5))

    page.route("**/widget/*/messages*", during_the_outage)
    page.goto(f"{hub_server.url}/demo")
    widget = page.locator("omnihub-chat")
    widget.locator(".bubble").click()
    widget.locator("textarea").fill(question)
    widget.locator(".send").click()

    expect(widget.locator(".notice")).to_contain_text("Reconnecting", timeout=UI_TIMEOUT_MS)
    expect(widget.locator(".list .msg.mine .state")).to_have_text(["Sending…"])
    with page.expect_request("**/widget/*/messages*", timeout=UI_TIMEOUT_MS):
        pass  # the widget tries again, and is refused again
    outage["over"] = True
    expect(widget.locator(".list .msg.mine .state")).to_have_text(["Sent"], timeout=UI_TIMEOUT_MS)
    expect(widget.locator(".notice")).to_be_hidden()
    conversation = wait_for(lambda: hub_server.conversation_with(question), timeout=15)
    assert [message["text"] for message in hub_server.messages(conversation["id"])] == [question]
    page.context.close()


def test_the_inbox_keeps_a_reply_through_an_outage_and_sends_it_once_it_ends(
    browser: Browser, hub_server: RunningHub, console_errors: list[str]
) -> None:
    question = f"发货了吗？ {uuid.uuid4().hex[:6]}"
    answer = "已经发货了。"
    posted = httpx.post(
        f"{hub_server.url}/widget/{hub_server.widget_token}/messages",
        json={"text": question, "client_id": uuid.uuid4().hex},
    )
    assert posted.status_code == 201, posted.text
    conversation = wait_for(lambda: hub_server.conversation_with(question), timeout=15)
    page = open_in_the_inbox(browser, hub_server, console_errors, conversation, question)
    outage = {"refused": 0}

    def during_the_outage(route: Route) -> None:
        if route.request.method != "POST" or outage["refused"]:
            route.continue_()
            return
        outage["refused"] += 1
        route.fulfill(**hub_unavailable(1))

    page.route("**/api/v1/conversations/*/messages", during_the_outage)
    page.locator("#reply-text").fill(answer)
    page.get_by_role("button", name="Reply", exact=True).click()
    expect(page.locator("#composer-error")).to_contain_text("Reconnecting", timeout=UI_TIMEOUT_MS)
    expect(page.locator(".message-out .message-text")).to_have_text([answer], timeout=UI_TIMEOUT_MS)
    expect(page.locator("#composer-error")).to_have_text("")
    stored = [message["text"] for message in hub_server.messages(conversation["id"])]
    assert stored.count(answer) == 1
    page.context.close()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_an_agent_sees_the_visitor_arrive_live_answers_resolves_and_the_visitor_rates(
    browser: Browser, hub_server: RunningHub, console_errors: list[str], viewport: str
) -> None:
    """The whole of a chat as people have it, the visitor and the agent in browsers of the same size: the agent is
    in the inbox before the visitor writes, answers and resolves there; the visitor reads the answer and rates."""
    size = VIEWPORTS[viewport]
    question = f"能帮我查一下退款吗？ {uuid.uuid4().hex[:6]}"
    answer = f"退款已经处理，三天内到账。 ({viewport})"
    agent = signed_in_admin(browser, hub_server, console_errors, size)

    visitor = new_page(browser, console_errors, viewport=size)
    visitor.goto(f"{hub_server.url}/demo")
    widget = visitor.locator("omnihub-chat")
    widget.locator(".bubble").click()
    widget.locator("textarea").fill(question)
    widget.locator(".send").click()
    row = agent.locator(".conversation", has_text=question)
    expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
    row.click()
    expect(agent.locator(".message-in .message-text")).to_have_text([question], timeout=UI_TIMEOUT_MS)
    agent.locator("#reply-text").fill(answer)
    agent.get_by_role("button", name="Reply", exact=True).click()
    expect(widget.locator(".list .msg:not(.mine) .text")).to_have_text([answer], timeout=UI_TIMEOUT_MS)

    if viewport == "phone":
        agent.get_by_role("button", name="Customer").click()
    agent.get_by_role("button", name="Resolve").click()
    expect(agent.locator("#thread-title .status")).to_have_text("resolved", timeout=UI_TIMEOUT_MS)
    card = widget.locator(".rate")
    expect(card).to_contain_text("How did we do?", timeout=UI_TIMEOUT_MS)
    card.get_by_label("Comment (optional)").fill("很快，谢谢")
    card.get_by_role("button", name="4/5").click()
    expect(card).to_have_text("Thank you for your rating!", timeout=UI_TIMEOUT_MS)
    conversation = wait_for(lambda: hub_server.conversation_with(question), timeout=15)
    rated = hub_server.api.get(f"/api/v1/conversations/{conversation['id']}").json()["csat"]
    assert (rated["rating"], rated["comment"]) == (4, "很快，谢谢")

    visitor.reload()
    widget.locator(".bubble").click()
    expect(widget.locator(".list .msg.mine .text")).to_have_text([question], timeout=UI_TIMEOUT_MS)
    expect(widget.locator(".rate")).to_have_count(0)
    assert console_errors == []
    visitor.context.close()
    agent.context.close()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
"""Where the browser tests leave their screenshots for CI to keep (ignored by git)."""


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@contextmanager
def web_chat_settings(hub_server: RunningHub, **settings: Any) -> Iterator[dict[str, Any]]:
    """The demo web chat inbox with these settings while the test runs (and its widget's /config showing them)."""
    inbox = inbox_of(hub_server.demo, "webchat")
    before = hub_server.api.get(f"/api/v1/inboxes/{inbox['id']}").json()["settings"]
    config_before = widget_config(hub_server)
    changed = hub_server.api.patch(f"/api/v1/inboxes/{inbox['id']}", json={"settings": settings})
    assert changed.status_code == 200, changed.text
    try:
        yield inbox
    finally:
        restored = {name: before.get(name) for name in settings}
        hub_server.api.patch(f"/api/v1/inboxes/{inbox['id']}", json={"settings": restored})
        # The widget's /config takes the change a moment later; the module's next test (another one under
        # pytest-xdist's order) must not open a widget that still shows this test's pre-chat or offline form.
        shown = ("prechat", "leave_message")
        wait_for(
            lambda: all(widget_config(hub_server)[name] == config_before[name] for name in shown), timeout=5
        )


def widget_config(hub_server: RunningHub) -> dict[str, Any]:
    return httpx.get(f"{hub_server.url}/widget/{hub_server.widget_token}/config").json()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_new_visitor_fills_the_prechat_form_writes_and_sees_the_unread_reply_on_the_bubble(
    browser: Browser, hub_server: RunningHub, console_errors: list[str], viewport: str
) -> None:
    question = f"{QUESTION} (pre-chat, {viewport})"
    email = f"visitor.{viewport}@example.com"
    with web_chat_settings(hub_server, prechat="required"):
        wait_for(lambda: widget_config(hub_server)["prechat"] == "required", timeout=5)
        page = new_page(browser, console_errors, viewport=VIEWPORTS[viewport])
        page.goto(f"{hub_server.url}/demo")
        widget = page.locator("omnihub-chat")
        widget.locator(".bubble").click()
        gate = widget.locator(".gate")
        expect(gate).to_be_visible()
        expect(widget.locator(".form")).to_be_hidden()
        expect(gate.locator("input").first).to_be_focused()
        gate.locator(".send").click(timeout=5_000)
        expect(widget.locator(".notice")).to_be_visible()
        expect(gate.locator("input[type=email]")).to_have_attribute("aria-invalid", "true")
        gate.locator("input").first.fill("<b>Mei</b>")
        gate.locator("input[type=email]").fill(email)
        screenshot(page, f"widget-prechat-{viewport}")
        gate.locator(".send").click(timeout=5_000)
        expect(gate).to_be_hidden()
        expect(widget.locator(".form textarea")).to_be_focused()
        widget.locator(".form textarea").fill(question)
        widget.locator(".form .send").click(timeout=5_000)
        expect(widget.locator(".list .msg.mine .state")).to_have_count(1, timeout=UI_TIMEOUT_MS)
        conversation = wait_for(lambda: hub_server.conversation_with(question), timeout=15)
        contact = wait_for(
            lambda: (
                (found := hub_server.api.get(f"/api/v1/contacts/{conversation['contact_id']}").json())[
                    "attributes"
                ].get("unverified_claims")
                and found
            ),
            timeout=15,
        )
        assert contact["attributes"]["unverified_claims"] == {"email": email}
        assert contact["name"] == "<b>Mei</b>"
        page.keyboard.press("Escape")
        expect(widget.locator(".panel")).to_be_hidden()
        reply = hub_server.api.post(
            f"/api/v1/conversations/{conversation['id']}/messages", json={"text": ANSWER}
        )
        assert reply.status_code < 300, reply.text
        expect(widget.locator(".badge")).to_have_text("1", timeout=UI_TIMEOUT_MS)
        expect(widget.locator(".bubble")).to_have_attribute("aria-label", re.compile(r"\(1\)$"))
        widget.locator(".bubble").click()
        expect(widget.locator(".badge")).to_be_hidden()
        expect(widget.locator(".list .msg:not(.mine) .text")).to_have_text([ANSWER], timeout=UI_TIMEOUT_MS)
        screenshot(page, f"widget-chat-{viewport}")
    assert console_errors == []
    page.context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_out_of_hours_a_new_visitor_leaves_a_message_which_opens_a_ticket_their_reply_reaches(
    browser: Browser, hub_server: RunningHub, console_errors: list[str], viewport: str
) -> None:
    text = f"Please call me back ({viewport})"
    inbox = inbox_of(hub_server.demo, "webchat")
    closed = {"time_zone": "UTC", "weekly": {"mon": ["00:00-00:01"]}, "closed_dates": []}
    with web_chat_settings(hub_server, offline_form=True):
        hours = hub_server.api.put(f"/api/v1/inboxes/{inbox['id']}/business_hours", json=closed)
        assert hours.status_code == 200, hours.text
        try:
            wait_for(lambda: widget_config(hub_server)["leave_message"], timeout=5)
            page = new_page(browser, console_errors, viewport=VIEWPORTS[viewport])
            page.goto(f"{hub_server.url}/demo")
            widget = page.locator("omnihub-chat")
            widget.locator(".bubble").click()
            gate = widget.locator(".gate")
            expect(gate.locator("textarea")).to_be_visible()
            gate.locator("input[type=email]").fill("not an email")
            gate.locator("textarea").fill(text)
            gate.locator(".send").click(timeout=5_000)
            expect(gate.locator("input[type=email]")).to_have_attribute("aria-invalid", "true")
            gate.locator("input[type=email]").fill(f"away.{viewport}@example.com")
            screenshot(page, f"widget-offline-{viewport}")
            gate.locator(".send").click(timeout=5_000)
            expect(widget.locator(".notice")).to_contain_text(f"away.{viewport}@example.com")
            expect(widget.locator(".list .msg.mine")).to_have_count(1)

            def ticket() -> dict[str, Any] | None:
                items = hub_server.api.get("/api/v1/tickets", params={"limit": 100}).json()["items"]
                return next((item for item in items if item["description"] == text), None)

            opened = wait_for(ticket, timeout=15)
            assert opened["source"] == "customer_message"
            widget.locator(".form textarea").fill(f"Any news? ({viewport})")
            widget.locator(".form .send").click(timeout=5_000)
            later = wait_for(lambda: hub_server.conversation_with(f"Any news? ({viewport})"), timeout=15)
            assert later["id"] == opened["conversation_id"]
        finally:
            hub_server.api.put(f"/api/v1/inboxes/{inbox['id']}/business_hours", json={})
    assert console_errors == []
    page.context.close()


MINIMISE_AND_CLOSE = {
    "desktop": ("en", "Open chat", "Minimise chat", "Close chat"),
    "phone": ("zh-CN", "打开聊天", "最小化聊天", "关闭聊天"),
}


def tab_to(page: Page, widget: Locator, name: str) -> Locator:
    """Tab (the keyboard's way) through the open chat to the button named `name`, which then shows its focus."""
    target = widget.locator(".panel").get_by_role("button", name=name, exact=True)
    for _ in range(8):
        if target.evaluate("button => button.getRootNode().activeElement === button"):
            break
        page.keyboard.press("Tab")
    expect(target).to_be_focused()
    ring = target.evaluate(
        "button => { const style = getComputedStyle(button);"
        " const header = getComputedStyle(button.parentElement).backgroundColor;"
        " return [button.matches(':focus-visible'), style.outlineStyle, parseFloat(style.outlineWidth),"
        " style.outlineColor !== header]; }"
    )
    assert ring == [True, "solid", 2, True], (
        f"{name} shows no focus ring that stands out of the header: {ring}"
    )
    return target


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_minimise_keeps_the_chat_and_draft_and_counts_replies_and_close_ends_it_for_the_page_view(
    browser: Browser, hub_server: RunningHub, console_errors: list[str], viewport: str
) -> None:
    """Minimise folds the window into the bubble and the chat goes on: a reply is counted on the bubble, and the
    window comes back with the conversation and the half-written message. Close ends the chat for this page view:
    the draft goes and so does the connection to the hub, while the bubble stays; opening it again reconnects and
    shows the reply written meanwhile. Both by keyboard with a visible focus, named in the page's language, and
    focus goes back to the bubble."""
    language, open_chat, minimise_chat, close_chat = MINIMISE_AND_CLOSE[viewport]
    question = f"{QUESTION} (minimise, {viewport})"
    draft = "还有一个问题：能改地址吗"
    page = new_page(browser, console_errors, viewport=VIEWPORTS[viewport])
    sockets: list[Any] = []
    page.on("websocket", lambda socket: sockets.append(socket))  # noqa: PLW0108 (no builtin as a handler)
    shop_in(page, hub_server, language)
    widget = page.locator("omnihub-chat")
    bubble = widget.locator(".bubble")
    expect(bubble).to_have_attribute("aria-label", open_chat)
    bubble.focus()
    page.keyboard.press("Enter")
    panel = widget.locator(".panel")
    expect(panel).to_be_visible()
    widget.locator("textarea").fill(question)
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".list .msg.mine .state")).to_have_count(1)
    conversation = wait_for(lambda: hub_server.conversation_with(question), timeout=15)
    widget.locator("textarea").fill(draft)

    tab_to(page, widget, minimise_chat).press("Enter")
    expect(panel).to_be_hidden()
    expect(bubble).to_be_visible()
    expect(bubble).to_be_focused()
    expect(bubble).to_have_attribute("aria-expanded", "false")
    expect(bubble).to_have_attribute("aria-label", open_chat)
    first_answer = f"{ANSWER} (1, {viewport})"
    reply = hub_server.api.post(
        f"/api/v1/conversations/{conversation['id']}/messages", json={"text": first_answer}
    )
    assert reply.status_code == 201, reply.text
    expect(widget.locator(".badge")).to_have_text("1", timeout=UI_TIMEOUT_MS)
    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    expect(widget.locator(".list .text")).to_have_text([question, first_answer])
    expect(widget.locator("textarea")).to_have_value(draft)
    expect(widget.locator(".badge")).to_be_hidden()

    tab_to(page, widget, close_chat).press("Enter")
    expect(panel).to_be_hidden()
    expect(bubble).to_be_visible()
    expect(bubble).to_be_focused()
    connected = sockets[-1]
    if not connected.is_closed():  # events reach Python only while Playwright waits
        connected.wait_for_event("close", timeout=UI_TIMEOUT_MS)
    second_answer = f"{ANSWER} (2, {viewport})"
    reply = hub_server.api.post(
        f"/api/v1/conversations/{conversation['id']}/messages", json={"text": second_answer}
    )
    assert reply.status_code == 201, reply.text
    with page.expect_websocket(timeout=UI_TIMEOUT_MS):
        page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    expect(widget.locator(".list .text")).to_have_text(
        [question, first_answer, second_answer], timeout=UI_TIMEOUT_MS
    )
    expect(widget.locator("textarea")).to_have_value("")
    expect(widget.locator(".badge")).to_be_hidden()
    assert connected.is_closed() and not sockets[-1].is_closed()
    screenshot(page, f"widget-reopened-{viewport}")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(bubble).to_be_focused()
    assert console_errors == []
    page.context.close()


def test_without_sockets_a_closed_chat_stops_polling_and_opens_again_with_what_was_written_meanwhile(
    browser: Browser, hub_server: RunningHub, console_errors: list[str]
) -> None:
    """The HTTP transport's close: the long poll answered after the close is left for the next open, which polls
    again and shows the reply; the visitor's draft is gone."""
    question = f"{QUESTION} (close, http)"
    page, widget, conversation = ask_from_the_demo_shop(
        browser, hub_server, console_errors, question, without_websocket=True
    )
    expect(widget.locator(".list .msg.mine .state")).to_have_text(["Sent"], timeout=UI_TIMEOUT_MS)
    widget.locator("textarea").fill("never sent")
    widget.get_by_role("button", name="Close chat").click()
    expect(widget.locator(".panel")).to_be_hidden()

    answer = f"{ANSWER} (close, http)"
    with page.expect_response("**/messages?wait=*", timeout=UI_TIMEOUT_MS):
        reply = hub_server.api.post(
            f"/api/v1/conversations/{conversation['id']}/messages", json={"text": answer}
        )
        assert reply.status_code == 201, reply.text
    expect(widget.locator(".badge")).to_be_hidden()
    with page.expect_request("**/messages?wait=*", timeout=UI_TIMEOUT_MS) as reopened:
        widget.locator(".bubble").click()
    [asked] = hub_server.messages(conversation["id"])[:1]
    assert reopened.value.url.endswith(f"&after={asked['id']}"), (
        "the answer that came after the close was left"
    )
    expect(widget.locator(".list .text")).to_have_text([question, answer], timeout=UI_TIMEOUT_MS)
    expect(widget.locator("textarea")).to_have_value("")
    assert console_errors == []
    page.context.close()
