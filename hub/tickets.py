"""Tickets in the hub: opened by an agent, by a mail that starts a new thread, or by a message out of hours;
changed through routing's ticket lifecycle; SLA due times from the inbox's targets, counted in its business hours.

routing decides (`routing.tickets.ticket_transition`, `routing.sla`); this module loads the inbox's service
level, applies the decision to the row and records the event in the outbox of the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import events
from hub.models import Conversation, InboxService, Ticket
from hub.statuses import TicketSource
from hub.views import TicketSla, TicketView, WorkspaceEvent
from routing.config import schedule_from_config, sla_policy_from_config
from routing.errors import InvalidTransition
from routing.hours import ALWAYS_OPEN, WeeklySchedule
from routing.out_of_hours import OutOfHoursAction
from routing.sla import Priority, SlaDue, SlaMetric, SlaPolicy, SlaProgress, next_breach_check, sla_due
from routing.tickets import (
    Close,
    Solve,
    TicketEvent,
    TicketRules,
    TicketState,
    TicketStatus,
    ticket_transition,
)
from routing.transitions import AgentReplied, CustomerWrote, SetOpen, SetPending

__all__ = [
    "BREACHED_AT",
    "ServiceLevel",
    "TicketChanges",
    "add_ticket",
    "agent_replied",
    "apply_changes",
    "customer_wrote",
    "new_ticket",
    "next_sla_check",
    "record_created",
    "service_level",
    "service_levels",
    "sla_snapshot",
    "ticket_view",
]

TICKET_RULES = TicketRules()
BREACHED_AT = {
    SlaMetric.FIRST_RESPONSE: "first_response_breached_at",
    SlaMetric.RESOLUTION: "resolution_breached_at",
}
"""The column that records each metric's breach: set once, by the update that emits it."""


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    """An inbox's promises, read from its `InboxService` row; an inbox without one is always open, with no SLA."""

    hours: WeeklySchedule = ALWAYS_OPEN
    sla: SlaPolicy = field(default_factory=SlaPolicy)
    out_of_hours_message: str = ""
    out_of_hours_action: OutOfHoursAction = OutOfHoursAction.WAIT


def service_level(row: InboxService | None) -> ServiceLevel:
    if row is None:
        return ServiceLevel()
    return ServiceLevel(
        hours=schedule_from_config(row.business_hours),
        sla=sla_policy_from_config(row.sla_targets),
        out_of_hours_message=row.out_of_hours_message,
        out_of_hours_action=OutOfHoursAction(row.out_of_hours_action),
    )


async def service_levels(session: AsyncSession, inbox_ids: Iterable[str]) -> dict[str, ServiceLevel]:
    """Each inbox's service level (the default for inboxes that have none stored)."""
    wanted = set(inbox_ids)
    rows = (await session.exec(select(InboxService).where(col(InboxService.inbox_id).in_(wanted)))).all()
    found = {row.inbox_id: service_level(row) for row in rows}
    return {inbox_id: found.get(inbox_id, ServiceLevel()) for inbox_id in wanted}


def ticket_view(ticket: Ticket) -> TicketView:
    return TicketView(
        id=ticket.id,
        inbox_id=ticket.inbox_id,
        conversation_id=ticket.conversation_id,
        contact_id=ticket.contact_id,
        subject=ticket.subject,
        description=ticket.description,
        summary=ticket.summary,
        status=TicketStatus(ticket.status),
        priority=Priority(ticket.priority),
        assignee_id=ticket.assignee_id,
        source=TicketSource(ticket.source),
        sla=TicketSla(
            first_response_due_at=ticket.first_response_due_at,
            resolution_due_at=ticket.resolution_due_at,
            first_responded_at=ticket.first_responded_at,
            solved_at=ticket.solved_at,
            first_response_breached_at=ticket.first_response_breached_at,
            resolution_breached_at=ticket.resolution_breached_at,
        ),
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
    )


