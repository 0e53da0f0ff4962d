"""The hub's own pages and assets: security headers, escaping, and no way out of the static folder."""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient
from sqlmodel import select

from hub.app import create_app
from hub.models import Inbox
from tests.conftest import inbox_of, run

HTML_PAGES = ["/inbox", "/demo"]


def test_root_redirects_to_the_inbox(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (301, 302, 303, 307)
    assert response.headers["location"] == "/inbox"


@pytest.mark.parametrize("path", HTML_PAGES)
def test_pages_carry_a_strict_content_security_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = dict(
        part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["connect-src"] == "'self' ws://testserver.local"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", HTML_PAGES)
def test_pages_have_no_inline_script_or_style(client, path):
    html = client.get(path).text
    data = 'type="application/json"'  # a data block (the inbox's texts) is never run
    scripts = [tag for tag in re.findall(r"<script\b[^>]*>", html) if data not in tag]
    assert scripts and all(' src="/' in tag for tag in scripts)
    assert "<style" not in html and " style=" not in html and " on" + "click=" not in html


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/inbox.js", "text/javascript"),
        ("/static/inbox.css", "text/css"),
        ("/static/demo.css", "text/css"),
    ],
)
def test_assets_are_served_with_their_content_type(client, path, content_type):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.content) > 500


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/%2e%2e/pyproject.toml",
        "/static/..%2fpages.py",
        "/static/%2e%2e%2fpages.py",
        "/static/..%5cpages.py",
        "/static/.",
        "/static/",
        "/static/nothing.js",
        "/static/../templates/inbox.html",
    ],
)
def test_static_paths_outside_the_asset_table_are_not_found(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert b"import" not in response.content and b"<html" not in response.content


def test_demo_embeds_the_demo_widget(client, demo):
    html = client.get("/demo").text
    widget_token = inbox_of(demo, "webchat")["widget_token"]
    assert f'<script src="/widget.js" data-widget-token="{widget_token}" async></script>' in html


def test_demo_escapes_the_inbox_name(client, demo, settings):
    hostile = '<script>alert("x")</script> & "friends"'

    async def rename(hub):
        async with hub.database.session() as session:
            inbox = (
                await session.exec(select(Inbox).where(Inbox.id == inbox_of(demo, "webchat")["id"]))
            ).one()
            inbox.name = hostile
            session.add(inbox)
            await session.commit()

    run(rename, settings)
    html = client.get("/demo").text
    assert hostile not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;friends&#34;" in html


def test_demo_without_a_web_chat_inbox_says_how_to_make_one(settings):
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        response = client.get("/demo")
    assert response.status_code == 404
    assert "omnihub demo" in response.text
    assert "widget.js" not in response.text
