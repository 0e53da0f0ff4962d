"""Teams: the agents who share an inbox's conversations when its routing names the team."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import actors
from hub.api.fields import required_text
from hub.api.paging import NEXT_PAGE_LINK, array_page, array_rows
from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.fields import ArrayLimitQuery, CursorQuery, Id, IdPath, Name
from hub.models import Agent, Team, TeamMember
from hub.runtime import Hub
from hub.views import TeamView

__all__ = ["TeamController", "workspace_team"]

AgentIds = Annotated[list[Id], msgspec.Meta(max_length=500)]


class TeamBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    agent_ids: AgentIds = []


class MembersBody(msgspec.Struct, forbid_unknown_fields=True):
    agent_ids: AgentIds


async def workspace_team(
    session: AsyncSession, caller: Caller, team_id: str, *, field: str | None = None
) -> Team:
    """The caller's team: 404 for a path's team of another workspace, 422 naming `field` for a body's."""
    team = (
        await session.exec(select(Team).where(Team.id == team_id, Team.workspace_id == caller.workspace_id))
    ).first()
    if team is None:
        detail = f"No team {team_id} in your workspace."
        if field is None:
            raise ApiError(404, "team_not_found", detail)
        raise ApiError(422, "team_not_found", detail, extra=[{"field": field, "message": "unknown team"}])
    return team


async def _members(session: AsyncSession, caller: Caller, agent_ids: list[str]) -> list[str]:
    wanted = list(dict.fromkeys(agent_ids))
    found = set(
        (
            await session.exec(
                select(Agent.id).where(col(Agent.id).in_(wanted), Agent.workspace_id == caller.workspace_id)
            )
        ).all()
    )
    unknown = [agent_id for agent_id in wanted if agent_id not in found]
    if unknown:
        raise ApiError(
            422,
            "agent_not_found",
            f"No agent {', '.join(unknown)} in your workspace.",
            extra=[{"field": "agent_ids", "message": f"unknown agent {agent_id}"} for agent_id in unknown],
        )
    return wanted


async def _set_members(session: AsyncSession, team: Team, agent_ids: list[str]) -> None:
    await session.execute(delete(TeamMember).where(col(TeamMember.team_id) == team.id))
    session.add_all(
        [
            TeamMember(team_id=team.id, agent_id=agent_id, workspace_id=team.workspace_id)
            for agent_id in agent_ids
        ]
    )


def _view(team: Team, agent_ids: list[str]) -> TeamView:
    return TeamView(id=team.id, name=team.name, agent_ids=agent_ids, created_at=team.created_at)


class TeamController(Controller):
    path = "/teams"
    tags = ("routing",)

    @get("/", responses=error_responses(400, 401), response_headers=[NEXT_PAGE_LINK])
    async def list_teams(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        limit: ArrayLimitQuery = None,
        cursor: CursorQuery = None,
    ) -> Response[list[TeamView]]:
        """The workspace's teams by name (unique in a workspace). Paged (`limit`, `cursor`), the next page is named
        by the `Link` header."""
        teams, next_page = await array_rows(
            session,
            select(Team).where(Team.workspace_id == caller.workspace_id).order_by(col(Team.name)),
            "teams",
            col(Team.name),
            lambda team: team.name,
            Name,
            limit,
            cursor,
        )
        members: dict[str, list[str]] = {}
        for team_id, agent_id in (
            await session.exec(
                select(TeamMember.team_id, TeamMember.agent_id)
                .where(
                    TeamMember.workspace_id == caller.workspace_id,
                    col(TeamMember.team_id).in_([team.id for team in teams]),
                )
                .order_by(col(TeamMember.agent_id))
            )
        ).all():
            members.setdefault(team_id, []).append(agent_id)
        return array_page(request, [_view(team, members.get(team.id, [])) for team in teams], next_page)

    @post("/", status_code=201, responses=error_responses(400, 401, 403, 409, 413, 422))
    async def create_team(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        data: JSONBody[TeamBody],
    ) -> TeamView:
        """Create a team (admins only); its members take the conversations of inboxes routed to it."""
        name = required_text("name", data.name)
        agent_ids = await _members(session, admin, data.agent_ids)
        team = Team(workspace_id=admin.workspace_id, name=name)
        session.add(team)
        try:
            await session.flush()
        except IntegrityError:
            raise ApiError(409, "team_exists", f"Your workspace already has a team named {name!r}.") from None
        await _set_members(session, team, agent_ids)
        await session.commit()
        await hub.jobs.send(actors.serve_queue, admin.workspace_id)
        return _view(team, agent_ids)

    @put("/{team_id:str}/members", responses=error_responses(400, 401, 403, 404, 413, 422))
    async def set_members(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        team_id: IdPath,
        data: JSONBody[MembersBody],
    ) -> TeamView:
        """Replace the team's members (admins only); a new member may take waiting conversations at once."""
        team = await workspace_team(session, admin, team_id)
        agent_ids = await _members(session, admin, data.agent_ids)
        await _set_members(session, team, agent_ids)
        await session.commit()
        await hub.jobs.send(actors.serve_queue, admin.workspace_id)
        return _view(team, agent_ids)
