"""The admin pages under /admin: inboxes, agents and teams, the bot's knowledge base, webhooks and reports.

Rendered on the server from the same functions the API answers with, for the admin signed in to the inbox (its
session cookie); anyone else signed in gets a 403 page, nobody signed in goes to the inbox's sign-in. Every change
is posted by admin.js to the JSON API with the session's CSRF token, so the API's validation and errors are the
pages' too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from admin_ui.charts import bar_chart, line_chart
from admin_ui.i18n import LANG_COOKIE, THEME_COOKIE, chosen_language, chosen_theme, translator
from admin_ui.pages import render_page
from hub.api.agents import agent_views
from hub.api.inbox_health import inbox_health_of
from hub.api.inboxes import inbox_view
from hub.api.knowledge_base import article_view
from hub.api.out_of_scope_examples import example_views
from hub.api.paging import id_page
from hub.api.reports import ReportScope, agents_report, daily_report, summary_report
from hub.api.routing import routing_view
from hub.api.service_levels import hours_view
from hub.api.webhooks import delivery_view
from hub.auth import SESSION_COOKIE, Caller, authenticate, csrf_token
from hub.errors import ApiError
from hub.ids import looks_like_id
from hub.models import (
    Agent,
    Inbox,
    InboxService,
    KbArticle,
    Team,
    TeamMember,
    WebhookDelivery,
    WebhookSubscription,
)
from hub.pollers import poll_states
from hub.statuses import AgentRole
from hub.webhooks import EVENT_TYPES
from routing.out_of_hours import OutOfHoursAction
from routing.policy import Strategy

if TYPE_CHECKING:
    from pydantic import BaseModel

    from hub.runtime import Hub

__all__ = ["admin_routes"]

PAGE_SIZE = 50
DELIVERY_PAGE_SIZE = 25
REPORT_DAYS = 7
MAX_REPORT_DAYS = 366
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NAVIGATION = (
    ("inboxes", "/admin/inboxes", "Inboxes"),
    ("agents", "/admin/agents", "Agents and teams"),
    ("kb", "/admin/kb", "Knowledge base"),
    ("webhooks", "/admin/webhooks", "Webhooks"),
    ("reports", "/admin/reports", "Reports"),
)


@dataclass(frozen=True, slots=True)
class SettingField:
    """One input of the new-inbox form, read from the channel's settings model."""

    name: str
    label: str
    input: str
    """`text`, `password`, `number`, `checkbox`, `textarea` or `select`."""
    value_type: str
    """How admin.js reads it into the JSON body: `text`, `int`, `float`, `bool` or `lines`."""
    required: bool
    default: str
    description: str
    choices: tuple[str, ...] = ()


class Denied(Exception):
    """The page answers without rendering: the sign-in redirect or the 403 page."""

    def __init__(self, response: Response) -> None:
        self.response = response


async def _admin(request: Request) -> Caller:
    """The admin whose inbox session cookie came with the request."""
    token = request.cookies.get(SESSION_COOKIE)
    try:
        caller = await authenticate(request.app.state.hub, token)
    except ApiError:
        asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise Denied(Redirect(f"/inbox?{urlencode({'next': asked})}")) from None
    if caller.agent is None or "admin" not in caller.scopes:
        raise Denied(_render(request, caller, "admin/denied.html", "", status_code=403))
    return caller


def _render(
    request: Request, caller: Caller, template: str, section: str, status_code: int = 200, **context: Any
) -> Response:
    language = chosen_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language", ""))
    token = request.cookies.get(SESSION_COOKIE) or ""
    return render_page(
        request,
        template,
        status_code=status_code,
        t=translator(language),
        language=language,
        theme=chosen_theme(request.cookies.get(THEME_COOKIE)),
        csrf_token=csrf_token(token),
        me=caller.agent,
        navigation=() if status_code == 403 else NAVIGATION,
        section=section,
        **context,
    )


def _not_found(request: Request, caller: Caller) -> Response:
    return _render(request, caller, "admin/not_found.html", "", status_code=404)


