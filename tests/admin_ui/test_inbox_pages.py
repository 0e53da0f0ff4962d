"""Every address of the agent inbox (a conversation, the tickets list, a ticket, a customer) serves the inbox's
shell under the strict policy, and every ES module the shell loads is served as JavaScript."""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

import pytest

from admin_ui.pages import safe_return_path
from hub.statuses import AgentPresence, ConversationStatus, MessageStatus
from routing.tickets import TicketStatus

INBOX_ADDRESSES = [
    "/inbox",
    "/inbox/conversations/0190c2d5-8a4e-7c1b-9f00-000000000001",
    "/inbox/tickets",
    "/inbox/tickets/0190c2d5-8a4e-7c1b-9f00-000000000002",
    "/inbox/contacts/0190c2d5-8a4e-7c1b-9f00-000000000003",
]
IMPORT = re.compile(r'from "\./([a-z_]+\.js)"')


@pytest.mark.parametrize("address", INBOX_ADDRESSES)
def test_each_inbox_address_serves_the_shell_as_a_module_under_the_policy(client, address) -> None:
    response = client.get(address)
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert '<script src="/static/inbox.js" type="module"></script>' in response.text
    assert 'id="records"' in response.text and 'id="panes"' in response.text


def test_addresses_the_inbox_does_not_have_are_not_found(client) -> None:
    assert client.get("/inbox/tickets/a/b").status_code == 404
    assert client.get("/inbox/somewhere").status_code == 404


def test_every_module_the_inbox_imports_is_served_as_javascript(client) -> None:
    seen: set[str] = set()
    waiting = ["inbox.js"]
    while waiting:
        name = waiting.pop()
        seen.add(name)
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("text/javascript")
        waiting.extend(set(IMPORT.findall(response.text)) - seen)
    assert {
        "inbox_core.js",
        "inbox_customer.js",
        "inbox_canned.js",
        "inbox_records.js",
        "inbox_keys.js",
        "inbox_typing.js",
        "inbox_alerts.js",
        "inbox_mentions.js",
        "inbox_picker.js",
    } <= seen


def test_the_inbox_renders_customer_text_only_as_text(client) -> None:
    """No module of the inbox writes markup from data: text goes through textContent."""
    for name in (
        "inbox.js",
        "inbox_core.js",
        "inbox_customer.js",
        "inbox_canned.js",
        "inbox_records.js",
        "inbox_keys.js",
        "inbox_typing.js",
        "inbox_alerts.js",
        "inbox_mentions.js",
        "inbox_picker.js",
    ):
        source = client.get(f"/static/{name}").text
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", source), name


@pytest.mark.parametrize(
    ("cookie", "attribute"), [("dark", ' data-theme="dark"'), ("light", ' data-theme="light"')]
)
def test_the_theme_cookie_picks_light_or_dark(client, cookie, attribute) -> None:
    client.cookies.set("omnihub_theme", cookie)
    assert f'<html lang="en"{attribute}>' in client.get("/inbox").text


@pytest.mark.parametrize("cookie", [None, "neon", '"><script>'])
def test_without_a_known_theme_the_system_decides(client, cookie) -> None:
    if cookie is not None:
        client.cookies.set("omnihub_theme", cookie)
    html = client.get("/inbox").text
    assert '<html lang="en">' in html and "data-theme" not in html


def texts_of(html: str) -> dict[str, str]:
    """The catalogue the page hands its modules (the JSON script element)."""
    match = re.search(r'<script id="inbox-texts" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page carries its modules' texts"
    return json.loads(match.group(1))


def test_the_inbox_speaks_the_browsers_chinese_unless_the_cookie_says_english(client) -> None:
    chinese = client.get("/inbox", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}).text
    assert '<html lang="zh-CN">' in chinese
    assert "登录客服工作台" in chinese and ">分配给我<" in chinese and ">Assign to me<" not in chinese
    assert texts_of(chinese)["status:queued"] == "排队中"
    client.cookies.set("omnihub_lang", "en")
    english = client.get("/inbox", headers={"Accept-Language": "zh-CN"}).text
    assert '<html lang="en">' in english and ">Assign to me<" in english and "登录" not in english
    assert texts_of(english) == {}, "English is the modules' own text"


def test_every_text_the_inbox_shows_has_a_chinese_translation(client) -> None:
    """Each `t("...")` of the template and of every module, and each key the modules build (statuses, delivery
    states, shortcuts), is in the zh-CN catalogue: a new English text cannot slip in untranslated."""
    chinese = texts_of(client.get("/inbox", headers={"Accept-Language": "zh-CN"}).text)
    static = Path(__file__).resolve().parents[2] / "admin_ui"
    sources = [static / "templates" / "inbox.html", *sorted((static / "static").glob("inbox*.js"))]
    used = {key for source in sources for key in re.findall(r'\bt\("((?:[^"\\]|\\.)*)"', source.read_text())}
    built = {f"status:{status}" for status in [*ConversationStatus, *TicketStatus]}
    built |= {f"delivery:{status}" for status in MessageStatus} | {
        f"presence:{each}" for each in AgentPresence
    }
    built |= set(re.findall(r'\["[^"]+", "([^"]+)"\]', (static / "static" / "inbox_keys.js").read_text()))
    assert sorted((used | built) - chinese.keys()) == []


@pytest.mark.parametrize(
    "asked", ["/admin/reports?from=2026-01-01&channel=email", "/inbox/tickets/0190c2d5", "/admin/inboxes"]
)
def test_sign_in_returns_to_a_page_of_this_site(client, asked) -> None:
    assert safe_return_path(asked) == asked
    html = client.get("/inbox", params={"next": asked}).text
    assert f'data-return-to="{escape(asked)}"' in html


@pytest.mark.parametrize(
    "asked",
    [
        "//evil.example",
        "///evil.example",
        "https://evil.example/admin",
        "javascript:alert(1)",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "admin/inboxes",
        "",
        "/" + "a" * 3000,
    ],
)
def test_sign_in_never_returns_to_another_site(client, asked) -> None:
    assert safe_return_path(asked) is None
    assert "data-return-to" not in client.get("/inbox", params={"next": asked}).text
