"""The REST API under /api/v1 for agents and integrations: one controller per resource, every query scoped to
the caller's workspace, every answer a declared shape of `hub.views`."""

from __future__ import annotations

import inspect
from copy import copy
from types import MemberDescriptorType
from typing import Any

from litestar import Controller, Router
from litestar.handlers import HTTPRouteHandler

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

__all__ = ["API_PATH", "api_routes", "inbox_view"]

API_PATH = "/api/v1"


def api_routes(settings: Settings) -> list[type[Controller] | Router]:
    """The API's controllers, each under API_PATH with the API's dependencies and `Idempotency-Key` middleware.

    Registered on the app one by one rather than inside one Router: Litestar deep-copies a Router registered on an
    app, about a third of building an app, which nearly every test does (benchmarks/app_build.py). Only the upload
    route, whose size limit is a setting, keeps a Router of its own (one handler, cheap to copy)."""
    upload = Router(
        path=API_PATH,
        dependencies=API_DEPENDENCIES,
        middleware=[IdempotencyKeys()],
        route_handlers=[upload_route(settings)],
    )
    for route in upload.routes:
        for handler in getattr(route, "route_handlers", ()):
            _declare_shared_answers(handler)
    return [*_AHEAD_OF_UPLOAD, upload, *_AFTER_UPLOAD]


def _under_api(controller: type[Controller]) -> type[Controller]:
    """`controller` under API_PATH, with the API's dependencies and middleware ahead of its own (as a Router's
    would be), and each operation's shared answers declared."""
    declared = {
        name: _declare_shared_answers(copy(handler))
        for name in dir(controller)
        if isinstance(handler := getattr(controller, name), HTTPRouteHandler)
    }
    return type(
        controller.__name__,
        (controller,),
        {
            "__module__": controller.__module__,
            "__doc__": controller.__doc__,
            "path": API_PATH + (_declared(controller, "path") or "").rstrip("/"),
            "dependencies": {**API_DEPENDENCIES, **(_declared(controller, "dependencies") or {})},
            "middleware": [IdempotencyKeys(), *(_declared(controller, "middleware") or ())],
            **declared,
        },
    )


def _declared(controller: type[Controller], name: str) -> Any:
    """A controller's class attribute, None when only Controller's empty slot is there."""
    value = getattr(controller, name, None)
    return None if isinstance(value, MemberDescriptorType) else value


def _declare_shared_answers(handler: HTTPRouteHandler) -> HTTPRouteHandler:
    """Declared on each operation, so an operation added later is declared too: every operation a token calls may
    answer 403 for a scope the token lacks and 429 over the token's rate limit; every POST 409 and 422 for its
    `Idempotency-Key`."""
    shared = []
    if {"caller", "admin"} & inspect.signature(handler.fn).parameters.keys():
        shared += [403, 429]
    if "POST" in handler.http_methods:
        shared += [400, 409, 413, 422]
    handler.responses = {**error_responses(*shared), **(handler.responses or {})}
    return handler


_AHEAD_OF_UPLOAD = tuple(
    _under_api(controller)
    for controller in (
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
    )
)
_AFTER_UPLOAD = tuple(
    _under_api(controller)
    for controller in (
        TokenController,
        TeamController,
        RoutingController,
        WorkspaceController,
        ShiftController,
        ReportController,
        InboxHealthController,
        LabelController,
        CannedResponseController,
    )
)
"""The API's controllers as the app registers them, built once per process, in the order of the OpenAPI
document's paths (the upload route comes between the two)."""
