"""What the API's handlers are given: the hub, the caller, a database session for the request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, TypeVar

from litestar import Request
from litestar.di import NamedDependency, Provide
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.auth import CSRF_HEADER, Caller, authenticate, check_csrf, credentials_from
from hub.errors import ApiError
from hub.ids import looks_like_id
from hub.models import Agent, Conversation, Inbox
from hub.ratelimit import RateLimiter, enforce
from hub.runtime import Hub

__all__ = ["API_DEPENDENCIES", "load_agent", "load_conversation", "load_inbox", "workspace_row"]


async def provide_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def provide_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def provide_session(hub: NamedDependency[Hub]) -> AsyncIterator[AsyncSession]:
    """One session for the request's reads and writes; what it has not committed is rolled back at the end."""
    async with hub.database.session() as session:
        yield session


READS = frozenset({"GET", "HEAD"})


async def provide_caller(request: Request, hub: NamedDependency[Hub]) -> Caller:
    """The token's caller (a change by session cookie also proves its CSRF token), checked for the operation's scope (`read` for a GET, `write` for any other method,
    unless the handler names its own in `opt={"scope": ...}`) and counted against its rate limit."""
    credentials = credentials_from(request)
    caller = await authenticate(hub, credentials.token)
    if credentials.from_cookie and credentials.token and request.method not in READS:
        check_csrf(credentials.token, request.headers.get(CSRF_HEADER))
    caller.require(request.route_handler.opt.get("scope") or ("read" if request.method in READS else "write"))
    limiter: RateLimiter = request.app.state.rate_limiter
    await enforce(
        limiter,
        [(f"api:token:{caller.token_id}", hub.settings.api_requests_per_minute)],
        60,
        "Too many requests with this API token; wait before trying again.",
    )
    return caller


async def provide_admin(caller: NamedDependency[Caller]) -> Caller:
    """For what only the `admin` scope may read or do: customers' raw deliveries in dead events,
    webhooks, tokens, routing settings, teams, agents' capacity."""
    caller.require("admin")
    return caller


API_DEPENDENCIES = {
    "hub": Provide(provide_hub),
    "rate_limiter": Provide(provide_rate_limiter),
    "session": Provide(provide_session),
    "caller": Provide(provide_caller),
    "admin": Provide(provide_admin),
}
"""Resolved only for the handlers that name them: the login handler, which names no `caller`, needs no token."""


class _InWorkspace(Protocol):
    id: str
    workspace_id: str


_Row = TypeVar("_Row", bound=_InWorkspace)


async def workspace_row(
    session: AsyncSession,
    caller: Caller,
    model: type[_Row],
    row_id: str,
    *conditions: Any,
    code: str,
    noun: str,
    lock: bool = False,
) -> _Row:
    """The row `row_id` of `model` in the caller's workspace (meeting `conditions`, locked for update if asked).

    One answer for every resource: 404 `code`, "No <noun> <id> in your workspace.", for a row of another
    workspace as for one that does not exist, so ids cannot be probed across workspaces; an id the hub could
    not have made is not sent to the database."""
    row = None
    if looks_like_id(row_id):
        statement = select(model).where(
            col(model.id) == row_id, col(model.workspace_id) == caller.workspace_id, *conditions
        )
        row = (await session.exec(statement.with_for_update() if lock else statement)).first()
    if row is None:
        raise ApiError(404, code, f"No {noun} {row_id} in your workspace.")
    return row


async def load_conversation(session: AsyncSession, caller: Caller, conversation_id: str) -> Conversation:
    """The caller's conversation; 404 for one of another workspace, as for one that does not exist."""
    return await workspace_row(
        session, caller, Conversation, conversation_id, code="conversation_not_found", noun="conversation"
    )


async def load_inbox(session: AsyncSession, caller: Caller, inbox_id: str) -> Inbox:
    """The caller's inbox; 404 for one of another workspace, as for one that does not exist."""
    return await workspace_row(session, caller, Inbox, inbox_id, code="inbox_not_found", noun="inbox")


async def load_agent(session: AsyncSession, caller: Caller, agent_id: str) -> Agent:
    """An agent of the caller's workspace; 404 for one of another workspace, as for one that does not exist."""
    return await workspace_row(session, caller, Agent, agent_id, code="agent_not_found", noun="agent")
