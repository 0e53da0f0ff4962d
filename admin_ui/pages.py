"""The hub's own pages (agent inbox, demo shop) and their static assets.

Pages are static markup plus same-origin JavaScript that calls the public API, under a strict
Content-Security-Policy. The one page with server-side data (the demo shop) is rendered by Jinja
with autoescaping, so nothing stored in the database can become markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader
from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File, Redirect
from sqlmodel import col, select

from admin_ui.i18n import LANG_COOKIE, THEME_COOKIE, chosen_language, chosen_theme, script_texts, translator
from hub.auth import SESSION_COOKIE
from hub.models import Inbox

if TYPE_CHECKING:
    from hub.runtime import Hub

__all__ = ["content_security_policy", "routes", "safe_return_path"]

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
STATIC_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Served by name from this fixed table, so no request path ever reaches the file system.
STATIC_FILES = {
    path.name: path for path in STATIC_DIR.iterdir() if path.is_file() and path.suffix in STATIC_CONTENT_TYPES
}

templates = Environment(loader=FileSystemLoader(PACKAGE_DIR / "templates"), autoescape=True)


def content_security_policy(public_url: str) -> str:
    """Same-origin scripts, styles and API calls only; no inline script; never framed (clickjacking)."""
    parts = urlsplit(public_url)
    socket_scheme = "wss" if parts.scheme == "https" else "ws"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' {socket_scheme}://{parts.netloc}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def render_page(request: Request, template_name: str, status_code: int = 200, **context: Any) -> Response:
    headers = {
        "Content-Security-Policy": content_security_policy(request.app.state.settings.public_url),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
    body = templates.get_template(template_name).render(**context)
    return Response(body, status_code=status_code, media_type="text/html; charset=utf-8", headers=headers)


async def oldest_widget(hub: Hub) -> tuple[Inbox, str] | None:
    """The first inbox whose channel a web page embeds, with its widget token (its connector describes one)."""
    async with hub.database.session() as session:
        inboxes = (await session.exec(select(Inbox).order_by(col(Inbox.created_at), col(Inbox.id)))).all()
    for inbox in inboxes:
        if inbox.kind in hub.registry:
            widget_token = hub.connector_for(inbox).describe().get("widget_token")
            if widget_token:
                return inbox, widget_token
    return None


RETURN_PATH_LIMIT = 2000


def safe_return_path(requested: str | None) -> str | None:
    """Where sign-in may send the agent back to: a path of this site only. `//host`, a backslash (browsers read it
    as a slash), a scheme, or a control character (browsers drop tabs and newlines: `/<tab>/host` is `//host`)
    would leave the site."""
    if not requested or len(requested) > RETURN_PATH_LIMIT or not requested.startswith("/"):
        return None
    if (
        requested.startswith("//")
        or "\\" in requested
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in requested)
    ):
        return None
    parts = urlsplit(requested)
    if parts.scheme or parts.netloc:
        return None
    return requested


@get("/", include_in_schema=False)
async def home() -> Redirect:
    return Redirect("/inbox")


@get(
    [
        "/inbox",
        "/inbox/conversations/{record_id:str}",
        "/inbox/tickets",
        "/inbox/tickets/{record_id:str}",
        "/inbox/contacts/{record_id:str}",
    ],
    include_in_schema=False,
)
async def inbox_page(request: Request) -> Response:
    """The agent inbox: a static shell; inbox.js signs in, drives the REST API and agent WebSocket, and opens the
    conversation, ticket list, ticket or customer its address names (the API decides whether the agent may see
    it). Whether the browser holds a session cookie tells the script to ask for the session instead of showing
    the sign-in form; `?next=` is the page (an admin page) to go back to after signing in, if it is one of ours.
    The texts are in the language the admin pages would choose, and the modules get theirs in the page."""
    language = chosen_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language", ""))
    return render_page(
        request,
        "inbox.html",
        has_session_cookie=SESSION_COOKIE in request.cookies,
        theme=chosen_theme(request.cookies.get(THEME_COOKIE)),
        language=language,
        t=translator(language),
        texts=script_texts(language),
        return_to=safe_return_path(request.query_params.get("next")),
    )


@get("/demo", include_in_schema=False)
async def demo_shop(request: Request) -> Response:
    """A pretend shop with the widget embedded exactly as a customer's site would embed it."""
    widget = await oldest_widget(request.app.state.hub)
    if widget is None:
        return render_page(request, "demo.html", status_code=404, inbox=None)
    inbox, widget_token = widget
    return render_page(request, "demo.html", inbox=inbox, widget_token=widget_token)


@get("/static/{name:str}", include_in_schema=False)
async def static_asset(name: FromPath[str]) -> File:
    path = STATIC_FILES.get(name)
    if path is None:
        raise NotFoundException("No such static file.")
    return File(
        path,
        content_disposition_type="inline",
        media_type=STATIC_CONTENT_TYPES[path.suffix],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def routes() -> list:
    return [home, inbox_page, demo_shop, static_asset]
