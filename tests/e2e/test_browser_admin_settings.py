"""The admin pages for the bot's knowledge base, webhooks, and an inbox's routing and business hours, driven in
Debian's Chromium as an admin would against a real `omnihub serve`; each result is read on the page and through the
API. Its hub retries a failed webhook only after an hour, so a second attempt within the test is the replay's. (A plain
agent refused these pages: test_browser_admin.py.)"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Through the widget tests' module, which skips off CI when Chromium or playwright is missing.
from tests.conftest import inbox_of, wait_for
from tests.e2e.served_hub import served_hub
from tests.e2e.test_browser_widget import (  # noqa: F401  (browser is a fixture)
    PHONE,
    UI_TIMEOUT_MS,
    VIEWPORTS,
    Browser,
    Locator,
    Page,
    RunningHub,
    browser,
    expect,
    signed_in_admin,
)
from tests.hub.webhook_receiver import Receiver, standard_webhooks_valid

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
FIELDS_NEED_A_CHANGE = "Some fields need a change: see the notes below them."


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """The receiver's loopback network allowed, as an operator would for an on-premises CRM."""
    with served_hub(
        tmp_path_factory.mktemp("hub"),
        OMNIHUB_LOG_LEVEL="WARNING",
        OMNIHUB_ALLOWED_PRIVATE_NETWORKS="127.0.0.1/32",
        OMNIHUB_WEBHOOK_RETRY_SECONDS="3600",
    ) as served:
        running = RunningHub(served.url, served.demo, served.log, served.environment)
        yield running
        running.api.close()


@pytest.fixture
def errors() -> list[str]:
    return []


def saving_is_refused(form: Locator, field: str, message: str) -> None:
    """Save, and the form shows why next to the field (the field's hint where the API speaks of JSON types)."""
    form.get_by_role("button", name="Save").click()
    expect(form.locator(f'[data-error-for="{field}"]')).to_contain_text(message, timeout=UI_TIMEOUT_MS)


