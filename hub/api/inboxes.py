"""Connected channels: list them, read one, connect a new one."""

from __future__ import annotations

import secrets
from functools import cache
from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from pydantic import SecretStr
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from connectors import CredentialsRefused, CredentialsUnchecked, PollingConnector, UnknownConnectorKind
from hub.api.dependencies import load_inbox, workspace_row
from hub.api.fields import required_text
from hub.api.paging import NEXT_PAGE_LINK, array_page, array_rows
from hub.auth import Caller
from hub.errors import ApiError, error_responses
from hub.fields import ArrayLimitQuery, CursorQuery, Id, IdPath, InboxSettings, Kind, Name
from hub.models import Inbox, PollState
from hub.pollers import poll_states
from hub.runtime import ENCRYPTED, Hub, InvalidInboxSettings
from hub.statuses import InboxStatus
from hub.views import ChannelCapabilities, InboxView
from routing.assignment import STRATEGIES as ROUTING_STRATEGIES

__all__ = ["InboxBody", "InboxController", "inbox_view"]

MASKED = "********"
MAX_REOPEN_WINDOW_HOURS = 24 * 365
_VIEW_FIELDS = frozenset(InboxView.__struct_fields__)


class InboxBody(msgspec.Struct):
    kind: Kind
    name: Name
    settings: InboxSettings = {}
    routing_strategy: str = "least_busy"
    bot_enabled: bool = False


@cache
def _with_connection_facts(names: tuple[str, ...]) -> type[InboxView]:
    """The inbox view with a channel's public connection facts as top-level fields, as the API has always
    answered them; one type per set of names a connector describes."""
    return cast(
        type[InboxView],
        msgspec.defstruct(
            "InboxView", [(name, Any) for name in names], bases=(InboxView,), kw_only=True, omit_defaults=True
        ),
    )


def inbox_view(hub: Hub, inbox: Inbox, poll_state: PollState | None = None) -> InboxView:
    """The inbox with its public connection facts and status; secret settings are masked, never echoed.

    An inbox whose connector is no longer installed is still listed, marked `connector_missing`.
    `poll_state` is where the hub reads a pull channel's inbox (email) from, and how that goes.
    """
    fields: dict[str, Any] = {
        "id": inbox.id,
        "kind": inbox.kind,
        "name": inbox.name,
        "settings": {
            name: MASKED if isinstance(value, dict) and ENCRYPTED in value else value
            for name, value in inbox.settings.items()
        },
        "routing_strategy": inbox.routing_strategy,
        "bot_enabled": inbox.bot_enabled,
        "reopen_window_hours": inbox.reopen_window_hours,
        "created_at": inbox.created_at,
    }
    if inbox.kind not in hub.registry:
        return InboxView(**fields, capabilities=None, status=InboxStatus.FAILED, connector_missing=True)
    connector = hub.connector_for(inbox)
    if poll_state is not None:
        fields |= {
            "status": poll_state.status,
            "status_reason": poll_state.status_reason,
            "status_retry_at": poll_state.status_retry_at,
        }
    else:
        fields["status"] = (
            InboxStatus.CONNECTING if isinstance(connector, PollingConnector) else InboxStatus.ACTIVE
        )
    capabilities = connector.capabilities
    facts = {name: value for name, value in connector.describe().items() if name not in _VIEW_FIELDS}
    return _with_connection_facts(tuple(facts))(
        **fields,
        **facts,
        capabilities=ChannelCapabilities(
            max_text_length=capabilities.max_text_length,
            reply_window_seconds=capabilities.reply_window.total_seconds()
            if capabilities.reply_window
            else None,
            max_replies_in_window=capabilities.max_replies_in_window,
            typing=capabilities.typing,
        ),
    )


async def _prove_credentials(hub: Hub, inbox: Inbox) -> None:
    """The channel must accept the credentials before the inbox exists: nobody connects an account they cannot prove."""
    try:
        await hub.check_credentials(inbox)
    except CredentialsRefused as refused:
        named = (
            [{"field": f"settings.{refused.setting}", "message": refused.reason}] if refused.setting else None
        )
        raise ApiError(
            422, "credentials_refused", f"The channel refused the credentials: {refused.reason}", extra=named
        ) from None
    except CredentialsUnchecked as unchecked:
        raise ApiError(
            502,
            "channel_unavailable",
            f"The channel could not check the credentials, so the inbox was not "
            f"created; try again later: {unchecked.reason}",
        ) from None


WITH_FACTS = (
    "Besides its declared fields, an inbox answers its channel's public connection facts (e.g. `callback_url`, "
    "`widget_token`, `embed_snippet`) as top-level keys."
)