def sla_snapshot(ticket: Ticket) -> tuple[SlaDue, SlaProgress, frozenset[SlaMetric]]:
    """The ticket's due times, what it has met, and the breaches already emitted: what routing.sla decides on."""
    return (
        SlaDue(first_response=ticket.first_response_due_at, resolution=ticket.resolution_due_at),
        SlaProgress(first_responded_at=ticket.first_responded_at, solved_at=ticket.solved_at),
        frozenset(metric for metric, column in BREACHED_AT.items() if getattr(ticket, column) is not None),
    )


def _schedule_sla(ticket: Ticket, level: ServiceLevel) -> None:
    """Due times for the ticket's priority, counted from its opening in the inbox's business hours."""
    due = sla_due(level.sla, Priority(ticket.priority), ticket.created_at, level.hours)
    ticket.first_response_due_at, ticket.resolution_due_at = due.first_response, due.resolution
    _reschedule_check(ticket)


def next_sla_check(ticket: Ticket) -> datetime | None:
    """When the SLA watch must look at the ticket next: the earliest target not yet emitted that is unmet, or was
    met after it was due (a late first response made before the watch came by is a breach all the same)."""
    due, progress, emitted = sla_snapshot(ticket)
    met_late = [
        due_at
        for metric in SlaMetric
        if (due_at := due.of(metric)) is not None
        and metric not in emitted
        and (met_at := progress.of(metric)) is not None
        and met_at > due_at
    ]
    return min(filter(None, (next_breach_check(due, progress, emitted), *met_late)), default=None)


def _reschedule_check(ticket: Ticket) -> None:
    ticket.sla_check_at = next_sla_check(ticket)


def new_ticket(
    *,
    workspace_id: str,
    inbox_id: str,
    subject: str,
    level: ServiceLevel,
    now: datetime,
    source: TicketSource,
    priority: Priority = Priority.NORMAL,
    description: str = "",
    summary: str = "",
    conversation_id: str | None = None,
    contact_id: str | None = None,
    assignee_id: str | None = None,
) -> Ticket:
    ticket = Ticket(
        workspace_id=workspace_id,
        inbox_id=inbox_id,
        conversation_id=conversation_id,
        contact_id=contact_id,
        subject=subject,
        description=description,
        summary=summary,
        priority=priority,
        assignee_id=assignee_id,
        source=source,
        created_at=now,
        updated_at=now,
    )
    _schedule_sla(ticket, level)
    return ticket


def record_created(outbox: events.Outbox, ticket: Ticket) -> WorkspaceEvent:
    """Keep `ticket.created` in a batch's outbox (written with the batch's other events)."""
    return outbox.record(ticket.workspace_id, "ticket.created", ticket.id, {"ticket": ticket_view(ticket)})


async def add_ticket(session: AsyncSession, ticket: Ticket) -> WorkspaceEvent:
    """Insert the ticket with its `ticket.created` outbox row; the caller commits, then publishes the event."""
    session.add(ticket)
    await session.flush()
    return events.record(
        session, ticket.workspace_id, "ticket.created", ticket.id, {"ticket": ticket_view(ticket)}
    )


@dataclass(frozen=True, slots=True)
class TicketChanges:
    """What an agent asks to change; None leaves a field as it is (`clear_assignee` unassigns)."""

    status: TicketStatus | None = None
    priority: Priority | None = None
    assignee_id: str | None = None
    clear_assignee: bool = False
    subject: str | None = None


REQUESTED_STATUS: dict[TicketStatus, TicketEvent] = {
    TicketStatus.OPEN: SetOpen(),
    TicketStatus.PENDING: SetPending(),
    TicketStatus.SOLVED: Solve(),
    TicketStatus.CLOSED: Close(),
}
"""The lifecycle event an agent's request for each status is; `new` is where tickets start, never a request."""


def _status_event(status: TicketStatus, current: TicketStatus) -> TicketEvent:
    if status not in REQUESTED_STATUS:
        raise InvalidTransition(
            f"cannot set a ticket back to new while {current.value}: tickets only start there",
            status=current.value,
            event="SetNew",
        )
    return REQUESTED_STATUS[status]