def no_horizontal_scroll(page: Page) -> None:
    """The page fits the phone's width: nothing scrolls sideways (wide tables scroll inside their card)."""
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page is {width[0]} px wide in a {width[1]} px window"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_an_admin_writes_imports_edits_and_tries_knowledge_base_articles(
    browser: Browser,  # noqa: F811
    hub_server: RunningHub,
    errors: list[str],
    viewport: str,
) -> None:
    page = signed_in_admin(browser, hub_server, errors, VIEWPORTS[viewport])
    page.goto(f"{hub_server.url}/admin/kb")
    tag = f"returns-{viewport}"

    new_article = page.locator("#new-article")
    new_article.get_by_label("Title").fill(f"Returns ({viewport})")
    new_article.get_by_label("Questions").fill("   ")
    new_article.get_by_label("Answer").fill("Send it back within 30 days.")
    new_article.get_by_label("Tags").fill(tag)
    new_article.get_by_role("button", name="Create article").click()
    expect(new_article.locator('[data-error-for="questions"]')).to_have_text(
        "At least one question, one a line.", timeout=UI_TIMEOUT_MS
    )
    expect(new_article.locator(".form-error")).to_have_text(FIELDS_NEED_A_CHANGE)
    new_article.get_by_label("Questions").fill(f"How do I return a parcel {viewport}?\nCan I send it back?")
    new_article.get_by_role("button", name="Create article").click()
    created = page.get_by_role("link", name=f"Returns ({viewport})")
    expect(created).to_be_visible(timeout=UI_TIMEOUT_MS)
    [article] = [
        each
        for each in hub_server.api.get("/api/v1/kb/articles?limit=100").json()["items"]
        if tag in each["tags"]
    ]
    assert article["questions"] == [f"How do I return a parcel {viewport}?", "Can I send it back?"]

    import_form = page.locator("#import")
    import_form.get_by_label("File").set_input_files(
        files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": b"name,reply\nfoo,bar\n"}]
    )
    import_form.get_by_role("button", name="Import").click()
    expect(import_form.locator(".form-error")).to_contain_text("column", timeout=UI_TIMEOUT_MS)
    imported_title = f"Gift cards ({viewport})"
    csv_file = (
        "id,title,questions,answer,locale,tags,enabled\n"
        f',{imported_title},"Do you sell gift cards {viewport}?\nGift voucher {viewport}",'
        f'"Yes, from 10 to 500 euros.",en,{tag},true\n'
    )
    import_form.get_by_label("File").set_input_files(
        files=[{"name": "articles.csv", "mimeType": "text/csv", "buffer": csv_file.encode()}]
    )
    import_form.get_by_role("button", name="Import").click()
    expect(page.get_by_role("link", name=imported_title)).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.locator("#import .form-ok")).to_contain_text("1 created", timeout=UI_TIMEOUT_MS)

    created.click()
    expect(page).to_have_url(f"{hub_server.url}/admin/kb/{article['id']}")
    edit = page.locator("#edit-article")
    edit.get_by_label("Locale").fill("not a locale!")
    saving_is_refused(edit, "locale", "A language tag such as zh-CN or en, or empty.")
    edit.get_by_label("Locale").fill("en")
    edit.get_by_label("Answer").fill(f"Print the label from your order page within 30 days ({viewport}).")
    edit.get_by_role("button", name="Save").click()
    expect(edit.locator(".form-ok")).to_contain_text("Saved", timeout=UI_TIMEOUT_MS)
    stored = hub_server.api.get(f"/api/v1/kb/articles/{article['id']}").json()
    assert stored["answer"] == f"Print the label from your order page within 30 days ({viewport})."
    assert stored["locale"] == "en"

    page.get_by_role("link", name="Knowledge base").first.click()
    ask = page.locator("#ask")
    question = f"Do you sell gift cards {viewport}?"
    ask.get_by_label("Question").fill(question)
    ask.get_by_role("button", name="Ask").click()
    result = ask.locator("#ask-result")
    expect(result.locator('[data-answer="article"]')).to_have_text(imported_title, timeout=UI_TIMEOUT_MS)
    expected = hub_server.api.post("/api/v1/kb/ask", json={"text": question}).json()
    expect(result.locator('[data-answer="decision"]')).to_have_text(expected["decision"])
    expect(result.locator('[data-answer="score"]')).to_have_text(f"{expected['score']:.3f}")
    if viewport == "phone":
        no_horizontal_scroll(page)
    page.screenshot(path=str(SCREENSHOTS / f"admin-kb-{viewport}.png"), full_page=True)
    assert [error for error in errors if not re.search(r"status of 4(00|22)", error)] == []


def test_an_admin_adds_and_removes_out_of_scope_examples(
    browser: Browser,  # noqa: F811
    hub_server: RunningHub,
    errors: list[str],
) -> None:
    page = signed_in_admin(browser, hub_server, errors)
    page.goto(f"{hub_server.url}/admin/kb")
    section = page.locator("#out-of-scope")
    adding = section.locator("#new-out-of-scope-example")
    text = "<b>How do I change my wifi password?</b>"
    adding.get_by_label("Question").fill(text)
    adding.get_by_label("Locale").fill("not a locale!")
    adding.get_by_role("button", name="Add example").click()
    expect(adding.locator('[data-error-for="locale"]')).to_contain_text(
        "A language tag such as zh-CN or en, or empty.", timeout=UI_TIMEOUT_MS
    )
    adding.get_by_label("Locale").fill("en")
    adding.get_by_role("button", name="Add example").click()
    row = section.locator("tr", has_text=text)
    expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
    [stored] = [
        each
        for each in hub_server.api.get("/api/v1/kb/out-of-scope-examples").json()["items"]
        if each["text"] == text
    ]
    assert stored["locale"] == "en"

    row.get_by_role("button", name="Remove").click()
    expect(section.locator("tr", has_text=text)).to_have_count(0, timeout=UI_TIMEOUT_MS)
    listed = hub_server.api.get("/api/v1/kb/out-of-scope-examples").json()["items"]
    assert text not in [each["text"] for each in listed]
    assert [error for error in errors if not re.search(r"status of 400", error)] == []


