"""The admin pages in Debian's Chromium against a real `omnihub serve`: an admin signs in at /inbox, connects a web
chat inbox through the form (a wrong setting is shown next to its field first) and sees the script tag to paste, then
opens the reports; screenshots of both go to artifacts/screenshots/ (CI artifacts)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

# Through the widget tests' module, which skips off CI when Chromium or playwright is missing.
from tests.conftest import inbox_of
from tests.e2e.served_hub import FakeWeChatApi, omnihub_command
from tests.e2e.test_browser_widget import (  # noqa: F401  (browser and hub_server are fixtures)
    UI_TIMEOUT_MS,
    Browser,
    Page,
    RunningHub,
    ask_from_the_demo_shop,
    browser,
    expect,
    hub_server,
    in_english,
    new_page,
    signed_in_admin,
)

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture
def admin(browser: Browser, hub_server: RunningHub) -> tuple[Page, list[str]]:  # noqa: F811
    """The demo admin signed in at /inbox, in English; the page and the console errors it records (CSP too)."""
    errors: list[str] = []
    page = signed_in_admin(browser, hub_server, errors)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return page, errors


def test_an_admin_connects_a_web_chat_inbox_through_the_form_and_sees_the_script_tag(
    admin: tuple[Page, list[str]],
    hub_server: RunningHub,  # noqa: F811
) -> None:
    page, errors = admin
    page.get_by_role("link", name="Admin").click()  # the inbox leads its admins to the admin pages
    expect(page).to_have_url(f"{hub_server.url}/admin/inboxes")
    page.get_by_role("link", name="Web chat", exact=True).click()
    page.get_by_label("Name", exact=True).fill("Shop <b>chat</b>")
    page.locator('[name="settings.color"]').fill("red")
    page.get_by_role("button", name="Create inbox").click()
    expect(page.locator('[data-error-for="settings.color"]')).to_contain_text(
        "pattern", timeout=UI_TIMEOUT_MS
    )
    page.screenshot(path=str(SCREENSHOTS / "admin-inbox-form.png"), full_page=True)

    page.locator('[name="settings.color"]').fill("#0f766e")
    page.get_by_role("button", name="Create inbox").click()
    expect(page).to_have_url(re.compile(r"/admin/inboxes/[0-9a-f-]{36}$"), timeout=UI_TIMEOUT_MS)
    snippet = page.locator('[data-fact="embed_snippet"]')
    expect(snippet).to_contain_text(
        f'<script src="{hub_server.url}/widget.js" data-widget-token="', timeout=UI_TIMEOUT_MS
    )
    expect(page.locator("h1")).to_contain_text("Shop <b>chat</b>")
    page.screenshot(path=str(SCREENSHOTS / "admin-inbox-created.png"), full_page=True)
    created = [
        inbox for inbox in hub_server.api.get("/api/v1/inboxes").json() if inbox["name"] == "Shop <b>chat</b>"
    ]
    assert len(created) == 1 and created[0]["settings"]["color"] == "#0f766e"
    assert created[0]["embed_snippet"] == snippet.text_content()
    assert [error for error in errors if "status of 422" not in error] == [], (
        "the refused try is the only error"
    )


def test_an_admin_connects_a_wechat_account_and_sees_the_callback_url_and_token_to_paste(
    admin: tuple[Page, list[str]],
    hub_server: RunningHub,  # noqa: F811
) -> None:
    """The form's settings are checked with WeChat (a stand-in of its API here) before the inbox exists; its page
    then shows the callback URL and token to paste into WeChat's console, and never the app secret."""
    page, errors = admin
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="WeChat official account", exact=True).click()
    page.get_by_label("Name", exact=True).fill("Tea shop WeChat")
    page.locator('[name="settings.app_id"]').fill("wx0123456789abcdef")
    page.locator('[name="settings.app_secret"]').fill("0123456789abcdef0123456789abcdef")  # never shown again
    page.locator('[name="settings.token"]').fill("TeaShopToken2026")
    page.locator('[name="settings.mode"]').select_option("plain")
    with FakeWeChatApi(access_token="stand-in-token") as wechat:
        page.locator('[name="settings.api_base_url"]').fill(wechat.url)
        page.get_by_role("button", name="Create inbox").click()
        expect(page).to_have_url(re.compile(r"/admin/inboxes/[0-9a-f-]{36}$"), timeout=UI_TIMEOUT_MS)
    inbox_id = page.url.rsplit("/", 1)[1]
    expect(page.locator('[data-fact="callback_url"]')).to_have_text(
        f"{hub_server.url}/webhooks/wechat_oa/{inbox_id}"
    )
    expect(page.locator('[data-fact="token"]')).to_have_text("TeaShopToken2026")
    secret = "0123456789abcdef0123456789abcdef"
    expect(page.locator("main")).not_to_contain_text(secret)
    assert errors == []


