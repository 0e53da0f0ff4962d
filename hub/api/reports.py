"""Reports under /api/v1/reports (admins): conversation figures with P50/P90/P99 per channel and per agent, the hourly
coverage of shifts against last week's arrivals, and conversations per day, for a date range, a channel and an agent;
each also as CSV (`/api/v1/reports/export?report=...`).

The figures are read from what the hub recorded as things happened (hub.handling, hub.csat, hub.outbound) and
computed by routing.metrics and routing.coverage; a conversation counts in the range it was created in.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, TypeVarTuple

import msgspec
import sqlalchemy
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy import Select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.dependencies import load_agent
from hub.api.fields import invalid_field
from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.fields import IdQuery
from hub.models import Agent, Conversation, HandlingSpan, Inbox
from hub.runtime import Hub
from routing.config import schedule_from_config
from routing.coverage import hourly_coverage
from routing.errors import InvalidSchedule
from routing.hours import ALWAYS_OPEN, WeeklySchedule, time_zone
from routing.metrics import (
    ConversationRecord,
    ConversationReport,
    Percentiles,
    average_handle_times,
    conversation_report,
    reports_by,
)
from routing.metrics import (
    HandlingSpan as Span,
)

__all__ = [
    "AgentFigures",
    "ChannelFigures",
    "ConversationFigures",
    "CoverageReport",
    "DailyReport",
    "ReportController",
    "SummaryReport",
]

Columns = TypeVarTuple("Columns")
DEFAULT_PERIOD = timedelta(days=7)
MAX_PERIOD = timedelta(days=366)
MAX_COVERAGE_HOURS = 31 * 24
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

FromQuery = Annotated[
    datetime | None,
    QueryParameter(
        name="from",
        description="Start of the range (ISO 8601; UTC when no offset is given). Default: 7 days ago.",
    ),
]
ToQuery = Annotated[
    datetime | None,
    QueryParameter(name="to", description="End of the range, excluded (ISO 8601). Default: now."),
]
ChannelQuery = Annotated[
    str | None,
    QueryParameter(
        pattern=r"^[a-z0-9_]{1,40}$", max_length=40, description="A channel kind (an inbox's `kind`)."
    ),
]
ZoneQuery = Annotated[
    str,
    QueryParameter(
        max_length=64,
        description="IANA time zone of the coverage's wall-clock hours and of the days. Default: UTC.",
    ),
]


class DurationPercentiles(msgspec.Struct):
    """Nearest-rank percentiles, in seconds, of the conversations that have the figure (null when none has)."""

    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    p99_seconds: float | None


class CsatFigures(msgspec.Struct):
    responses: int
    average: float | None
    distribution: dict[str, int]
    """Ratings given, by value `"1"` … `"5"`."""


class ConversationFigures(msgspec.Struct):
    conversations: int
    first_response: DurationPercentiles
    """From creation to the first reply by an agent (the bot's replies do not count)."""
    resolution: DurationPercentiles
    """From creation to resolution."""
    time_in_queue: DurationPercentiles
    """Time spent waiting for an agent, re-routes included, of the conversations an agent took."""
    bot_conversations: int
    """Conversations the bot replied in."""
    bot_deflected: int
    """Of those, resolved without an agent's reply."""
    bot_deflection_rate: float | None
    handoffs: int
    """Hand-overs from the bot to a person, and transfers."""
    csat: CsatFigures


class ChannelFigures(ConversationFigures):
    channel: str


class AgentFigures(ConversationFigures):
    """The conversations the agent holds (or held last), and their handling time."""

    agent_id: str
    name: str
    handled: int
    """Conversations the agent had a finished stretch of handling in."""
    average_handle_seconds: float | None
    """Handling time (assignment to resolution or hand-over) summed per conversation, averaged."""


class SummaryReport(msgspec.Struct):
    since: datetime = msgspec.field(name="from")
    to: datetime
    channel: str | None
    agent_id: str | None
    overall: ConversationFigures
    by_channel: list[ChannelFigures]


class HourCoverage(msgspec.Struct):
    hour_start: datetime
    agents_on_shift: int
    """Agents whose shift covers some of the hour (an agent without shifts is always on)."""
    arrivals_last_week: int
    """Conversations created in the same wall-clock hour one week earlier."""
    arrivals_per_agent: float | None
    """null when nobody is on shift."""


class CoverageReport(msgspec.Struct):
    time_zone: str
    hours: list[HourCoverage]


class DayFigures(msgspec.Struct):
    date: str
    """The local date in the report's time zone."""
    conversations: int
    resolved: int
    csat_average: float | None


class DailyReport(msgspec.Struct):
    time_zone: str
    days: list[DayFigures]


class ReportName(StrEnum):
    SUMMARY = "summary"
    AGENTS = "agents"
    COVERAGE = "coverage"
    DAILY = "daily"


@dataclass(frozen=True, slots=True)
class ReportScope:
    """What a report covers: conversations created in [since, until) of one channel and one agent, if given."""

    workspace_id: str
    since: datetime
    until: datetime
    channel: str | None
    agent_id: str | None
    zone: str


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


async def _scope(
    hub: Hub,
    session: AsyncSession,
    admin: Caller,
    since: datetime | None,
    until: datetime | None,
    channel: str | None,
    agent_id: str | None,
    zone: str,
) -> ReportScope:
    """The report's range and filters, or 422 naming the field at fault."""
    end = _aware(until) if until else hub.now()
    start = _aware(since) if since else end - DEFAULT_PERIOD
    if start >= end:
        raise invalid_field("from", "the range must start before it ends (`to`)")
    if end - start > MAX_PERIOD:
        raise invalid_field("to", f"a report covers at most {MAX_PERIOD.days} days")
    if channel is not None and channel not in hub.registry.kinds():
        raise invalid_field(
            "channel", f"unknown channel {channel!r}: use one of {', '.join(sorted(hub.registry.kinds()))}"
        )
    if agent_id is not None:
        try:
            await load_agent(session, admin, agent_id)
        except ApiError:
            raise invalid_field("agent_id", f"no agent {agent_id} in your workspace") from None
    try:
        time_zone(zone)
    except InvalidSchedule as refusal:
        raise invalid_field("time_zone", refusal.detail) from None
    return ReportScope(admin.workspace_id, start, end, channel, agent_id, zone)


def _filtered(statement: Select[*Columns], scope: ReportScope) -> Select[*Columns]:
    statement = statement.join(Inbox, col(Inbox.id) == col(Conversation.inbox_id)).where(
        col(Conversation.workspace_id) == scope.workspace_id,
        col(Conversation.created_at) >= scope.since,
        col(Conversation.created_at) < scope.until,
    )
    if scope.channel is not None:
        statement = statement.where(col(Inbox.kind) == scope.channel)
    if scope.agent_id is not None:
        statement = statement.where(col(Conversation.assignee_id) == scope.agent_id)
    return statement


async def _records(session: AsyncSession, scope: ReportScope) -> list[ConversationRecord]:
    rows = await session.execute(
        _filtered(
            sqlalchemy.select(
                col(Conversation.id),
                col(Inbox.kind),
                col(Conversation.assignee_id),
                col(Conversation.created_at),
                col(Conversation.first_response_at),
                col(Conversation.resolved_at),
                col(Conversation.queue_seconds),
                col(Conversation.bot_replied),
                col(Conversation.handoffs),
                col(Conversation.csat_rating),
            ),
            scope,
        )
    )
    return [
        ConversationRecord(
            conversation_id=conversation_id,
            channel=channel,
            agent_id=agent_id,
            created_at=created_at,
            first_response_at=first_response_at,
            resolved_at=resolved_at,
            time_in_queue=timedelta(seconds=queue_seconds) if agent_id is not None or queue_seconds else None,
            bot_replied=bot_replied,
            agent_replied=first_response_at is not None,
            handoffs=handoffs,
            csat=csat,
        )
        for (
            conversation_id,
            channel,
            agent_id,
            created_at,
            first_response_at,
            resolved_at,
            queue_seconds,
            bot_replied,
            handoffs,
            csat,
        ) in rows.all()
    ]


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _durations(figures: Percentiles) -> DurationPercentiles:
    return DurationPercentiles(
        figures.count, _seconds(figures.p50), _seconds(figures.p90), _seconds(figures.p99)
    )


def _figures(report: ConversationReport) -> dict[str, Any]:
    return {
        "conversations": report.conversations,
        "first_response": _durations(report.first_response),
        "resolution": _durations(report.resolution),
        "time_in_queue": _durations(report.time_in_queue),
        "bot_conversations": report.bot_conversations,
        "bot_deflected": report.bot_deflected,
        "bot_deflection_rate": report.bot_deflection_rate,
        "handoffs": report.handoffs,
        "csat": CsatFigures(
            responses=report.csat_responses,
            average=report.csat_average,
            distribution={str(rating): count for rating, count in enumerate(report.csat_counts, start=1)},
        ),
    }


async def _agents(session: AsyncSession, scope: ReportScope) -> list[Agent]:
    """The workspace's agents (the one of the report's filter), by name."""
    statement = select(Agent).where(Agent.workspace_id == scope.workspace_id)
    if scope.agent_id is not None:
        statement = statement.where(Agent.id == scope.agent_id)
    return sorted((await session.exec(statement)).all(), key=lambda agent: (agent.name, agent.id))


async def summary_report(session: AsyncSession, scope: ReportScope) -> SummaryReport:
    records = await _records(session, scope)
    return SummaryReport(
        since=scope.since,
        to=scope.until,
        channel=scope.channel,
        agent_id=scope.agent_id,
        overall=ConversationFigures(**_figures(conversation_report(records))),
        by_channel=[
            ChannelFigures(channel=channel or "", **_figures(report))
            for channel, report in sorted(reports_by(records, lambda record: record.channel).items())
        ],
    )


async def agents_report(session: AsyncSession, scope: ReportScope) -> list[AgentFigures]:
    records = await _records(session, scope)
    per_agent = reports_by(records, lambda record: record.agent_id)
    spans = _filtered(
        sqlalchemy.select(
            col(HandlingSpan.agent_id),
            col(HandlingSpan.conversation_id),
            col(HandlingSpan.started_at),
            col(HandlingSpan.ended_at),
        )
        .join(Conversation, col(Conversation.id) == col(HandlingSpan.conversation_id))
        .where(col(HandlingSpan.ended_at).is_not(None)),
        replace(scope, agent_id=None),
    )
    if scope.agent_id is not None:
        spans = spans.where(col(HandlingSpan.agent_id) == scope.agent_id)
    handle_times = {
        each.agent_id: each
        for each in average_handle_times([Span(*span) for span in (await session.execute(spans)).all()])
    }
    empty = conversation_report([])
    return [
        AgentFigures(
            agent_id=agent.id,
            name=agent.name,
            handled=handle_times[agent.id].conversations if agent.id in handle_times else 0,
            average_handle_seconds=(
                handle_times[agent.id].average.total_seconds() if agent.id in handle_times else None
            ),
            **_figures(per_agent.get(agent.id, empty)),
        )
        for agent in await _agents(session, scope)
    ]


async def coverage_report(session: AsyncSession, scope: ReportScope) -> CoverageReport:
    """Every hour of the range: agents on shift beside the conversations of the same hour a week before."""
    hours = math.ceil((scope.until - scope.since) / timedelta(hours=1))
    if hours > MAX_COVERAGE_HOURS:
        raise invalid_field("to", f"coverage covers at most {MAX_COVERAGE_HOURS // 24} days")
    shifts: dict[str, WeeklySchedule] = {
        agent.id: schedule_from_config(agent.shifts) if agent.shifts else ALWAYS_OPEN
        for agent in await _agents(session, scope)
    }
    week_before = replace(
        scope, since=scope.since - timedelta(days=8), until=scope.until - timedelta(days=6), agent_id=None
    )
    arrivals = (
        (await session.execute(_filtered(sqlalchemy.select(col(Conversation.created_at)), week_before)))
        .scalars()
        .all()
    )
    coverage = hourly_coverage(scope.since, hours, shifts, list(arrivals), scope.zone)
    return CoverageReport(
        time_zone=scope.zone,
        hours=[
            HourCoverage(
                hour_start=hour.hour_start,
                agents_on_shift=hour.agents_on_shift,
                arrivals_last_week=hour.arrivals_last_week,
                arrivals_per_agent=hour.arrivals_per_agent,
            )
            for hour in coverage
        ],
    )


async def daily_report(session: AsyncSession, scope: ReportScope) -> DailyReport:
    zone = time_zone(scope.zone)
    rows = await session.execute(
        _filtered(
            sqlalchemy.select(
                col(Conversation.created_at), col(Conversation.resolved_at), col(Conversation.csat_rating)
            ),
            scope,
        )
    )
    created: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    ratings: dict[str, list[int]] = {}
    for created_at, resolved_at, rating in rows.all():
        day = created_at.astimezone(zone).date().isoformat()
        created[day] += 1
        resolved[day] += resolved_at is not None
        if rating is not None:
            ratings.setdefault(day, []).append(rating)
    first, last = (
        scope.since.astimezone(zone).date(),
        (scope.until - timedelta.resolution).astimezone(zone).date(),
    )
    days = [(first + timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]
    return DailyReport(
        time_zone=scope.zone,
        days=[
            DayFigures(
                date=day,
                conversations=created[day],
                resolved=resolved[day],
                csat_average=sum(ratings[day]) / len(ratings[day]) if day in ratings else None,
            )
            for day in days
        ],
    )


def _flat(prefix: str, value: Any, into: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else key, inner, into)
    else:
        into[prefix] = value
    return into


def _cell(value: Any) -> Any:
    """Text opened in a spreadsheet is never run as a formula (an agent named `=HYPERLINK(...)`)."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def report_csv(rows: Sequence[msgspec.Struct]) -> str:
    """One line per row, nested figures as dotted columns (`first_response.p90_seconds`)."""
    flat = [_flat("", msgspec.to_builtins(row), {}) for row in rows]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = list(flat[0]) if flat else []
    writer.writerow(columns)
    for row in flat:
        writer.writerow([_cell("" if row.get(column) is None else row.get(column)) for column in columns])
    return out.getvalue()


class ReportController(Controller):
    path = "/reports"
    tags = ("reports",)

    @get("/summary", responses=error_responses(400, 401, 422))
    async def summary(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        since: FromQuery = None,
        until: ToQuery = None,
        channel: ChannelQuery = None,
        agent_id: IdQuery = None,
    ) -> SummaryReport:
        """First response, resolution and queue times (P50/P90/P99), bot deflection, hand-overs and CSAT of the
        conversations created in the range, overall and per channel (admins only)."""
        scope = await _scope(hub, session, admin, since, until, channel, agent_id, "UTC")
        return await summary_report(session, scope)

    @get("/agents", responses=error_responses(400, 401, 422))
    async def agents(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        since: FromQuery = None,
        until: ToQuery = None,
        channel: ChannelQuery = None,
        agent_id: IdQuery = None,
    ) -> list[AgentFigures]:
        """The same figures per agent (of the conversations they hold), with their average handle time."""
        scope = await _scope(hub, session, admin, since, until, channel, agent_id, "UTC")
        return await agents_report(session, scope)

    @get("/coverage", responses=error_responses(400, 401, 422))
    async def coverage(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        since: FromQuery = None,
        until: ToQuery = None,
        channel: ChannelQuery = None,
        agent_id: IdQuery = None,
        time_zone: ZoneQuery = "UTC",
    ) -> CoverageReport:
        """Per hour of the range (31 days at most): agents on shift, and the conversations (of the channel) that
        arrived in the same wall-clock hour of `time_zone` one week earlier."""
        scope = await _scope(hub, session, admin, since, until, channel, agent_id, time_zone)
        return await coverage_report(session, scope)

    @get("/daily", responses=error_responses(400, 401, 422))
    async def daily(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        since: FromQuery = None,
        until: ToQuery = None,
        channel: ChannelQuery = None,
        agent_id: IdQuery = None,
        time_zone: ZoneQuery = "UTC",
    ) -> DailyReport:
        """Conversations created and resolved, and the average rating, per local day of `time_zone`."""
        scope = await _scope(hub, session, admin, since, until, channel, agent_id, time_zone)
        return await daily_report(session, scope)

    @get("/export", media_type="text/csv", responses=error_responses(400, 401, 422))
    async def export(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        report: Annotated[ReportName, QueryParameter(description="Which report.")] = ReportName.SUMMARY,
        since: FromQuery = None,
        until: ToQuery = None,
        channel: ChannelQuery = None,
        agent_id: IdQuery = None,
        time_zone: ZoneQuery = "UTC",
    ) -> Response[str]:
        """A report (`summary`: one line overall then one per channel; `agents`; `coverage`; `daily`) as CSV."""
        scope = await _scope(hub, session, admin, since, until, channel, agent_id, time_zone)
        rows: Sequence[msgspec.Struct]
        if report is ReportName.SUMMARY:
            summary = await summary_report(session, scope)
            rows = [
                ChannelFigures(channel="all", **msgspec.structs.asdict(summary.overall)),
                *summary.by_channel,
            ]
        elif report is ReportName.AGENTS:
            rows = await agents_report(session, scope)
        elif report is ReportName.COVERAGE:
            rows = (await coverage_report(session, scope)).hours
        else:
            rows = (await daily_report(session, scope)).days
        return Response(
            report_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{report}.csv"'},
        )
