"""The caller's workspace settings (`/api/v1/workspace`): the region customers' national phone numbers are read in,
and what is masked of customers' text.

Every lookup, identify call and inbound message reads phones in this region, so "138 0013 8000" is a Chinese
mobile in a workspace set to CN and refused as no number in one set to US.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import UNSET, Meta, UnsetType
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.fields import invalid_field
from hub.auth import Caller
from hub.errors import error_responses
from hub.masking import rules_of
from hub.models import AuditEntry, Workspace
from normalizer import is_phone_region
from normalizer.masking import InvalidTemplate, template_pattern

__all__ = ["MaskingSettings", "WorkspaceController", "WorkspaceSettings", "WorkspaceView"]

MAX_TEMPLATES = 20


class MaskingSettings(msgspec.Struct, forbid_unknown_fields=True):
    """What agents (until an admin reveals it), their live events and masked webhooks see masked."""

    card_numbers: bool = True
    """Bank card numbers passing the Luhn check."""
    china_resident_ids: bool = True
    """Mainland China resident ID numbers with a valid check digit."""
    templates: Annotated[list[Annotated[str, Meta(max_length=40)]], Meta(max_length=MAX_TEMPLATES)] = []
    """The workspace's own shapes: `#` a digit, `@` a letter, `*` either, other characters as written, e.g.
    `ORD-########` for an order number. Letters, digits, spaces and `. / : _ -` only besides the slots."""


class WorkspaceSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Fields left out stay as they are."""

    default_region: Annotated[str, Meta(min_length=2, max_length=2, examples=["CN", "US"])] | UnsetType = (
        UNSET
    )
    """ISO 3166-1 alpha-2 region (e.g. CN) a phone number written without its country code is read in."""
    masking: MaskingSettings | UnsetType = UNSET


class WorkspaceView(msgspec.Struct):
    id: str
    name: str
    default_region: str
    masking: MaskingSettings


def _view(workspace: Workspace) -> WorkspaceView:
    rules = rules_of(workspace)
    return WorkspaceView(
        id=workspace.id,
        name=workspace.name,
        default_region=workspace.default_region,
        masking=MaskingSettings(
            card_numbers=rules.card_numbers,
            china_resident_ids=rules.china_resident_ids,
            templates=list(rules.templates),
        ),
    )


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
        workspace = await session.get_one(Workspace, admin.workspace_id)
        changes: dict[str, Any] = {}
        if not isinstance(data.default_region, UnsetType):
            region = data.default_region.upper()
            if not is_phone_region(region):
                raise invalid_field(
                    "default_region",
                    f"{data.default_region!r} is not an ISO 3166-1 alpha-2 region with phone numbers",
                    "invalid_region",
                )
            changes["default_region"] = {"before": workspace.default_region, "after": region}
            workspace.default_region = region
        if not isinstance(data.masking, UnsetType):
            for index, template in enumerate(data.masking.templates):
                try:
                    template_pattern(template)
                except InvalidTemplate as error:
                    raise invalid_field(
                        f"masking.templates[{index}]", str(error), "invalid_template"
                    ) from None
            masking = msgspec.to_builtins(data.masking)
            changes["masking"] = {"before": workspace.masking, "after": masking}
            workspace.masking = masking
        if changes:
            session.add(
                AuditEntry(
                    workspace_id=workspace.id,
                    actor_type="agent" if admin.agent is not None else "api_token",
                    actor_id=admin.agent_id,
                    action="workspace.updated",
                    subject_type="workspace",
                    subject_id=workspace.id,
                    details=changes,
                )
            )
            await session.commit()
        return _view(workspace)
