"""Helpers for the WeChat connector tests: connectors with the fixture credentials and WeChat-made deliveries."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from connectors.attachments import download
from connectors.base import ConnectorContext, OutboundMessage, RawRequest
from connectors.testing import TEST_INBOX, MemorySharedStore
from connectors.wechat import (
    MiniProgramSettings,
    WeChatMiniProgramConnector,
    WeChatOfficialAccountConnector,
    WeChatSettings,
)
from connectors.wechat.common.connector import WeChatConnector
from connectors.wechat.common.identities import WECHAT_OPENID
from connectors.wechat.common.testing import FIXTURE_RECEIVED_AT, SignedDeliveries, fixture_settings
from connectors.wechat.mini_program.contract import APP_ID as MP_APP_ID
from connectors.wechat.official_account.contract import APP_ID as OA_APP_ID
from normalizer import Attachment, IdentityRef, InboundMessage

__all__ = [
    "MP_APP_ID",
    "MP_OPENID",
    "OA_APP_ID",
    "OA_OPENID",
    "InterleavingStore",
    "SavedAttachments",
    "connector_context",
    "deliver",
    "deliveries",
    "fixture",
    "mini_program",
    "official_account",
    "openid_of",
    "outbound",
    "receive_one",
]

FIXTURES = Path(__file__).parent / "fixtures"
OA_OPENID = "oLOkR5PG536EbZgd9WcCfGaLfoM8"
MP_OPENID = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def official_account(**overrides: Any) -> WeChatOfficialAccountConnector:
    settings = WeChatSettings.model_validate(
        fixture_settings(overrides.pop("app_id", OA_APP_ID), **overrides)
    )
    return WeChatOfficialAccountConnector(settings, TEST_INBOX)


def mini_program(**overrides: Any) -> WeChatMiniProgramConnector:
    settings = MiniProgramSettings.model_validate(fixture_settings(MP_APP_ID, **overrides))
    return WeChatMiniProgramConnector(settings, TEST_INBOX)


def deliveries(connector: WeChatConnector, **changes: Any) -> SignedDeliveries:
    """Deliveries signed (and encrypted, per the connector's mode) with the connector's own credentials."""
    return replace(SignedDeliveries(connector.settings, connector.data_format()), **changes)


def deliver(connector: WeChatConnector, raw: RawRequest) -> list[InboundMessage]:
    """What the hub's webhook route does with a delivery that carries messages."""
    connector.verify(raw)
    assert connector.handshake(raw) is None
    return connector.parse(raw)


def receive_one(connector: WeChatConnector, plaintext: bytes) -> InboundMessage:
    """`plaintext` pushed by WeChat in the connector's mode, verified and parsed to its one message."""
    [message] = deliver(connector, deliveries(connector).post(plaintext))
    return message


def outbound(
    recipient: IdentityRef,
    text: str = "",
    attachments: tuple[Attachment, ...] = (),
    message_id: str = "msg-1",
) -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id,
        conversation_id="conv-1",
        recipient=recipient,
        text=text,
        attachments=attachments,
    )


def openid_of(app_id: str, openid: str) -> IdentityRef:
    return IdentityRef(WECHAT_OPENID, openid, scope=app_id, verified=True)


@dataclass
class SavedAttachments:
    """The hub's attachment storage, recording what the connector stored."""

    saved: list[tuple[bytes, str, str]] = field(default_factory=list)

    async def __call__(self, content: bytes, filename: str, mime_type: str) -> str:
        self.saved.append((content, filename, mime_type))
        return f"https://hub.example.test/attachments/{len(self.saved)}/{filename}"


class InterleavingStore(MemorySharedStore):
    """Lets other tasks run between a read and its answer, as a networked store does, so concurrent senders
    really interleave (each may see the token missing before either has fetched it)."""

    async def get(self, key: str) -> str | None:
        value = await super().get(key)
        await asyncio.sleep(0)
        return value


def connector_context(
    http: httpx.AsyncClient, store: MemorySharedStore | None = None, saved: SavedAttachments | None = None
) -> ConnectorContext:
    """A context on a fixed clock: the fixtures' receive time."""
    return ConnectorContext(
        http=http,
        store=store if store is not None else MemorySharedStore(),
        save_attachment=saved if saved is not None else SavedAttachments(),
        read_attachment=lambda url, max_bytes: download(http, url, max_bytes),
        now=lambda: FIXTURE_RECEIVED_AT,
    )
