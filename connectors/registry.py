"""Which connector serves which channel kind: the built-ins plus the `omnihub.connectors` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.base import Connector

__all__ = [
    "ConnectorRegistry",
    "DuplicateConnectorKind",
    "MisnamedConnectorEntryPoint",
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
    from connectors.webchat import WebChatConnector
    from connectors.wechat import WeChatMiniProgramConnector, WeChatOfficialAccountConnector

    return [EmailConnector, WebChatConnector, WeChatOfficialAccountConnector, WeChatMiniProgramConnector]
