"""A second workspace with an admin, for tests that one workspace never reaches another's objects."""

from __future__ import annotations

import pytest

from hub.auth import issue_token
from hub.crypto import hash_password
from hub.models import Agent, Workspace
from tests.conftest import run


@pytest.fixture
def other_admin_token(settings) -> str:
    """An admin's API token of a second workspace."""

    async def make(hub) -> str:
        async with hub.database.session() as session:
            workspace = Workspace(name="Rival shop")
            session.add(workspace)
            await session.flush()
            agent = Agent(
                workspace_id=workspace.id,
                email="admin@rival.example.com",
                name="Rival admin",
                role="admin",
                password_hash=hash_password("x" * 12),
            )
            session.add(agent)
            await session.commit()
        return await issue_token(hub, agent, "test", None)

    return run(make, settings)