def _sealed_settings(hub: Hub, kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as stored (validated by the channel's model, secrets encrypted), or the 422 naming each field."""
    try:
        return hub.seal_settings(kind, settings)
    except UnknownConnectorKind:
        raise ApiError(
            422,
            "unknown_kind",
            f"No channel kind {kind!r}; known: {', '.join(hub.registry.kinds())}.",
            extra=[{"field": "kind", "message": "unknown channel kind"}],
        ) from None
    except InvalidInboxSettings as invalid:
        raise ApiError(
            422,
            "invalid_settings",
            str(invalid),
            extra=[
                {"field": "settings." + ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
                for error in invalid.errors
            ],
        ) from None


def _plain_settings(hub: Hub, inbox: Inbox) -> dict[str, Any]:
    """The inbox's settings as a client would send them, secrets opened: what a partial change is laid over."""
    opened = hub.open_settings(inbox)
    plain = opened.model_dump(mode="json")
    for name in type(opened).model_fields:
        value = getattr(opened, name)
        if isinstance(value, SecretStr):
            plain[name] = value.get_secret_value()
    return plain


class InboxChange(msgspec.Struct, forbid_unknown_fields=True):
    """`PATCH /api/v1/inboxes/{id}`: what to change. `settings` names only the settings that change; a secret left
    out, or sent back as `********`, is kept."""

    name: Name | None = None
    settings: InboxSettings | None = None
    reopen_window_hours: Annotated[int, msgspec.Meta(ge=0, le=MAX_REOPEN_WINDOW_HOURS)] | None = None
    """How long after resolving a customer's message reopens the conversation (0: never, always a new one)."""


class InboxController(Controller):
    path = "/inboxes"
    tags = ("inboxes",)

    @get(
        "/",
        responses=error_responses(400, 401),
        response_description=WITH_FACTS,
        response_headers=[NEXT_PAGE_LINK],
    )
    async def list_inboxes(
        self,
        request: Request[Any, Any, Any],
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        limit: ArrayLimitQuery = None,
        cursor: CursorQuery = None,
    ) -> Response[list[InboxView]]:
        """Connected channels. Secret settings are shown as `********`, never echoed. Paged (`limit`, `cursor`)
        they come oldest first, the next page named by the `Link` header."""
        rows, next_page = await array_rows(
            session,
            select(Inbox).where(Inbox.workspace_id == caller.workspace_id),
            "inboxes",
            col(Inbox.id),
            lambda inbox: inbox.id,
            Id,
            limit,
            cursor,
        )
        states = await poll_states(hub, [inbox.id for inbox in rows])
        return array_page(
            request, [inbox_view(hub, inbox, states.get(inbox.id)) for inbox in rows], next_page
        )

    @get("/{inbox_id:str}", responses=error_responses(400, 401, 404), response_description=WITH_FACTS)
    async def get_inbox(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        inbox_id: IdPath,
    ) -> InboxView:
        inbox = await load_inbox(session, caller, inbox_id)
        return inbox_view(hub, inbox, (await poll_states(hub, [inbox.id])).get(inbox.id))

    @post(
        "/",
        status_code=201,
        responses=error_responses(400, 401, 413, 422, 502),
        response_description=WITH_FACTS,
    )
    async def create_inbox(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        data: JSONBody[InboxBody],
    ) -> InboxView:
        """Connect a channel: `settings` is validated by the channel's settings model, and its credentials are
        proved with the channel (422 `credentials_refused`, or 502 when the channel could not be asked)."""
        if data.routing_strategy not in ROUTING_STRATEGIES:
            raise ApiError(
                422,
                "invalid_input",
                f"routing_strategy must be one of {', '.join(ROUTING_STRATEGIES)}.",
                extra=[{"field": "routing_strategy", "message": "unknown strategy"}],
            )
        name = required_text("name", data.name)
        sealed = _sealed_settings(hub, data.kind, data.settings)
        inbox = Inbox(
            workspace_id=caller.workspace_id,
            kind=data.kind,
            name=name,
            settings=sealed,
            public_token=secrets.token_urlsafe(24),
            routing_strategy=data.routing_strategy,
            bot_enabled=data.bot_enabled,
        )
        await _prove_credentials(hub, inbox)
        session.add(inbox)
        await session.commit()
        return inbox_view(hub, inbox)

    @patch(
        "/{inbox_id:str}",
        responses=error_responses(400, 401, 404, 413, 422, 502),
        response_description=WITH_FACTS,
    )
    async def change_inbox(
        self,
        hub: NamedDependency[Hub],
        caller: NamedDependency[Caller],
        session: NamedDependency[AsyncSession],
        inbox_id: IdPath,
        data: JSONBody[InboxChange],
    ) -> InboxView:
        """Rename an inbox or change some of its settings (a new password, a rotated app secret). Changed settings
        are validated and their credentials proved with the channel before anything is stored, as on creation; a
        polled inbox (email) reconnects with them within a scan."""
        inbox = await workspace_row(
            session, caller, Inbox, inbox_id, code="inbox_not_found", noun="inbox", lock=True
        )
        if data.name is not None:
            inbox.name = required_text("name", data.name)
        if data.reopen_window_hours is not None:
            inbox.reopen_window_hours = data.reopen_window_hours
        if data.settings is not None and inbox.kind in hub.registry:
            current = _plain_settings(hub, inbox)
            wanted = {**current, **{name: value for name, value in data.settings.items() if value != MASKED}}
            if wanted != current:
                inbox.settings = _sealed_settings(hub, inbox.kind, wanted)
                await _prove_credentials(hub, inbox)
        elif data.settings is not None:
            raise ApiError(
                422,
                "unknown_kind",
                f"The {inbox.kind!r} channel is not installed: its settings cannot change.",
            )
        session.add(inbox)
        await session.commit()
        await session.refresh(inbox)
        return inbox_view(hub, inbox, (await poll_states(hub, [inbox.id])).get(inbox.id))
