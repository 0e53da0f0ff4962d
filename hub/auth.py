"""Who is calling: an agent's API token, sent as a Bearer header or, from the agent inbox, in the session cookie;
signing in, out, and changing passwords.

Browsers never attach a Bearer header by themselves, so requests carrying one cannot be forged cross-site. The
inbox's cookie (HttpOnly, SameSite=Strict) they do attach, so a request authenticated by the cookie changes
nothing without the `X-CSRF-Token` header: a value derived from the session's token, which the inbox page reads
from `GET /api/v1/auth/session` and another site's page can neither read nor compute.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from litestar.connection import ASGIConnection
from sqlalchemy import delete
from sqlmodel import col, select

from hub.crypto import MIN_PASSWORD_LENGTH, hash_api_token, hash_password, new_api_token, verify_password
from hub.errors import ApiError
from hub.models import Agent, ApiToken, AuditEntry
from hub.ratelimit import RateLimiter, enforce
from hub.realtime import session_channel
from hub.runtime import Hub
from hub.statuses import AgentRole

__all__ = [
    "CSRF_HEADER",
    "SCOPES",
    "SESSION_COOKIE",
    "SESSION_TOKEN_LIFETIME",
    "Caller",
    "Credentials",
    "Scope",
    "authenticate",
    "change_password",
    "check_csrf",
    "client_address",
    "credentials_from",
    "csrf_token",
    "issue_token",
    "login",
    "logout",
]

SESSION_TOKEN_LIFETIME = timedelta(hours=12)
SESSION_COOKIE = "omnihub_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TOKEN_NAME = "login session"  # noqa: S105  (the name a session token is listed under)
SESSION_REVOKED = {"type": "session.revoked"}
"""Published on a revoked token's session channel: its sockets, on any web process, close."""

_password_work = ThreadPoolExecutor(max_workers=2, thread_name_prefix="omnihub-password")
"""argon2 takes tens of milliseconds of CPU and 64 MiB per call: off the event loop, and two at a time."""

Result = TypeVar("Result")

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
"""`read` answers GETs, `write` every change, `admin` the workspace's settings (webhooks, tokens, dead events)."""
_ROLE_SCOPES: dict[str, frozenset[str]] = {
    AgentRole.ADMIN: frozenset(SCOPES),
    AgentRole.AGENT: frozenset({"read", "write"}),
}


@dataclass(frozen=True, slots=True)
class Caller:
    workspace_id: str
    agent: Agent | None
    token_id: str
    expires_at: datetime | None
    scopes: frozenset[str] = frozenset({"read", "write"})
    """What the token may do: an integration token's own scopes, or those of its agent's role."""

    def require(self, scope: Scope) -> None:
        """403 naming the missing scope, so an integration's developer knows which token to make."""
        if scope not in self.scopes:
            held = ", ".join(sorted(self.scopes, key=SCOPES.index)) or "none"
            raise ApiError(
                403,
                "admin_only" if scope == "admin" else "insufficient_scope",
                f"This operation needs a token with the '{scope}' scope; this token has: {held}.",
            )

    @property
    def agent_id(self) -> str | None:
        return self.agent.id if self.agent else None

    def audit(self, action: str, subject_type: str, subject_id: str, details: dict[str, Any]) -> AuditEntry:
        """An audit entry of this caller's: by its agent, or by the integration's token that has none."""
        return AuditEntry(
            workspace_id=self.workspace_id,
            actor_type="agent" if self.agent else "api_token",
            actor_id=self.agent_id or self.token_id,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            details=details,
        )


@dataclass(frozen=True, slots=True)
class Credentials:
    token: str | None
    from_cookie: bool
    """The browser attached it: a change must also carry the session's CSRF token."""


def credentials_from(connection: ASGIConnection) -> Credentials:
    """The Bearer header's token, else the inbox's session cookie."""
    header = connection.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return Credentials(header[7:].strip() or None, from_cookie=False)
    cookie = connection.cookies.get(SESSION_COOKIE)
    return Credentials(cookie or None, from_cookie=bool(cookie))


def csrf_token(session_token: str) -> str:
    """Keyed by the session's own token: nothing to store, and it ends with the session."""
    return hmac.new(session_token.encode(), b"omnihub csrf token", hashlib.sha256).hexdigest()


def check_csrf(session_token: str, sent: str | None) -> None:
    if not sent or not hmac.compare_digest(csrf_token(session_token), sent):
        raise ApiError(
            403,
            "csrf_failed",
            f"A change made with the inbox's session cookie needs its {CSRF_HEADER} header; reload the page.",
        )


