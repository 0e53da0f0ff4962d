"""Every address of the agent inbox (a conversation, the tickets list, a ticket, a customer) serves the inbox's
shell under the strict policy, and every ES module the shell loads is served as JavaScript."""

from __future__ import annotations

import re

import pytest

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
