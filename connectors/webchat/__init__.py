"""The web chat channel: the hub's own embeddable widget, its endpoints and its connector."""

from connectors.webchat.connector import WEBCHAT_VISITOR, WebChatConnector
from connectors.webchat.routes import routes
from connectors.webchat.settings import WebChatSettings

__all__ = ["WEBCHAT_VISITOR", "WebChatConnector", "WebChatSettings", "routes"]