def test_an_admin_opens_the_reports_with_charts_drawn_on_the_server(
    admin: tuple[Page, list[str]],
    browser: Browser,  # noqa: F811
    hub_server: RunningHub,  # noqa: F811
) -> None:
    """A visitor's conversation from the demo shop is counted on today's row of its channel."""
    page, errors = admin
    ask_from_the_demo_shop(browser, hub_server, errors, "Where is my parcel?")
    page.goto(f"{hub_server.url}/admin/reports")
    expect(page.locator("#per-channel svg.chart")).to_be_visible()
    expect(page.locator("#csat svg.chart rect.bar")).to_have_count(5)
    today = page.locator("#per-channel tbody tr").last
    expect(today.locator("td.number")).to_contain_text(["1"])
    page.locator('select[name="channel"]').select_option("webchat")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"[?&]channel=webchat"))
    csv_link = page.get_by_role("link", name=re.compile("Download CSV")).first
    expect(csv_link).to_have_attribute("href", re.compile(r"^/api/v1/reports/export\?.*channel=webchat"))
    with page.expect_download() as download:
        csv_link.click()
    exported = Path(download.value.path()).read_text()
    assert exported.splitlines()[0].count(",") >= 2 and "webchat" in exported
    page.locator('select[data-preference="omnihub_lang"]').select_option("zh-CN")
    expect(page.locator("h1")).to_have_text("报表", timeout=UI_TIMEOUT_MS)
    page.locator('select[data-preference="omnihub_theme"]').select_option("dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark", timeout=UI_TIMEOUT_MS)
    page.screenshot(path=str(SCREENSHOTS / "admin-reports.png"), full_page=True)
    assert errors == []


def test_the_agents_page_changes_a_role_through_the_api_and_shows_its_refusal(
    admin: tuple[Page, list[str]],
    hub_server: RunningHub,  # noqa: F811
) -> None:
    """The demo admin is the workspace's only admin: demoting themselves is refused, and the page says why."""
    page, errors = admin
    page.goto(f"{hub_server.url}/admin/agents")
    row = page.locator("tr", has_text=hub_server.demo["admin_email"])
    role_form = row.locator("form", has=page.get_by_label("Role"))
    role_form.get_by_label("Role").select_option("agent")
    role_form.get_by_role("button", name="Save").click()
    expect(role_form.locator(".form-error")).to_contain_text("last admin", timeout=UI_TIMEOUT_MS)
    assert [error for error in errors if "status of 409" not in error] == []


@pytest.fixture(scope="module")
def plain_agent(hub_server: RunningHub) -> tuple[str, str]:  # noqa: F811
    """An agent of the demo workspace who is not an admin: email and password."""
    email, password = "plain.agent@demo.omnihub.local", "a plain agent's password"
    subprocess.run(
        [
            omnihub_command(),
            "create-admin",
            f"--email={email}",
            "--name=Plain Agent",
            f"--password={password}",
            "--workspace=Demo Shop",
        ],
        env=hub_server.environment,
        check=True,
        capture_output=True,
        timeout=60,
    )
    [agent] = [each for each in hub_server.api.get("/api/v1/agents").json() if each["email"] == email]
    demoted = hub_server.api.patch(f"/api/v1/agents/{agent['id']}", json={"role": "agent"})
    assert demoted.status_code == 200, demoted.text
    return email, password


@pytest.mark.parametrize(
    "path", ["/admin/inboxes", "/admin/inboxes/{webchat}", "/admin/kb", "/admin/webhooks", "/admin/reports"]
)
def test_an_agent_who_is_not_an_admin_sees_no_admin_link_and_is_refused_the_admin_pages(
    browser: Browser,  # noqa: F811
    hub_server: RunningHub,  # noqa: F811
    plain_agent: tuple[str, str],
    path: str,
) -> None:
    email, password = plain_agent
    errors: list[str] = []
    page = new_page(browser, errors)
    in_english(page, hub_server)
    page.goto(f"{hub_server.url}/inbox")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#connection")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("link", name="Tickets")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_be_hidden()

    answer = page.goto(hub_server.url + path.format(webchat=inbox_of(hub_server.demo, "webchat")["id"]))
    assert answer is not None and answer.status == 403
    expect(page.locator("main")).to_contain_text("Only administrators can open the admin pages.")
    expect(page.get_by_role("link", name="Reports")).to_have_count(0)
    expect(page.locator("form")).to_have_count(0)
    assert hub_server.widget_token not in page.content()
    assert [error for error in errors if "status of 403" not in error] == []
    page.context.close()
