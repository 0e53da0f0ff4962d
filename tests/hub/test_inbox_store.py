"""The part of the shared store a connector sees belongs to its inbox: values and locks of the same name are
another inbox's own."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from connectors.testing import MemorySharedStore
from hub.store import InboxStore

TTL = timedelta(minutes=5)


async def test_the_same_key_in_two_inboxes_names_two_entries() -> None:
    shared = MemorySharedStore()
    shop, rival = InboxStore(shared, "workspace-1", "inbox-1"), InboxStore(shared, "workspace-2", "inbox-2")
    await shop.set("wechat:access_token:wx5d1c0a9b8e7f6a41", "SHOP_TOKEN", TTL)
    assert await rival.get("wechat:access_token:wx5d1c0a9b8e7f6a41") is None
    await rival.set("wechat:access_token:wx5d1c0a9b8e7f6a41", "RIVAL_TOKEN", TTL)
    assert await shop.get("wechat:access_token:wx5d1c0a9b8e7f6a41") == "SHOP_TOKEN"
    assert (
        await InboxStore(shared, "workspace-1", "inbox-1").get("wechat:access_token:wx5d1c0a9b8e7f6a41")
        == "SHOP_TOKEN"
    )


async def test_a_lock_held_in_one_inbox_does_not_hold_up_another() -> None:
    shared = MemorySharedStore()
    shop, rival = InboxStore(shared, "workspace-1", "inbox-1"), InboxStore(shared, "workspace-2", "inbox-2")

    async def take_rivals_lock() -> None:
        async with rival.lock("wechat:token_refresh:wx5d1c0a9b8e7f6a41", TTL):
            pass

    async with shop.lock("wechat:token_refresh:wx5d1c0a9b8e7f6a41", TTL):
        await asyncio.wait_for(take_rivals_lock(), timeout=5)