async def _page(request: Request, build: Any) -> Response:
    """Run a page's builder for the signed-in admin, or answer the redirect or 403 page."""
    try:
        caller = await _admin(request)
    except Denied as denied:
        return denied.response
    hub: Hub = request.app.state.hub
    async with hub.database.session() as session:
        return await build(caller, hub, session)


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def setting_fields(model: type[BaseModel]) -> list[SettingField]:
    """The settings model's fields as form inputs: secrets as password inputs, lists one item a line."""
    schema = model.model_json_schema()
    definitions = schema.get("$defs", {})
    required = set(schema.get("required", []))
    fields = []
    for name, spec in schema["properties"].items():
        options = [option for option in spec.get("anyOf", [spec]) if option.get("type") != "null"]
        kind = options[0] if options else spec
        if "$ref" in kind:
            kind = definitions.get(kind["$ref"].rsplit("/", 1)[-1], {})
        default = spec.get("default")
        choices = tuple(str(choice) for choice in kind.get("enum", ()))
        value_type, widget = "text", "text"
        if choices:
            widget = "select"
        elif kind.get("type") == "integer":
            value_type, widget = "int", "number"
        elif kind.get("type") == "number":
            value_type, widget = "float", "number"
        elif kind.get("type") == "boolean":
            value_type, widget = "bool", "checkbox"
        elif kind.get("type") == "array":
            value_type, widget = "lines", "textarea"
        elif kind.get("format") == "password":
            widget = "password"
        fields.append(
            SettingField(
                name=name,
                label=spec.get("title") or _label(name),
                input=widget,
                value_type=value_type,
                required=name in required,
                default="\n".join(map(str, default))
                if isinstance(default, list)
                else ("" if default is None else str(default)),
                description=spec.get("description", ""),
                choices=choices,
            )
        )
    return fields


async def _inbox(session: AsyncSession, caller: Caller, inbox_id: str) -> Inbox | None:
    if not looks_like_id(inbox_id):
        return None
    return (
        await session.exec(
            select(Inbox).where(Inbox.id == inbox_id, Inbox.workspace_id == caller.workspace_id)
        )
    ).first()


async def _teams(session: AsyncSession, workspace_id: str) -> list[tuple[Team, list[str]]]:
    teams = (
        await session.exec(select(Team).where(Team.workspace_id == workspace_id).order_by(col(Team.name)))
    ).all()
    members: dict[str, list[str]] = {}
    for team_id, agent_id in (
        await session.exec(
            select(TeamMember.team_id, TeamMember.agent_id).where(TeamMember.workspace_id == workspace_id)
        )
    ).all():
        members.setdefault(team_id, []).append(agent_id)
    return [(team, members.get(team.id, [])) for team in teams]


@get("/admin", include_in_schema=False)
async def admin_home() -> Redirect:
    return Redirect("/admin/inboxes")


@get("/admin/inboxes", include_in_schema=False)
async def inboxes_page(request: Request) -> Response:
    async def build(caller: Caller, hub: Hub, session: AsyncSession) -> Response:
        rows = (
            await session.exec(
                select(Inbox)
                .where(Inbox.workspace_id == caller.workspace_id)
                .order_by(col(Inbox.created_at), col(Inbox.id))
            )
        ).all()
        states = await poll_states(hub, [inbox.id for inbox in rows])
        kinds = [(kind, hub.registry.get(kind).display_name) for kind in hub.registry.kinds()]
        return _render(
            request,
            caller,
            "admin/inboxes.html",
            "inboxes",
            inboxes=[inbox_view(hub, inbox, states.get(inbox.id)) for inbox in rows],
            kinds=kinds,
        )

    return await _page(request, build)


@get("/admin/inboxes/new/{kind:str}", include_in_schema=False)
async def new_inbox_page(request: Request, kind: FromPath[str]) -> Response:
    async def build(caller: Caller, hub: Hub, session: AsyncSession) -> Response:
        if kind not in hub.registry:
            return _not_found(request, caller)
        connector = hub.registry.get(kind)
        return _render(
            request,
            caller,
            "admin/inbox_new.html",
            "inboxes",
            kind=kind,
            display_name=connector.display_name,
            fields=setting_fields(connector.settings_model),
            strategies=list(Strategy),
        )

    return await _page(request, build)


