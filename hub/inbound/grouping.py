"""The inbound path's batchers: one per database (so per event loop) and kind of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hub.batching import Batcher
from hub.runtime import Hub

__all__ = ["batcher"]


def batcher(
    hub: Hub,
    name: str,
    handle: Callable[[Hub, list[Any]], Awaitable[Sequence[Any]]],
    *,
    linger_seconds: float = 0.0,
) -> Batcher:
    """The hub's batcher called `name`, made on first use to run `handle(hub, items)`."""
    found = hub.database.batchers.get(name)
    if found is not None:
        return found

    async def handle_on_this_hub(items: list[Any]) -> Sequence[Any]:
        return await handle(hub, items)

    made = hub.database.batchers[name] = Batcher(
        handle_on_this_hub, max_items=hub.settings.inbound_batch_size, linger_seconds=linger_seconds
    )
    return made
