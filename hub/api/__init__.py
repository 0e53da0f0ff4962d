"""The REST API under /api/v1 for agents and integrations: one controller per resource, every query scoped to
the caller's workspace, every answer a declared shape of `hub.views`."""

from __future__ import annotations

import inspect

from litestar import Router

from hub.api.agents import AgentController
from hub.api.attachments import upload_route
from hub.api.auth import AuthController
from hub.api.bot_settings import BotEnginesController
from hub.api.canned_responses import CannedResponseController
from hub.api.contacts import ContactController
from hub.api.conversations import ConversationController
from hub.api.dependencies import API_DEPENDENCIES
from hub.api.idempotency import IdempotencyKeys
from hub.api.inbound_events import InboundEventController
from hub.api.inbox_health import InboxHealthController
from hub.api.inboxes import InboxController, inbox_view
from hub.api.knowledge_base import KnowledgeBaseController
from hub.api.labels import LabelController
from hub.api.mentions import MentionController
from hub.api.messages import MessageController
from hub.api.out_of_scope_examples import OutOfScopeExampleController
from hub.api.reports import ReportController
from hub.api.routing import RoutingController
from hub.api.service_levels import ServiceLevelController
from hub.api.shifts import ShiftController
from hub.api.teams import TeamController
from hub.api.tickets import TicketController
from hub.api.tokens import TokenController
from hub.api.webhooks import WebhookController
from hub.api.workspace import WorkspaceController
from hub.errors import error_responses
from hub.settings import Settings

__all__ = ["API_PATH", "api_router", "inbox_view"]

API_PATH = "/api/v1"


def api_router(settings: Settings) -> Router:
    return _declaring_shared_answers(
        Router(
            path=API_PATH,
            dependencies=API_DEPENDENCIES,
            middleware=[IdempotencyKeys()],
            route_handlers=[
                AuthController,
                AgentController,
                InboxController,
                ConversationController,
                MessageController,
                MentionController,
                InboundEventController,
                KnowledgeBaseController,
                OutOfScopeExampleController,
                BotEnginesController,
                WebhookController,
                ContactController,
                TicketController,
                ServiceLevelController,
                upload_route(settings),
                TokenController,
                TeamController,
                RoutingController,
                WorkspaceController,
                ShiftController,
                ReportController,
                InboxHealthController,
                LabelController,
                CannedResponseController,
            ],
        )
    )


def _declaring_shared_answers(router: Router) -> Router:
    """Declared on each operation, so an operation added later is declared too: every operation a token calls may
    answer 403 for a scope the token lacks and 429 over the token's rate limit; every POST 409 and 422 for its
    `Idempotency-Key`."""
    for route in router.routes:
        for handler in getattr(route, "route_handlers", ()):
            shared = []
            if {"caller", "admin"} & inspect.signature(handler.fn).parameters.keys():
                shared += [403, 429]
            if "POST" in handler.http_methods:
                shared += [400, 409, 413, 422]
            handler.responses = {**error_responses(*shared), **(handler.responses or {})}
    return router