@get("/admin/inboxes/{inbox_id:str}", include_in_schema=False)
async def inbox_page(request: Request, inbox_id: FromPath[str]) -> Response:
    async def build(caller: Caller, hub: Hub, session: AsyncSession) -> Response:
        inbox = await _inbox(session, caller, inbox_id)
        if inbox is None:
            return _not_found(request, caller)
        facts: dict[str, Any] = {}
        if inbox.kind in hub.registry:
            connector = hub.connector_for(inbox)
            facts = {**connector.describe(), **connector.console_settings()}
        service = await session.get(InboxService, inbox.id) or InboxService(
            inbox_id=inbox.id, workspace_id=caller.workspace_id
        )
        return _render(
            request,
            caller,
            "admin/inbox.html",
            "inboxes",
            inbox=inbox_view(hub, inbox, (await poll_states(hub, [inbox.id])).get(inbox.id)),
            facts=facts,
            health=await inbox_health_of(hub, session, inbox),
            routing=routing_view(inbox),
            hours=hours_view(hub, service),
            teams=await _teams(session, caller.workspace_id),
            strategies=list(Strategy),
            weekdays=WEEKDAYS,
            out_of_hours_actions=list(OutOfHoursAction),
        )

    return await _page(request, build)


@get("/admin/agents", include_in_schema=False)
async def agents_page(request: Request) -> Response:
    async def build(caller: Caller, hub: Hub, session: AsyncSession) -> Response:
        agents = (
            await session.exec(
                select(Agent).where(Agent.workspace_id == caller.workspace_id).order_by(col(Agent.name))
            )
        ).all()
        views = await agent_views(session, hub.agent_connections, caller.workspace_id, list(agents))
        return _render(
            request,
            caller,
            "admin/agents.html",
            "agents",
            agents=views,
            names={agent.id: agent.name for agent in views},
            roles=[role.value for role in AgentRole],
            teams=await _teams(session, caller.workspace_id),
        )

    return await _page(request, build)


@get("/admin/kb", include_in_schema=False)
async def knowledge_base_page(request: Request, cursor: FromQuery[str | None] = None) -> Response:
    async def build(caller: Caller, hub: Hub, session: AsyncSession) -> Response:
        statement = select(KbArticle).where(KbArticle.workspace_id == caller.workspace_id)
        page, next_cursor = await id_page(
            session,
            statement,
            col(KbArticle.id),
            cursor if cursor and looks_like_id(cursor) else None,
            PAGE_SIZE,
        )
        return _render(
            request,
            caller,
            "admin/kb.html",
            "kb",
            articles=[article_view(row) for row in page],
            next_cursor=next_cursor,
            out_of_scope_examples=await example_views(session, caller.workspace_id),
        )

    return await _page(request, build)


@get("/admin/kb/{article_id:str}", include_in_schema=False)
async def article_page(request: Request, article_id: FromPath[str]) -> Response:
    async def build(caller: Caller, hub: Hub, session: AsyncSession) -> Response:
        row = (
            await session.exec(
                select(KbArticle).where(
                    KbArticle.id == article_id, KbArticle.workspace_id == caller.workspace_id
                )
            )
            if looks_like_id(article_id)
            else None
        )
        article = row.first() if row is not None else None
        if article is None:
            return _not_found(request, caller)
        return _render(request, caller, "admin/article.html", "kb", article=article_view(article))

    return await _page(request, build)


@get("/admin/webhooks", include_in_schema=False)
async def webhooks_page(request: Request) -> Response:
    async def build(caller: Caller, hub: Hub, session: AsyncSession) -> Response:
        subscriptions = (
            await session.exec(
                select(WebhookSubscription)
                .where(WebhookSubscription.workspace_id == caller.workspace_id)
                .order_by(col(WebhookSubscription.id))
            )
        ).all()
        return _render(
            request,
            caller,
            "admin/webhooks.html",
            "webhooks",
            subscriptions=subscriptions,
            event_types=sorted(EVENT_TYPES),
        )

    return await _page(request, build)


