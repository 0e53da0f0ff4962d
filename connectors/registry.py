"""Which connector serves which channel kind: the built-ins plus the `omnihub.connectors` entry points."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from connectors.base import MalformedPayload
from normalizer import IdentityKind

if TYPE_CHECKING:
    from connectors.base import Connector
    from normalizer import InboundMessage

__all__ = [
    "ConnectorRegistry",
    "DuplicateConnectorKind",
    "MisnamedConnectorEntryPoint",
    "UndeclaredIdentityKind",
    "UnknownConnectorKind",
    "default_registry",
]

ENTRY_POINT_GROUP = "omnihub.connectors"


class DuplicateConnectorKind(Exception):
    """Two connectors claim the same kind."""


class MisnamedConnectorEntryPoint(Exception):
    """An entry point's name is not the kind of the connector it names."""


class UnknownConnectorKind(LookupError):
    """No connector is registered for a kind."""


class UndeclaredIdentityKind(MalformedPayload):
    """A message names an identity kind that neither every channel shares nor any registered connector declares."""


class ConnectorRegistry:
    def __init__(self) -> None:
        self._by_kind: dict[str, type[Connector]] = {}

    def register(self, connector: type[Connector]) -> type[Connector]:
        existing = self._by_kind.get(connector.kind)
        if existing is not None and existing is not connector:
            raise DuplicateConnectorKind(
                f"connector kind {connector.kind!r} is claimed by {existing.__module__}.{existing.__qualname__} "
                f"and {connector.__module__}.{connector.__qualname__}"
            )
        self._by_kind[connector.kind] = connector
        return connector

    def load_entry_points(self) -> None:
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            connector = entry_point.load()
            if connector.kind != entry_point.name:
                raise MisnamedConnectorEntryPoint(
                    f"entry point {entry_point.name!r} ({entry_point.value}) names a connector of kind "
                    f"{connector.kind!r}; name the entry point after the kind"
                )
            self.register(connector)

    def get(self, kind: str) -> type[Connector]:
        try:
            return self._by_kind[kind]
        except KeyError:
            raise UnknownConnectorKind(f"no connector for channel kind {kind!r}") from None

    def kinds(self) -> list[str]:
        return sorted(self._by_kind)

    def identity_kinds(self) -> frozenset[str]:
        """The kinds every channel shares and those the registered connectors declare."""
        declared = (kind for connector in self._by_kind.values() for kind in connector.identity_kinds)
        return frozenset(IdentityKind).union(declared)

    def check_identity_kinds(self, messages: Iterable[InboundMessage]) -> None:
        """Raise UndeclaredIdentityKind unless every identity the messages name is of a known kind."""
        known = self.identity_kinds()
        for message in messages:
            for identity in (message.sender, *message.linked_identities):
                if identity.kind not in known:
                    raise UndeclaredIdentityKind(
                        f"identity kind {identity.kind!r} is declared by no connector"
                    )

    def __contains__(self, kind: object) -> bool:
        return kind in self._by_kind


def default_registry() -> ConnectorRegistry:
    """The built-in connectors plus every installed third-party one."""
    registry = ConnectorRegistry()
    for connector in _builtin_connectors():
        registry.register(connector)
    registry.load_entry_points()
    return registry


def _builtin_connectors() -> list[type[Connector]]:
    from connectors.email import EmailConnector
    from connectors.sms import TwilioSmsConnector
    from connectors.webchat import WebChatConnector
    from connectors.wechat import WeChatMiniProgramConnector, WeChatOfficialAccountConnector

    return [
        EmailConnector,
        TwilioSmsConnector,
        WebChatConnector,
        WeChatOfficialAccountConnector,
        WeChatMiniProgramConnector,
    ]
