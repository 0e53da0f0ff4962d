"""The caller and the agents of their workspace: presence, capacity and skills, which routing reads."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import actors
from hub.agent_connections import AgentConnections, presence_shown
from hub.api.auth import agent_summary
from hub.api.dependencies import load_agent
from hub.api.paging import NEXT_PAGE_LINK, array_page, array_rows
from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.fields import MAX_NAME_LENGTH, SINGLE_LINE, ArrayLimitQuery, CursorQuery, Id, IdPath
from hub.models import Agent, TeamMember
from hub.presence import presence_changed
from hub.runtime import Hub
from hub.statuses import AgentPresence, AgentRole
from hub.views import AgentView, MeView
from normalizer import clean_text

__all__ = ["AgentController", "agent_views"]

Skill = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")]


class PresenceBody(msgspec.Struct, forbid_unknown_fields=True):
    presence: AgentPresence


class AgentChanges(msgspec.Struct, forbid_unknown_fields=True):
    """Fields left out keep their value."""

    role: AgentRole | None = None
    """`admin` or `agent`; the workspace's last admin stays one (409 `last_admin`)."""
    name: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_LENGTH, pattern=SINGLE_LINE)] | None
    ) = None

    max_concurrent: Annotated[int, msgspec.Meta(ge=0, le=1000)] | None = None
    """Open conversations routing gives the agent at most (0: none)."""
    skills: Annotated[list[Skill], msgspec.Meta(max_length=50)] | None = None
    """Conversation categories the agent handles (skill routing)."""


async def agent_views(
    session: AsyncSession, connections: AgentConnections, workspace_id: str, agents: list[Agent]
) -> list[AgentView]:
    """The agents as the API shows them, with the presence routing reads (hub.agent_connections)."""
    lapsed = await connections.lapsed_among(agent.id for agent in agents)
    teams: dict[str, list[str]] = {}
    for agent_id, team_id in (
        await session.exec(
            select(TeamMember.agent_id, TeamMember.team_id).where(TeamMember.workspace_id == workspace_id)
        )
    ).all():
        teams.setdefault(agent_id, []).append(team_id)
    return [
        AgentView(
            id=agent.id,
            name=agent.name,
            email=agent.email,
            role=AgentRole(agent.role),
            presence=presence_shown(agent.presence, agent.id in lapsed),
            max_concurrent=agent.max_concurrent,
            skills=list(agent.skills),
            team_ids=sorted(teams.get(agent.id, [])),
        )
        for agent in agents
    ]


class AgentController(Controller):
    tags = ("agents",)

    @get("/me", responses=error_responses(401))
    async def me(self, caller: NamedDependency[Caller]) -> MeView:
        """The caller's workspace and agent (none for an integration's token)."""
        return MeView(
            workspace_id=caller.workspace_id,
            agent=agent_summary(caller.agent) if caller.agent else None,
        )

    @put("/me/presence", responses=error_responses(400, 401, 403, 413))
    async def set_presence(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        data: JSONBody[PresenceBody],
    ) -> AgentView:
        """Set the caller's presence. The agent's first socket sets online, their last one closing offline."""
        if caller.agent_id is None:
            raise ApiError(403, "agent_only", "Only an agent's token has a presence.")
        agent = await session.get_one(Agent, caller.agent_id)
        agent.presence = data.presence
        session.add(agent)
        await session.commit()
        await presence_changed(hub, caller.workspace_id, data.presence)
        return (await agent_views(session, hub.agent_connections, caller.workspace_id, [agent]))[0]

    @get("/agents", responses=error_responses(400, 401), response_headers=[NEXT_PAGE_LINK])
    async def agents(
        self,
        request: Request[Any, Any, Any],
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        limit: ArrayLimitQuery = None,
        cursor: CursorQuery = None,
    ) -> Response[list[AgentView]]:
        """The workspace's agents with their presence, capacity, skills and teams. Paged (`limit`, `cursor`) they
        come oldest first, the next page named by the `Link` header."""
        rows, next_page = await array_rows(
            session,
            select(Agent).where(Agent.workspace_id == caller.workspace_id),
            "agents",
            col(Agent.id),
            lambda agent: agent.id,
            Id,
            limit,
            cursor,
        )
        views = await agent_views(session, hub.agent_connections, caller.workspace_id, list(rows))
        return array_page(request, views, next_page)

    @patch("/agents/{agent_id:str}", responses=error_responses(400, 401, 403, 404, 409, 413, 422))
    async def update_agent(
        self,
        hub: NamedDependency[Hub],
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        agent_id: IdPath,
        data: JSONBody[AgentChanges],
    ) -> AgentView:
        """Change an agent's role, name, capacity or skills (admins only). A new role holds from the agent's next
        request, on every session and token they have; a raised capacity serves the queue at once."""
        agent = await load_agent(session, admin, agent_id)
        changed = {}
        if data.role is not None and data.role != agent.role:
            if agent.role == AgentRole.ADMIN:
                await _keep_an_admin(session, agent)
            changed["role"] = [agent.role, data.role.value]
            agent.role = data.role
        if data.name is not None and clean_text(data.name).strip() not in ("", agent.name):
            changed["name"] = [agent.name, clean_text(data.name).strip()]
            agent.name = changed["name"][1]
        if changed:
            session.add(admin.audit("agent.updated", "agent", agent.id, changed))
        if data.max_concurrent is not None:
            agent.max_concurrent = data.max_concurrent
        if data.skills is not None:
            agent.skills = sorted({skill.strip() for skill in data.skills if skill.strip()})
        session.add(agent)
        await session.commit()
        await hub.jobs.send(actors.serve_queue, admin.workspace_id)
        return (await agent_views(session, hub.agent_connections, admin.workspace_id, [agent]))[0]


async def _keep_an_admin(session: AsyncSession, leaving: Agent) -> None:
    """409 unless another admin remains. The workspace's admin rows are locked (PostgreSQL), so two admins
    demoting each other at once cannot both succeed."""
    admins = (
        await session.exec(
            select(Agent.id)
            .where(Agent.workspace_id == leaving.workspace_id, Agent.role == AgentRole.ADMIN)
            .with_for_update()
        )
    ).all()
    if set(admins) <= {leaving.id}:
        raise ApiError(
            409,
            "last_admin",
            f"{leaving.name} is the workspace's last admin: make another agent an admin first.",
            extra=[{"field": "role", "message": "the workspace needs an admin"}],
        )
