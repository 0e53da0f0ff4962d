"""The widget's outbox in Debian's Chromium: a visitor who sends faster than the hub allows loses nothing and
repeats nothing, through a reload too. Its own hub, with a low per-visitor limit so the limit is reached at once."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import bearer, wait_for
from tests.e2e.served_hub import ServedHub, served_hub
from tests.e2e.test_browser_widget import UI_TIMEOUT_MS, browser, new_page  # noqa: F401 (browser: a fixture)

from playwright.sync_api import Browser, Route, expect  # isort: skip

pytestmark = pytest.mark.e2e

VISITOR_RATE_PER_MINUTE = 40
SENDS = 70


@pytest.fixture(scope="module")
def limited_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedHub]:
    data_dir: Path = tmp_path_factory.mktemp("limited-hub")
    with served_hub(
        data_dir,
        OMNIHUB_VISITOR_RATE_PER_MINUTE=str(VISITOR_RATE_PER_MINUTE),
        OMNIHUB_IP_RATE_PER_MINUTE="10000",
        OMNIHUB_LOG_LEVEL="WARNING",
    ) as hub:
        yield hub


def stored_texts(hub: ServedHub, first_text: str) -> list[str]:
    """The visitor messages of the conversation that holds `first_text`, in the order the hub stored them."""
    with httpx.Client(base_url=hub.url, headers=bearer(hub.demo["api_token"]), timeout=10) as api:
        for conversation in api.get("/api/v1/conversations", params={"limit": 100}).json()["items"]:
            messages = api.get(
                f"/api/v1/conversations/{conversation['id']}/messages", params={"limit": 500}
            ).json()["items"]
            texts = [message["text"] for message in messages if message["direction"] == "in"]
            if first_text in texts:
                return texts
    return []


def test_seventy_rapid_sends_through_a_reload_are_all_delivered_once_and_in_order(
    browser: Browser,  # noqa: F811
    limited_hub: ServedHub,
) -> None:
    console_errors: list[str] = []
    tag = uuid.uuid4().hex[:6]
    texts = [f"{tag} {number:02d}" for number in range(1, SENDS + 1)]
    page = new_page(browser, console_errors)
    page.goto(f"{limited_hub.url}/demo")
    widget = page.locator("omnihub-chat")
    widget.locator(".bubble").click()
    page.evaluate("texts => texts.forEach(text => window.Omnihub.send(text))", texts)

    notice = widget.locator(".notice")
    expect(notice).to_contain_text("too quickly", timeout=UI_TIMEOUT_MS)
    page.wait_for_timeout(3_000)
    expect(notice).to_contain_text("too quickly")  # still there while messages wait, not gone in 2.5 s
    expect(notice).to_contain_text("will be sent")
    states = widget.locator(".list .msg.mine .state")
    expect(states).to_have_count(SENDS)
    waiting = states.filter(has_text="Sending…")
    assert 0 < waiting.count() < SENDS

    page.reload()  # the history comes back once the hub lets this visitor in again; what waited is there at once
    widget = page.locator("omnihub-chat")
    widget.locator(".bubble").click()
    last = widget.locator(".list .msg.mine").filter(has_text=texts[-1])
    expect(last.locator(".state")).to_have_text("Sending…", timeout=UI_TIMEOUT_MS)
    expect(widget.locator(".notice")).to_contain_text("too quickly", timeout=UI_TIMEOUT_MS)

    states = widget.locator(".list .msg.mine .state")
    expect(states.filter(has_text=re.compile("^Sent$"))).to_have_count(SENDS, timeout=90_000)
    expect(widget.locator(".list .msg.mine .text")).to_have_text(texts)
    expect(widget.locator(".notice")).to_be_hidden()
    assert wait_for(lambda: stored_texts(limited_hub, texts[0]) == texts, timeout=15)
    assert console_errors == []
    page.context.close()


def test_a_refused_message_says_why_survives_a_reload_and_is_sent_by_retry(
    browser: Browser,  # noqa: F811
    limited_hub: ServedHub,
) -> None:
    text = f"refused at first {uuid.uuid4().hex[:6]}"
    page = new_page(browser, [], without_websocket=True)
    refusals = {"left": 1}

    def refuse_once(route: Route) -> None:
        if route.request.method != "POST" or not refusals["left"]:
            route.continue_()
            return
        refusals["left"] -= 1
        body = {"status_code": 422, "code": "invalid_message", "detail": "the hub refused it"}
        route.fulfill(status=422, content_type="application/json", body=json.dumps(body))

    page.route("**/widget/*/messages*", refuse_once)
    page.goto(f"{limited_hub.url}/demo")
    widget = page.locator("omnihub-chat")
    widget.locator(".bubble").click()
    widget.locator("textarea").fill(text)
    widget.locator(".send").click()
    state = widget.locator(".list .msg.mine .state")
    expect(state).to_have_text(["Not sent: the hub refused it"], timeout=UI_TIMEOUT_MS)

    page.reload()
    widget = page.locator("omnihub-chat")
    widget.locator(".bubble").click()
    expect(state).to_have_text(["Not sent: the hub refused it"], timeout=UI_TIMEOUT_MS)
    widget.locator(".list .msg.mine .retry").click()
    expect(state).to_have_text(["Sent"], timeout=UI_TIMEOUT_MS)
    expect(widget.locator(".list .msg.mine .retry")).to_be_hidden()
    assert wait_for(lambda: stored_texts(limited_hub, text) == [text], timeout=15)
    page.context.close()
