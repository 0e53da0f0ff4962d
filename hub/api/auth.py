"""Signing in and out, and changing one's password: `/api/v1/auth`."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler
from litestar.params import JSONBody, SkipValidation

from hub import auth
from hub.auth import (
    SESSION_COOKIE,
    SESSION_TOKEN_LIFETIME,
    Caller,
    client_address,
    credentials_from,
    csrf_token,
)
from hub.errors import ApiError, error_responses
from hub.fields import Email, Password
from hub.models import Agent
from hub.ratelimit import RateLimiter
from hub.runtime import Hub
from hub.statuses import AgentRole
from hub.views import AgentSummary, BrowserSession, LoginAnswer, PasswordChanged

__all__ = ["AuthController", "agent_summary"]


RateLimiterDependency = NamedDependency[SkipValidation[RateLimiter]]
"""A Protocol, which the signature model cannot check an instance against."""


class LoginBody(msgspec.Struct):
    email: Email
    password: Password


class PasswordChangeBody(msgspec.Struct):
    current_password: Password
    new_password: Password


def agent_summary(agent: Agent) -> AgentSummary:
    return AgentSummary(id=agent.id, name=agent.name, email=agent.email, role=AgentRole(agent.role))


def json_body_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """A form or text/plain body is what another site's page can post without asking: these take JSON alone."""
    media_type = connection.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415, "unsupported_media_type", "Send the body as JSON, with 'Content-Type: application/json'."
        )


class AuthController(Controller):
    path = "/auth"
    tags = ("auth",)

    @post(
        "/login", status_code=200, guards=[json_body_only], responses=error_responses(400, 401, 413, 415, 429)
    )
    async def login(
        self,
        request: Request,
        hub: NamedDependency[Hub],
        rate_limiter: RateLimiterDependency,
        data: JSONBody[LoginBody],
    ) -> LoginAnswer:
        """Exchange an agent's email and password for an API token valid 12 hours.

        Attempts are limited per email and per client address (429 with `Retry-After`).
        """
        agent, token = await auth.login(hub, rate_limiter, data.email, data.password, client_address(request))
        return LoginAnswer(
            access_token=token,
            token_type="bearer",  # noqa: S106 - the OAuth token type, not a secret
            agent=agent_summary(agent),
            workspace_id=agent.workspace_id,
        )

    @post("/logout", status_code=204, opt={"scope": "read"}, responses=error_responses(401))
    async def logout(self, hub: NamedDependency[Hub], caller: NamedDependency[Caller]) -> None:
        """Revoke the token this request carries; WebSockets opened with it close."""
        await auth.logout(hub, caller)

    @post(
        "/session",
        status_code=200,
        guards=[json_body_only],
        responses=error_responses(400, 401, 413, 415, 429),
    )
    async def open_browser_session(
        self,
        request: Request,
        hub: NamedDependency[Hub],
        rate_limiter: RateLimiterDependency,
        data: JSONBody[LoginBody],
    ) -> Response[BrowserSession]:
        """Sign in the agent inbox: the session's token goes into an HttpOnly, SameSite=Strict cookie, so it
        survives reloads and new tabs and no script can read it; the answer's `csrf_token` goes with every change.

        Attempts are limited as for `/auth/login`.
        """
        agent, token = await auth.login(hub, rate_limiter, data.email, data.password, client_address(request))
        cookie = Cookie(
            key=SESSION_COOKIE,
            value=token,
            path="/",
            max_age=int(SESSION_TOKEN_LIFETIME.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=hub.settings.public_url.startswith("https:"),
        )
        session = BrowserSession(
            agent=agent_summary(agent),
            workspace_id=agent.workspace_id,
            csrf_token=csrf_token(token),
            expires_at=hub.now() + SESSION_TOKEN_LIFETIME,
        )
        return Response(session, cookies=[cookie])

    @get("/session", opt={"scope": "read"}, responses=error_responses(401, 403))
    async def browser_session(self, request: Request, caller: NamedDependency[Caller]) -> BrowserSession:
        """The signed-in inbox's session (from its cookie): who is signed in, and the CSRF token for changes."""
        token = credentials_from(request).token
        assert token is not None, "the caller was authenticated by this token"
        if caller.agent is None:
            raise ApiError(
                403, "agent_only", "An integration's token has no inbox session; sign in as an agent."
            )
        return BrowserSession(
            agent=agent_summary(caller.agent),
            workspace_id=caller.workspace_id,
            csrf_token=csrf_token(token),
            expires_at=caller.expires_at,
        )

    @delete(
        "/session",
        status_code=204,
        opt={"scope": "read"},
        response_cookies=[Cookie(key=SESSION_COOKIE, value="", path="/", max_age=0)],
        responses=error_responses(401, 403),
    )
    async def close_browser_session(self, hub: NamedDependency[Hub], caller: NamedDependency[Caller]) -> None:
        """Sign the inbox out: the token is revoked (its sockets close) and the cookie cleared."""
        await auth.logout(hub, caller)

    @post(
        "/password",
        status_code=200,
        guards=[json_body_only],
        responses=error_responses(400, 401, 403, 413, 415, 422, 429),
    )
    async def change_password(
        self,
        request: Request,
        hub: NamedDependency[Hub],
        rate_limiter: RateLimiterDependency,
        caller: NamedDependency[Caller],
        data: JSONBody[PasswordChangeBody],
    ) -> PasswordChanged:
        """Change the calling agent's password; the agent's other sessions are revoked, this one stays."""
        revoked = await auth.change_password(
            hub, rate_limiter, caller, data.current_password, data.new_password, client_address(request)
        )
        return PasswordChanged(revoked_sessions=revoked)
