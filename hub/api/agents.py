"""The caller and the agents of their workspace."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.auth import agent_summary
from hub.auth import Caller
from hub.errors import error_responses
from hub.models import Agent
from hub.statuses import AgentPresence, AgentRole
from hub.views import AgentView, MeView

__all__ = ["AgentController"]


class AgentController(Controller):
    tags = ("agents",)

    @get("/me", responses=error_responses(401))
    async def me(self, caller: NamedDependency[Caller]) -> MeView:
        """The caller's workspace and agent (none for an integration's token)."""
        return MeView(
            workspace_id=caller.workspace_id,
            agent=agent_summary(caller.agent) if caller.agent else None,
        )

    @get("/agents", responses=error_responses(401))
    async def agents(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession]
    ) -> list[AgentView]:
        """The workspace's agents with their presence."""
        rows = (await session.exec(select(Agent).where(Agent.workspace_id == caller.workspace_id))).all()
        return [
            AgentView(
                id=agent.id,
                name=agent.name,
                email=agent.email,
                role=AgentRole(agent.role),
                presence=AgentPresence(agent.presence),
            )
            for agent in rows
        ]