def _transition(ticket: Ticket, event: TicketEvent, now: datetime) -> bool:
    """Apply routing's decision for `event`; whether the status moved. InvalidTransition when it may not."""
    before = TicketState(TicketStatus(ticket.status), ticket.solved_at)
    after = ticket_transition(before, event, now, TICKET_RULES).state
    ticket.status, ticket.solved_at = after.status, after.solved_at
    return after.status != before.status


def apply_changes(
    session: AsyncSession, ticket: Ticket, changes: TicketChanges, level: ServiceLevel, now: datetime
) -> WorkspaceEvent | None:
    """Change the ticket and record `ticket.updated`; None when nothing changed. InvalidTransition for a status the
    lifecycle forbids now (nothing is changed then)."""
    previous_status = TicketStatus(ticket.status)
    changed = []
    if changes.status is not None and _transition(
        ticket, _status_event(changes.status, previous_status), now
    ):
        changed.append("status")
    if changes.priority is not None and changes.priority != ticket.priority:
        ticket.priority = changes.priority
        _schedule_sla(ticket, level)
        changed.append("priority")
    assignee_id = None if changes.clear_assignee else changes.assignee_id or ticket.assignee_id
    if assignee_id != ticket.assignee_id:
        ticket.assignee_id = assignee_id
        changed.append("assignee_id")
    if changes.subject is not None and changes.subject != ticket.subject:
        ticket.subject = changes.subject
        changed.append("subject")
    if not changed:
        return None
    return _updated(session, ticket, changed, previous_status, now)


def _updated(
    session: AsyncSession, ticket: Ticket, changed: list[str], previous_status: TicketStatus, now: datetime
) -> WorkspaceEvent:
    ticket.updated_at = now
    _reschedule_check(ticket)
    session.add(ticket)
    return events.record(
        session,
        ticket.workspace_id,
        "ticket.updated",
        ticket.id,
        {"ticket": ticket_view(ticket), "changed": changed, "previous_status": previous_status},
    )


async def customer_wrote(
    session: AsyncSession, conversation_ids: Iterable[str], now: datetime
) -> list[tuple[str, WorkspaceEvent]]:
    """A customer's message, on any channel, in a ticket's conversation opens the ticket again when it waited on
    the customer (pending) or was solved; (conversation id, `ticket.updated`) for each ticket it changed."""
    wanted = list(conversation_ids)
    if not wanted:
        return []
    waiting = (
        await session.exec(
            select(Ticket).where(
                col(Ticket.conversation_id).in_(wanted),
                col(Ticket.status).in_((TicketStatus.PENDING, TicketStatus.SOLVED)),
            )
        )
    ).all()
    recorded = []
    for ticket in waiting:
        previous_status = TicketStatus(ticket.status)
        if _transition(ticket, CustomerWrote(), now):
            event = _updated(session, ticket, ["status"], previous_status, now)
            recorded.append((ticket.conversation_id or "", event))
    return recorded


async def agent_replied(
    session: AsyncSession, conversation: Conversation, now: datetime
) -> list[WorkspaceEvent]:
    """An agent's reply in a conversation is the first response of its tickets that had none, and opens (or
    reopens) them as the lifecycle says; a closed ticket is final and stays as it is."""
    tickets = (
        await session.exec(
            select(Ticket).where(
                col(Ticket.conversation_id) == conversation.id,
                col(Ticket.workspace_id) == conversation.workspace_id,
                col(Ticket.status) != TicketStatus.CLOSED,
            )
        )
    ).all()
    recorded = []
    for ticket in tickets:
        previous_status = TicketStatus(ticket.status)
        changed = []
        if ticket.first_responded_at is None:
            ticket.first_responded_at = now
            changed.append("first_responded_at")
        if _transition(ticket, AgentReplied(), now):
            changed.append("status")
        if changed:
            recorded.append(_updated(session, ticket, changed, previous_status, now))
    return recorded
