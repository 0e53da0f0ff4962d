"""The web chat channel: the hub's own embeddable widget."""

from connectors.webchat.connector import WebChatConnector, WebChatSettings

__all__ = ["WebChatConnector", "WebChatSettings"]
