"""The REST API under /api/v1 for agents and integrations: one controller per resource, every query scoped to
the caller's workspace, every answer a declared shape of `hub.views`."""

from __future__ import annotations

from litestar import Router

from hub.api.agents import AgentController
from hub.api.attachments import upload_route
from hub.api.auth import AuthController
from hub.api.bot_settings import BotEnginesController
from hub.api.contacts import ContactController
from hub.api.conversations import ConversationController
from hub.api.dependencies import API_DEPENDENCIES
from hub.api.inbound_events import InboundEventController
from hub.api.inboxes import InboxController, inbox_view
from hub.api.knowledge_base import KnowledgeBaseController
from hub.api.messages import MessageController
from hub.api.service_levels import ServiceLevelController
from hub.api.tickets import TicketController
from hub.api.webhooks import WebhookController
from hub.settings import Settings

__all__ = ["API_PATH", "api_router", "inbox_view"]

API_PATH = "/api/v1"


def api_router(settings: Settings) -> Router:
    return Router(
        path=API_PATH,
        dependencies=API_DEPENDENCIES,
        route_handlers=[
            AuthController,
            AgentController,
            InboxController,
            ConversationController,
            ContactController,
            MessageController,
            InboundEventController,
            KnowledgeBaseController,
            BotEnginesController,
            TicketController,
            ServiceLevelController,
            WebhookController,
            upload_route(settings),
        ],
    )