def client_address(connection: ASGIConnection) -> str:
    """The peer's address; uvicorn puts the X-Forwarded-For client here only for OMNIHUB_TRUSTED_PROXIES."""
    return connection.client.host if connection.client else "unknown"


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
    if row.scopes is not None:
        scopes = frozenset(row.scopes)
    else:
        scopes = _ROLE_SCOPES.get(agent.role if agent else AgentRole.AGENT, _ROLE_SCOPES[AgentRole.AGENT])
    return Caller(
        workspace_id=row.workspace_id, agent=agent, token_id=row.id, expires_at=row.expires_at, scopes=scopes
    )


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


async def login(hub: Hub, limiter: RateLimiter, email: str, password: str, address: str) -> tuple[Agent, str]:
    """A session token for the right password. Unknown emails cost the same work and get the same answer."""
    email = email.strip().lower()
    await _count_sign_in_attempt(hub, limiter, email, address)
    async with hub.database.session() as session:
        agent = (await session.exec(select(Agent).where(Agent.email == email))).first()
    matched = await _off_loop(_password_matches, agent.password_hash if agent else None, password)
    if agent is None or not matched:
        raise ApiError(401, "invalid_credentials", "Email or password is wrong.")
    await limiter.reset(_account_key(email))
    return agent, await issue_token(hub, agent, SESSION_TOKEN_NAME, SESSION_TOKEN_LIFETIME)


async def logout(hub: Hub, caller: Caller) -> None:
    """Revoke the token the caller used: it stops authenticating at once, and its sockets close."""
    async with hub.database.session() as session:
        await session.exec(delete(ApiToken).where(col(ApiToken.id) == caller.token_id))
        await session.commit()
    await hub.publisher.publish(SESSION_REVOKED, [session_channel(caller.token_id)])


async def change_password(
    hub: Hub, limiter: RateLimiter, caller: Caller, current_password: str, new_password: str, address: str
) -> int:
    """Set a new password and revoke the agent's other sessions; answer how many were revoked.

    The current password is required (a stolen session alone cannot take the account over) and
    guesses at it count against the same limits as sign-ins.
    """
    agent = caller.agent
    if agent is None:
        raise ApiError(403, "not_an_agent", "Only an agent's own session can change a password.")
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise ApiError(
            422,
            "invalid_input",
            f"new_password must be at least {MIN_PASSWORD_LENGTH} characters.",
            extra=[{"field": "new_password", "message": f"at least {MIN_PASSWORD_LENGTH} characters"}],
        )
    await _count_sign_in_attempt(hub, limiter, agent.email, address)
    if not await _off_loop(_password_matches, agent.password_hash, current_password):
        raise ApiError(
            422,
            "wrong_password",
            "current_password is not the agent's password.",
            extra=[{"field": "current_password", "message": "wrong password"}],
        )
    new_hash = await _off_loop(hash_password, new_password)
    async with hub.database.session() as session:
        row = await session.get_one(Agent, agent.id)
        row.password_hash = new_hash
        other_sessions = (
            await session.exec(
                select(ApiToken.id).where(
                    ApiToken.agent_id == agent.id,
                    ApiToken.name == SESSION_TOKEN_NAME,
                    ApiToken.id != caller.token_id,
                )
            )
        ).all()
        await session.exec(delete(ApiToken).where(col(ApiToken.id).in_(other_sessions)))
        await session.commit()
    await limiter.reset(_account_key(agent.email))
    if other_sessions:
        await hub.publisher.publish(
            SESSION_REVOKED, [session_channel(token_id) for token_id in other_sessions]
        )
    return len(other_sessions)


async def _count_sign_in_attempt(hub: Hub, limiter: RateLimiter, email: str, address: str) -> None:
    """Per account and per client address, counted before the password is checked, so parallel guesses count too."""
    settings = hub.settings
    await enforce(
        limiter,
        [
            (_account_key(email), settings.login_attempts_per_account),
            (f"login:ip:{address}", settings.login_attempts_per_ip),
        ],
        settings.login_window_seconds,
        "Too many sign-in attempts; wait before trying again.",
    )


def _account_key(email: str) -> str:
    """Hashed: the limiter's keys hold no email address, and an over-long one makes no over-long key."""
    return "login:account:" + hashlib.sha256(email.encode()).hexdigest()[:32]


@functools.cache
def _decoy_hash() -> str:
    """A real hash with the same parameters as agents' hashes, so an unknown email costs a full verification."""
    return hash_password(secrets.token_urlsafe(24))


def _password_matches(password_hash: str | None, password: str) -> bool:
    """Verify against the agent's hash, or the decoy when there is no agent (always False then)."""
    return verify_password(password_hash or _decoy_hash(), password) and password_hash is not None


async def _off_loop(work: Callable[..., Result], *arguments: object) -> Result:
    return await asyncio.get_running_loop().run_in_executor(_password_work, work, *arguments)
