"""The workspace's masking rules where the hub shows customers' text to someone: the agent's API view, the agents'
live socket, webhook payloads for subscriptions that ask for it. Logs mask the built-in kinds whatever the
workspace (hub.logs), since a log line names no workspace's rules."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from hub.models import Workspace
from hub.realtime import EventSocket
from normalizer.masking import MaskingRules

__all__ = ["MaskedEvents", "rules_of", "workspace_rules"]


def rules_of(workspace: Workspace) -> MaskingRules:
    settings = workspace.masking
    return MaskingRules(
        card_numbers=settings.get("card_numbers", True),
        china_resident_ids=settings.get("china_resident_ids", True),
        templates=tuple(settings.get("templates", ())),
    )


async def workspace_rules(session: AsyncSession, workspace_id: str) -> MaskingRules:
    return rules_of(await session.get_one(Workspace, workspace_id))


class MaskedEvents:
    """An agent's socket whose events are sent masked. The event's JSON text is masked as it is: a masked value
    holds no character JSON escapes, so the document stays valid, and nothing is decoded per socket."""

    def __init__(self, socket: EventSocket, rules: MaskingRules) -> None:
        self._socket = socket
        self._rules = rules

    async def send_text(self, data: bytes) -> None:
        await self._socket.send_text(self._rules.mask(data.decode()).encode())

    async def close(self, code: int, reason: str | None = None) -> None:
        await self._socket.close(code, reason)
