"""Channel connectors: one package per channel, found through a registry."""

from connectors.base import (
    AckResponse,
    Capabilities,
    Connector,
    ConnectorContext,
    DeferredSendError,
    InboxRef,
    MalformedPayload,
    OutboundMessage,
    PermanentSendError,
    RawRequest,
    SendResult,
    SharedStore,
    SignatureInvalid,
    TransientSendError,
    WebhookConnector,
)
from connectors.registry import (
    ConnectorRegistry,
    DuplicateConnectorKind,
    MisnamedConnectorEntryPoint,
    UnknownConnectorKind,
    default_registry,
)

__all__ = [
    "AckResponse",
    "Capabilities",
    "Connector",
    "ConnectorContext",
    "ConnectorRegistry",
    "DeferredSendError",
    "DuplicateConnectorKind",
    "InboxRef",
    "MalformedPayload",
    "MisnamedConnectorEntryPoint",
    "OutboundMessage",
    "PermanentSendError",
    "RawRequest",
    "SendResult",
    "SharedStore",
    "SignatureInvalid",
    "TransientSendError",
    "UnknownConnectorKind",
    "WebhookConnector",
    "default_registry",
]
