"""An inbox's service promises: business hours with the out-of-hours message and action
(`/api/v1/inboxes/{id}/business_hours`) and SLA targets per ticket priority (`/api/v1/inboxes/{id}/sla`).

Both are read by routing (`routing.config`), so what the API accepts is exactly what routing can apply; its
refusals answer 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import Meta
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.dependencies import load_inbox
from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.fields import IdPath
from hub.models import InboxService
from hub.runtime import Hub
from normalizer import clean_text
from routing.config import schedule_from_config, sla_policy_from_config
from routing.errors import RoutingError
from routing.hours import is_open
from routing.out_of_hours import OutOfHoursAction

__all__ = ["BusinessHours", "BusinessHoursView", "ServiceLevelController", "SlaTargets", "hours_view"]

DAY = Annotated[str, Meta(pattern="^(mon|tue|wed|thu|fri|sat|sun)$")]
RANGE = Annotated[str, Meta(max_length=40, description="HH:MM-HH:MM, e.g. 09:00-18:00 or 22:00-06:00")]
"""Longer than a range may be, so that routing's reader refuses a wrong one naming its day (msgspec cannot)."""
DATE = Annotated[str, Meta(max_length=10, description="A local date, e.g. 2026-10-01")]
MAX_RANGES_PER_DAY = 10
MAX_CLOSED_DATES = 366
YEAR_OF_MINUTES = 525_600
Minutes = Annotated[int, Meta(gt=0, le=YEAR_OF_MINUTES)]


class BusinessHours(msgspec.Struct, forbid_unknown_fields=True):
    """Open hours in an IANA time zone. No `time_zone` and no `weekly` hours: always open."""

    time_zone: Annotated[str, Meta(max_length=64)] | None = None
    """e.g. Asia/Shanghai."""
    weekly: dict[DAY, Annotated[list[RANGE], Meta(max_length=MAX_RANGES_PER_DAY)]] = {}
    """Ranges per day (`mon` … `sun`); a range ending at or before its start runs into the next day."""
    closed_dates: Annotated[list[DATE], Meta(max_length=MAX_CLOSED_DATES)] = []
    """Holidays: local dates closed all day."""
    out_of_hours_message: Annotated[str, Meta(max_length=1000)] = ""
    """Sent to the customer once per conversation when they write while closed; empty sends none."""
    out_of_hours_action: OutOfHoursAction = OutOfHoursAction.WAIT
    """`ticket`: a conversation that writes while closed opens a ticket; `wait`: it waits for the opening."""


class BusinessHoursView(BusinessHours):
    open_now: bool = True
    """Whether the inbox is open at the time of the answer."""


class SlaTarget(msgspec.Struct, forbid_unknown_fields=True):
    """Business minutes allowed (counted in the inbox's business hours); null sets no target."""

    first_response_minutes: Minutes | None = None
    resolution_minutes: Minutes | None = None


class SlaTargets(msgspec.Struct, forbid_unknown_fields=True):
    """Targets per ticket priority; a priority left out has no SLA."""

    low: SlaTarget | None = None
    normal: SlaTarget | None = None
    high: SlaTarget | None = None
    urgent: SlaTarget | None = None


def refused(refusal: RoutingError) -> ApiError:
    """A refusal of routing's configuration readers as a 422 naming the field."""
    field = refusal.field or "body"
    return ApiError(
        422,
        "invalid_input",
        f"{field}: {refusal.detail}.",
        extra=[{"field": field, "message": refusal.detail}],
    )


async def _row(session: AsyncSession, caller: Caller, inbox_id: str) -> InboxService:
    inbox = await load_inbox(session, caller, inbox_id)
    return await session.get(InboxService, inbox.id) or InboxService(
        inbox_id=inbox.id, workspace_id=caller.workspace_id
    )


def hours_view(hub: Hub, row: InboxService) -> BusinessHoursView:
    hours = row.business_hours
    return BusinessHoursView(
        time_zone=hours.get("time_zone"),
        weekly=hours.get("weekly", {}),
        closed_dates=hours.get("closed_dates", []),
        out_of_hours_message=row.out_of_hours_message,
        out_of_hours_action=OutOfHoursAction(row.out_of_hours_action),
        open_now=is_open(schedule_from_config(hours), hub.now()),
    )


def _targets_view(row: InboxService) -> SlaTargets:
    return msgspec.convert(row.sla_targets, SlaTargets)


class ServiceLevelController(Controller):
    path = "/inboxes/{inbox_id:str}"
    tags = ("inboxes",)

    @get("/business_hours", responses=error_responses(400, 401, 404))
    async def get_business_hours(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        inbox_id: IdPath,
    ) -> BusinessHoursView:
        """The inbox's business hours, holidays, and what a customer writing out of them gets."""
        return hours_view(hub, await _row(session, caller, inbox_id))

    @put("/business_hours", responses=error_responses(400, 401, 404, 413, 422))
    async def put_business_hours(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        inbox_id: IdPath,
        data: JSONBody[BusinessHours],
    ) -> BusinessHoursView:
        """Replace them. New tickets' SLA due times count these hours; the next customer message follows them."""
        row = await _row(session, caller, inbox_id)
        hours: dict[str, Any] = {}
        if data.time_zone is not None or data.weekly or data.closed_dates:
            hours = {"time_zone": data.time_zone, "weekly": data.weekly, "closed_dates": data.closed_dates}
        try:
            schedule_from_config(hours)
        except RoutingError as refusal:
            raise refused(refusal) from None
        row.business_hours = hours
        row.out_of_hours_message = clean_text(data.out_of_hours_message)
        row.out_of_hours_action = data.out_of_hours_action
        row.updated_at = hub.now()
        session.add(row)
        await session.commit()
        return hours_view(hub, row)

    @get("/sla", responses=error_responses(400, 401, 404))
    async def get_sla(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession], inbox_id: IdPath
    ) -> SlaTargets:
        """The inbox's SLA targets per ticket priority, in business minutes."""
        return _targets_view(await _row(session, caller, inbox_id))

    @put("/sla", responses=error_responses(400, 401, 404, 413, 422))
    async def put_sla(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        inbox_id: IdPath,
        data: JSONBody[SlaTargets],
    ) -> SlaTargets:
        """Replace them; tickets opened (or given a new priority) from now on are due by them."""
        row = await _row(session, caller, inbox_id)
        targets = {
            priority: {name: minutes for name, minutes in msgspec.structs.asdict(target).items() if minutes}
            for priority, target in msgspec.structs.asdict(data).items()
            if target is not None
        }
        try:
            sla_policy_from_config(targets)
        except RoutingError as refusal:
            raise refused(refusal) from None
        row.sla_targets = targets
        row.updated_at = hub.now()
        session.add(row)
        await session.commit()
        return _targets_view(row)
