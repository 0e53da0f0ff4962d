"""Integration API tokens of the workspace, for admins: `/api/v1/tokens`. Each has scopes and an optional expiry;
its secret is answered once and stored as a hash; revoking it stops it at once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import Meta
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.api.dependencies import workspace_row
from hub.api.paging import id_page
from hub.auth import SESSION_REVOKED, Caller, Scope
from hub.crypto import hash_api_token, new_api_token
from hub.errors import ApiError, error_responses
from hub.fields import SINGLE_LINE, CursorQuery
from hub.models import ApiToken
from hub.realtime import session_channel
from hub.runtime import Hub
from hub.views import ApiTokenCreated, ApiTokenPage, ApiTokenView

__all__ = ["TokenController"]


class TokenBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=100, pattern=SINGLE_LINE)]
    scopes: Annotated[list[Scope], Meta(min_length=1, max_length=3)]
    """`read` (GETs), `write` (every change), `admin` (webhooks, tokens, dead inbound events)."""
    expires_at: datetime | None = None
    """Null: valid until revoked."""


def _view(token: ApiToken) -> ApiTokenView:
    return ApiTokenView(
        id=token.id,
        name=token.name,
        scopes=msgspec.convert(token.scopes or [], list[Scope]),
        created_at=token.created_at,
        expires_at=token.expires_at,
    )


class TokenController(Controller):
    path = "/tokens"
    tags = ("api tokens",)

    @post("/", status_code=201, responses=error_responses(400, 401, 413, 422))
    async def create(
        self,
        hub: NamedDependency[Hub],
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        data: JSONBody[TokenBody],
    ) -> ApiTokenCreated:
        """A token for an integration (a CRM). The answer carries the `token`, shown this once."""
        if data.expires_at is not None and (data.expires_at.tzinfo is None or data.expires_at <= hub.now()):
            raise ApiError(
                422,
                "invalid_input",
                "expires_at must be a future time with its time zone.",
                extra=[{"field": "expires_at", "message": "must be a future time with its time zone"}],
            )
        secret = new_api_token()
        token = ApiToken(
            workspace_id=admin.workspace_id,
            name=data.name,
            token_hash=hash_api_token(secret),
            scopes=sorted(set(data.scopes), key=["read", "write", "admin"].index),
            created_at=hub.now(),
            expires_at=data.expires_at,
        )
        session.add(token)
        session.add(
            admin.audit(
                "api_token.created", "api_token", token.id, {"name": token.name, "scopes": token.scopes}
            )
        )
        await session.commit()
        return ApiTokenCreated(**msgspec.structs.asdict(_view(token)), token=secret)

    @get("/", responses=error_responses(400, 401))
    async def list_tokens(
        self,
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        cursor: CursorQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 25,
    ) -> ApiTokenPage:
        """The workspace's integration tokens, oldest first (agents' login sessions are not listed)."""
        statement = select(ApiToken).where(
            ApiToken.workspace_id == admin.workspace_id, col(ApiToken.scopes).is_not(None)
        )
        page, next_cursor = await id_page(session, statement, col(ApiToken.id), cursor, limit)
        return ApiTokenPage(items=[_view(row) for row in page], next_cursor=next_cursor)

    @delete("/{token_id:str}", status_code=204, responses=error_responses(400, 401, 404))
    async def revoke(
        self,
        hub: NamedDependency[Hub],
        session: NamedDependency[AsyncSession],
        admin: NamedDependency[Caller],
        token_id: FromPath[str],
    ) -> None:
        """Revoke an integration token: it stops authenticating at once, and its sockets close."""
        token = await workspace_row(
            session,
            admin,
            ApiToken,
            token_id,
            col(ApiToken.scopes).is_not(None),
            code="token_not_found",
            noun="API token",
        )
        session.add(admin.audit("api_token.revoked", "api_token", token.id, {"name": token.name}))
        await session.delete(token)
        await session.commit()
        await hub.publisher.publish(SESSION_REVOKED, [session_channel(token.id)])
