"""Who is calling: an agent's API token, sent as a Bearer header.

Browsers never attach that header by themselves, so API calls cannot be forged cross-site (no
cookie, no CSRF); the agent inbox keeps the token its login returned in sessionStorage.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from litestar import Request
from litestar.connection import ASGIConnection
from sqlmodel import select

from hub.crypto import hash_api_token, new_api_token, verify_password
from hub.errors import ApiError
from hub.models import Agent, ApiToken
from hub.runtime import Hub

__all__ = ["Caller", "authenticate", "issue_token", "login", "token_from"]

SESSION_TOKEN_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Caller:
    workspace_id: str
    agent: Agent | None
    token_id: str

    @property
    def agent_id(self) -> str | None:
        return self.agent.id if self.agent else None


def token_from(connection: ASGIConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


async def authenticate(hub: Hub, token: str | None) -> Caller:
    if not token:
        raise ApiError(401, "missing_token", "Send an API token as 'Authorization: Bearer <token>'.")
    token_hash = hash_api_token(token)
    async with hub.database.session() as session:
        row = (await session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash))).first()
        if row is None or not hmac.compare_digest(row.token_hash, token_hash):
            raise ApiError(401, "invalid_token", "The API token is not valid.")
        if row.expires_at is not None and row.expires_at <= hub.now():
            raise ApiError(401, "expired_token", "The API token has expired; log in again.")
        agent = await session.get(Agent, row.agent_id) if row.agent_id else None
    return Caller(workspace_id=row.workspace_id, agent=agent, token_id=row.id)


async def caller_dependency(request: Request) -> Caller:
    hub: Hub = request.app.state.hub
    return await authenticate(hub, token_from(request))


async def issue_token(hub: Hub, agent: Agent, name: str, lifetime: timedelta | None) -> str:
    token = new_api_token()
    async with hub.database.session() as session:
        session.add(
            ApiToken(
                workspace_id=agent.workspace_id,
                agent_id=agent.id,
                name=name,
                token_hash=hash_api_token(token),
                expires_at=hub.now() + lifetime if lifetime else None,
            )
        )
        await session.commit()
    return token


async def login(hub: Hub, email: str, password: str) -> tuple[Agent, str]:
    async with hub.database.session() as session:
        agent = (await session.exec(select(Agent).where(Agent.email == email.strip().lower()))).first()
    if agent is None:
        verify_password("$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$invalidinvalidinvalidinvalidinvalidinv", password)
        raise ApiError(401, "invalid_credentials", "Email or password is wrong.")
    if not verify_password(agent.password_hash, password):
        raise ApiError(401, "invalid_credentials", "Email or password is wrong.")
    return agent, await issue_token(hub, agent, "login session", SESSION_TOKEN_LIFETIME)