def test_an_admin_subscribes_a_webhook_sees_its_secret_once_and_replays_a_refused_delivery(
    browser: Browser,  # noqa: F811
    hub_server: RunningHub,
    errors: list[str],
) -> None:
    page = signed_in_admin(browser, hub_server, errors)
    page.goto(f"{hub_server.url}/admin/webhooks")
    form = page.locator("#new-webhook")
    with Receiver() as receiver:
        form.get_by_label("URL").fill("http://169.254.169.254/latest")
        form.get_by_label("ticket.created").check()
        form.get_by_role("button", name="Subscribe").click()
        expect(form.locator('[data-error-for="url"]')).to_contain_text(
            "cloud metadata address", timeout=UI_TIMEOUT_MS
        )
        expect(form.locator("#secret")).to_be_hidden()

        receiver.answer("/crm", 503)
        form.get_by_label("URL").fill(receiver.url("/crm"))
        form.get_by_role("button", name="Subscribe").click()
        secret_code = form.locator("#secret [data-secret]")
        expect(secret_code).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/=]{40,}$"), timeout=UI_TIMEOUT_MS)
        secret = secret_code.text_content() or ""
        [subscription] = [
            each
            for each in hub_server.api.get("/api/v1/webhooks").json()["items"]
            if each["url"] == receiver.url("/crm")
        ]
        assert subscription["events"] == ["ticket.created"] and "secret" not in subscription

        ticket = hub_server.api.post(
            "/api/v1/tickets",
            json={"subject": "Broken kettle", "inbox_id": inbox_of(hub_server.demo, "webchat")["id"]},
        )
        assert ticket.status_code == 201, ticket.text
        [refused] = wait_for(lambda: receiver.at("/crm"), timeout=15)
        assert standard_webhooks_valid(secret, refused.headers, refused.body, time.time())
        assert refused.event["type"] == "ticket.created"

        form.locator("#secret").get_by_role("link", name="Deliveries").click()
        expect(page).to_have_url(f"{hub_server.url}/admin/webhooks/{subscription['id']}")
        expect(page.locator("main")).not_to_contain_text(secret)
        row = page.locator("tr[data-delivery-id]")
        expect(row).to_have_count(1)
        expect(row.locator(".code")).to_have_text(["503"])
        expect(row.locator(".status")).to_have_text("pending")

        receiver.answer("/crm", 200)
        answering, held = threading.Event(), threading.Event()

        def hold_the_answer(_path: str) -> None:
            held.set()
            answering.wait(UI_TIMEOUT_MS / 1000)

        receiver.before_answer = hold_the_answer
        try:
            row.get_by_role("button", name="Replay").click()
            expect(row.locator(".form-ok")).to_have_text("Sending again…", timeout=UI_TIMEOUT_MS)
            assert held.wait(15), "the replay reached the receiver"
            expect(row.locator(".status")).to_have_text("pending")
        finally:
            answering.set()
        expect(row.locator(".status")).to_have_text("delivered", timeout=UI_TIMEOUT_MS)
        expect(row.locator(".form-ok")).to_be_empty()
        expect(row.locator(".code")).to_have_text(["503", "200"])
        replayed = receiver.at("/crm")
        assert len(replayed) == 2 and replayed[1].headers["webhook-id"] == refused.headers["webhook-id"]
        [delivery] = hub_server.api.get(f"/api/v1/webhooks/{subscription['id']}/deliveries").json()["items"]
        assert delivery["status"] == "delivered" and [each["status_code"] for each in delivery["log"]] == [
            503,
            200,
        ]
    page.set_viewport_size(PHONE)
    no_horizontal_scroll(page)
    expect(row.get_by_role("button", name="Replay")).to_be_in_viewport(ratio=1)
    page.screenshot(path=str(SCREENSHOTS / "admin-webhook-deliveries-phone.png"), full_page=True)
    page.goto(f"{hub_server.url}/admin/webhooks")
    expect(page.locator(f'tr[data-subscription-id="{subscription["id"]}"]')).to_contain_text(
        receiver.url("/crm")
    )
    expect(page.locator("main")).not_to_contain_text(secret)
    assert [error for error in errors if "status of 422" not in error] == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_an_admin_sets_an_inboxs_routing_and_business_hours(
    browser: Browser,  # noqa: F811
    hub_server: RunningHub,
    errors: list[str],
    viewport: str,
) -> None:
    inbox = inbox_of(hub_server.demo, "email" if viewport == "phone" else "webchat")
    page = signed_in_admin(browser, hub_server, errors, VIEWPORTS[viewport])
    page.goto(f"{hub_server.url}/admin/inboxes/{inbox['id']}")

    routing = page.locator("#routing")
    routing.get_by_label("Strategy").select_option("round_robin")
    routing.get_by_label("Answer timeout (seconds)").fill("5")
    saving_is_refused(
        routing, "answer_timeout_seconds", "Whole seconds from 10 to 604800 (7 days), or empty."
    )
    expect(routing.locator(".form-error")).to_have_text(FIELDS_NEED_A_CHANGE)
    routing.get_by_label("Answer timeout (seconds)").fill("300")
    routing.get_by_role("button", name="Save").click()
    expect(routing.locator(".form-ok")).to_contain_text("Saved", timeout=UI_TIMEOUT_MS)
    expect(routing.get_by_label("Strategy")).to_have_value("round_robin")
    stored = hub_server.api.get(f"/api/v1/inboxes/{inbox['id']}/routing").json()
    assert stored["strategy"] == "round_robin" and stored["answer_timeout_seconds"] == 300

    hours = page.locator("#business-hours")
    hours.get_by_label("Time zone").fill("Asia/Shanghai")
    hours.locator('[name="weekly.mon"]').fill("9am-6pm")
    saving_is_refused(hours, "weekly.mon", "HH:MM-HH:MM")
    expect(hours.locator(".form-error")).to_contain_text("weekly.mon.0: a range reads HH:MM-HH:MM")
    hours.locator('[name="weekly.mon"]').fill("09:00-18:00")
    hours.locator('[name="weekly.tue"]').fill("09:00-12:00-18:00")
    saving_is_refused(hours, "weekly.tue", "HH:MM-HH:MM")
    expect(hours.locator('[data-error-for="weekly.mon"]')).to_be_empty()
    hours.locator('[name="weekly.tue"]').fill("")
    hours.get_by_label("Time zone").fill("Mars/Olympus_Mons")
    saving_is_refused(hours, "time_zone", "unknown time zone 'Mars/Olympus_Mons'")
    time_zone = hours.get_by_label("Time zone", exact=True)
    expect(time_zone).to_have_accessible_description(re.compile("unknown time zone"))
    expect(time_zone).to_have_attribute("aria-invalid", "true")
    hours.get_by_label("Time zone").fill("Asia/Shanghai")
    hours.get_by_label("Closed dates").fill("2026-10-01, 2026-10-001")
    saving_is_refused(hours, "closed_dates", "Dates such as 2026-10-01, separated by commas.")
    expect(hours.locator(".form-error")).to_have_text(FIELDS_NEED_A_CHANGE)
    hours.locator('[name="weekly.sat"]').fill("10:00-14:00, 22:00-02:00")
    hours.get_by_label("Closed dates").fill("2026-10-01, 2026-10-02")
    hours.get_by_label("Out-of-hours message").fill("We are closed; we answer from 9:00.")
    hours.get_by_label("Out-of-hours action").select_option("ticket")
    hours.get_by_role("button", name="Save").click()
    expect(hours.locator(".form-ok")).to_contain_text("Saved", timeout=UI_TIMEOUT_MS)
    expect(hours.get_by_label("Time zone", exact=True)).not_to_have_attribute("aria-invalid", "true")
    expect(hours.locator('[name="weekly.sat"]')).to_have_value("10:00-14:00, 22:00-02:00")
    saved = hub_server.api.get(f"/api/v1/inboxes/{inbox['id']}/business_hours").json()
    assert saved["time_zone"] == "Asia/Shanghai"
    assert saved["weekly"] == {"mon": ["09:00-18:00"], "sat": ["10:00-14:00", "22:00-02:00"]}
    assert saved["closed_dates"] == ["2026-10-01", "2026-10-02"]
    assert saved["out_of_hours_action"] == "ticket"
    assert saved["out_of_hours_message"] == "We are closed; we answer from 9:00."
    expect(hours.locator("h2 small")).to_have_text("Open now" if saved["open_now"] else "Closed now")
    if viewport == "phone":
        no_horizontal_scroll(page)
        expect(hours.get_by_role("button", name="Save")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / f"admin-inbox-routing-{viewport}.png"), full_page=True)
    assert [error for error in errors if not re.search(r"status of 4(00|22)", error)] == []
