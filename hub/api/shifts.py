"""An agent's shifts (`/api/v1/agents/{id}/shifts`): weekly hours in the agent's time zone. Off shift, automatic
routing gives the agent nothing (a claim or a transfer to them still works); an agent without shifts is always
available. Admins set them; routing and the coverage report read them (`routing.shifts`)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import Meta
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import actors
from hub.api.dependencies import load_agent
from hub.api.service_levels import DATE, DAY, MAX_CLOSED_DATES, MAX_RANGES_PER_DAY, RANGE, refused
from hub.auth import Caller
from hub.errors import error_responses
from hub.fields import IdPath
from hub.models import Agent
from hub.runtime import Hub
from routing.errors import RoutingError
from routing.hours import is_open
from routing.shifts import shifts_from_config

__all__ = ["ShiftController", "Shifts", "ShiftsView"]


class Shifts(msgspec.Struct, forbid_unknown_fields=True):
    """No `time_zone` and no `weekly` ranges: no shifts (always available)."""

    time_zone: Annotated[str, Meta(max_length=64)] | None = None
    """The agent's IANA time zone, e.g. Europe/Paris."""
    weekly: dict[DAY, Annotated[list[RANGE], Meta(max_length=MAX_RANGES_PER_DAY)]] = {}
    """Shifts per day (`mon` … `sun`); a range ending before its start runs past midnight. Ranges may not overlap."""
    closed_dates: Annotated[list[DATE], Meta(max_length=MAX_CLOSED_DATES)] = []
    """Days off: local dates the agent does not work (leave, holidays)."""


class ShiftsView(Shifts):
    on_shift_now: bool = True
    """Whether routing may give the agent conversations at the time of the answer."""


def _view(hub: Hub, agent: Agent) -> ShiftsView:
    shifts = agent.shifts
    schedule = shifts_from_config(shifts)
    return ShiftsView(
        time_zone=shifts.get("time_zone"),
        weekly=shifts.get("weekly", {}),
        closed_dates=shifts.get("closed_dates", []),
        on_shift_now=schedule is None or is_open(schedule, hub.now()),
    )


class ShiftController(Controller):
    path = "/agents/{agent_id:str}/shifts"
    tags = ("agents",)

    @get(responses=error_responses(400, 401, 404))
    async def get_shifts(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        agent_id: IdPath,
    ) -> ShiftsView:
        """The agent's weekly shifts and days off (admins only)."""
        return _view(hub, await load_agent(session, admin, agent_id))

    @put(responses=error_responses(400, 401, 404, 413, 422))
    async def put_shifts(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        agent_id: IdPath,
        data: JSONBody[Shifts],
    ) -> ShiftsView:
        """Replace them (admins only); 422 names the field of a bad time zone or an empty or overlapping range.
        The queue is served at once, for an agent whose shift now covers the present."""
        agent = await load_agent(session, admin, agent_id)
        shifts = {}
        if data.time_zone is not None or data.weekly or data.closed_dates:
            shifts = {"time_zone": data.time_zone, "weekly": data.weekly, "closed_dates": data.closed_dates}
        try:
            shifts_from_config(shifts)
        except RoutingError as refusal:
            raise refused(refusal) from None
        agent.shifts = shifts
        session.add(agent)
        await session.commit()
        await hub.jobs.send(actors.serve_queue, admin.workspace_id)
        return _view(hub, agent)
