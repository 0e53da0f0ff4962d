"""The caller's workspace settings (`/api/v1/workspace`): the region customers' national phone numbers are read in.

Every lookup, identify call and inbound message reads phones in this region, so "138 0013 8000" is a Chinese
mobile in a workspace set to CN and refused as no number in one set to US.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import Meta
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.models import AuditEntry, Workspace
from normalizer import is_phone_region

__all__ = ["WorkspaceController", "WorkspaceSettings", "WorkspaceView"]


class WorkspaceSettings(msgspec.Struct, forbid_unknown_fields=True):
    default_region: Annotated[str, Meta(min_length=2, max_length=2, examples=["CN", "US"])]
    """ISO 3166-1 alpha-2 region (e.g. CN) a phone number written without its country code is read in."""


class WorkspaceView(WorkspaceSettings):
    id: str
    name: str


def _view(workspace: Workspace) -> WorkspaceView:
    return WorkspaceView(id=workspace.id, name=workspace.name, default_region=workspace.default_region)


class WorkspaceController(Controller):
    path = "/workspace"
    tags = ("workspace",)

    @get("/", responses=error_responses(401))
    async def get_workspace(
        self, caller: NamedDependency[Caller], session: NamedDependency[AsyncSession]
    ) -> WorkspaceView:
        """The caller's workspace and its settings."""
        return _view(await session.get_one(Workspace, caller.workspace_id))

    @put("/", responses=error_responses(400, 401, 403, 413, 422))
    async def set_workspace(
        self,
        admin: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        data: JSONBody[WorkspaceSettings],
    ) -> WorkspaceView:
        """Change the workspace's settings (admin); an audit entry records the old and new values. Identities
        stored before keep their spelling: they were already E.164."""
        region = data.default_region.upper()
        if not is_phone_region(region):
            raise ApiError(
                422,
                "invalid_region",
                f"default_region: {data.default_region!r} is not an ISO 3166-1 alpha-2 region with phone numbers.",
                extra=[{"field": "default_region", "message": "not an ISO 3166-1 alpha-2 region"}],
            )
        workspace = await session.get_one(Workspace, admin.workspace_id)
        if workspace.default_region != region:
            session.add(
                AuditEntry(
                    workspace_id=workspace.id,
                    actor_type="agent" if admin.agent is not None else "api_token",
                    actor_id=admin.agent_id,
                    action="workspace.updated",
                    subject_type="workspace",
                    subject_id=workspace.id,
                    details={"default_region": {"before": workspace.default_region, "after": region}},
                )
            )
            workspace.default_region = region
            await session.commit()
        return _view(workspace)
