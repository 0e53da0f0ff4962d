"""A second workspace with one agent, for tests that one workspace never reaches another's objects."""

from __future__ import annotations

import pytest

from hub.auth import issue_token
from hub.crypto import hash_password
from hub.models import Agent, Workspace
from tests.conftest import run


def token_of_another_workspace(settings, *, workspace: str, email: str, role: str) -> str:
    """An API token of an agent with `role` in a new workspace."""

    async def make(hub) -> str:
        async with hub.database.session() as session:
            other = Workspace(name=workspace)
            session.add(other)
            await session.flush()
            agent = Agent(
                workspace_id=other.id,
                email=email,
                name=workspace,
                role=role,
                password_hash=hash_password("x" * 12),
            )
            session.add(agent)
            await session.commit()
        return await issue_token(hub, agent, "test", None)

    return run(make, settings)


@pytest.fixture
def other_admin_token(settings) -> str:
    """An admin's API token of a second workspace."""
    return token_of_another_workspace(
        settings, workspace="Rival shop", email="admin@rival.example.com", role="admin"
    )