@get("/admin/webhooks/{subscription_id:str}", include_in_schema=False)
async def webhook_page(
    request: Request, subscription_id: FromPath[str], cursor: FromQuery[str | None] = None
) -> Response:
    async def build(caller: Caller, hub: Hub, session: AsyncSession) -> Response:
        subscription = (
            (
                await session.exec(
                    select(WebhookSubscription).where(
                        WebhookSubscription.id == subscription_id,
                        WebhookSubscription.workspace_id == caller.workspace_id,
                    )
                )
            ).first()
            if looks_like_id(subscription_id)
            else None
        )
        if subscription is None:
            return _not_found(request, caller)
        page, next_cursor = await id_page(
            session,
            select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id),
            col(WebhookDelivery.id),
            cursor if cursor and looks_like_id(cursor) else None,
            DELIVERY_PAGE_SIZE,
            newest_first=True,
        )
        return _render(
            request,
            caller,
            "admin/webhook.html",
            "webhooks",
            subscription=subscription,
            deliveries=[delivery_view(row) for row in page],
            next_cursor=next_cursor,
        )

    return await _page(request, build)


def _report_range(since: str | None, until: str | None, today: date) -> tuple[date, date, str | None]:
    """The inclusive days the report covers (default: the last week), or the reason the form's dates are wrong."""
    try:
        last = date.fromisoformat(until) if until else today
        first = date.fromisoformat(since) if since else last - timedelta(days=REPORT_DAYS - 1)
    except ValueError:
        return today - timedelta(days=REPORT_DAYS - 1), today, "Dates are written YYYY-MM-DD."
    if first > last:
        return last, last, "The range must start before it ends."
    if (last - first).days >= MAX_REPORT_DAYS:
        return (
            last - timedelta(days=MAX_REPORT_DAYS - 1),
            last,
            f"A report covers at most {MAX_REPORT_DAYS} days.",
        )
    return first, last, None


@get("/admin/reports", include_in_schema=False)
async def reports_page(
    request: Request,
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
    channel: FromQuery[str | None] = None,
) -> Response:
    async def build(caller: Caller, hub: Hub, session: AsyncSession) -> Response:
        first, last, problem = _report_range(since or None, until or None, hub.now().date())
        chosen = channel if channel in hub.registry.kinds() else None
        scope = ReportScope(
            workspace_id=caller.workspace_id,
            since=datetime.combine(first, datetime.min.time(), UTC),
            until=datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC),
            channel=chosen,
            agent_id=None,
            zone="UTC",
        )
        summary = await summary_report(session, scope)
        channels = [chosen] if chosen else hub.registry.kinds()
        per_channel = {
            kind: [
                day.conversations for day in (await daily_report(session, replace(scope, channel=kind))).days
            ]
            for kind in channels
        }
        days = [day.date for day in (await daily_report(session, scope)).days]
        agents = await agents_report(session, scope)
        csat = summary.overall.csat.distribution
        export = {"from": scope.since.isoformat(), "to": scope.until.isoformat()} | (
            {"channel": chosen} if chosen else {}
        )
        exports = {
            report: "/api/v1/reports/export?" + urlencode({"report": report} | export)
            for report in ("summary", "agents", "daily")
        }
        return _render(
            request,
            caller,
            "admin/reports.html",
            "reports",
            problem=problem,
            first=first.isoformat(),
            last=last.isoformat(),
            channel=chosen,
            kinds=hub.registry.kinds(),
            summary=summary,
            days=days,
            per_channel=per_channel,
            daily_chart=line_chart(days, per_channel),
            csat_chart=bar_chart([(rating, count) for rating, count in csat.items()]),
            agents=agents,
            agents_chart=bar_chart([(agent.name, agent.handled) for agent in agents]),
            exports=exports,
        )

    return await _page(request, build)


def admin_routes() -> list:
    return [
        admin_home,
        inboxes_page,
        new_inbox_page,
        inbox_page,
        agents_page,
        knowledge_base_page,
        article_page,
        webhooks_page,
        webhook_page,
        reports_page,
    ]
