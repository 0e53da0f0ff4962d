"""Every HTTP error answers one shape: `{"status_code", "code", "detail"}`, plus `errors` naming the fields at fault.

Litestar's own errors (unknown route, wrong method, a body too large or not understood, a field that
breaks its declared type) come through here too, so a client parses one shape whatever failed.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import msgspec
import redis.exceptions
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import SQLAlchemyError

from connectors.routes import ErrorBody, ErrorField, RouteError, error_responses
from hub.db import database_unavailable

__all__ = [
    "RETRY_AFTER_SECONDS",
    "ApiError",
    "ErrorBody",
    "ErrorField",
    "FieldError",
    "ServiceUnavailable",
    "error_body",
    "error_handlers",
    "error_responses",
    "unavailable",
]

log = logging.getLogger("omnihub.errors")
RETRY_AFTER_SECONDS = 5
"""What a 503 asks clients to wait: long enough not to hammer a recovering service, short enough to notice it back."""

_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

FieldError = dict[str, str]
"""`{"field": "attachments[0].kind", "message": "..."}`, with `"source"` (path, query, header, body) when known."""


class ApiError(RouteError):
    """The hub's errors: RouteErrors, so the routes connectors contribute can tell their code too."""


def error_body(status_code: int, code: str, detail: str, errors: list[FieldError] | None = None) -> ErrorBody:
    return ErrorBody(
        status_code=status_code,
        code=code,
        detail=detail,
        errors=msgspec.convert(errors or [], list[ErrorField]),
    )


_UNAVAILABLE_SERVICES = {
    "database": "The database cannot be reached",
    "redis": "Redis (the job broker and realtime backplane) cannot be reached",
}


class ServiceUnavailable(ApiError):
    """A service the request needs cannot be reached now: 503 with Retry-After, the code naming the service."""

    def __init__(self, service: str) -> None:
        super().__init__(
            503,
            f"{service}_unavailable",
            f"{_UNAVAILABLE_SERVICES[service]}; nothing of this request was kept. Try again shortly.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        self.service = service


def unavailable(error: BaseException) -> ServiceUnavailable | None:
    """The 503 for an error that says a service is away (not that the request or the code is wrong), else None."""
    if isinstance(error, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return ServiceUnavailable("redis")
    from_database = isinstance(
        error,
        (
            SQLAlchemyError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            ConnectionError,
            TimeoutError,
            socket.gaierror,
        ),
    )
    if from_database and database_unavailable(error):
        return ServiceUnavailable("database")
    return None


def _http_error(request: Request, error: HTTPException) -> Response:
    if isinstance(error, ValidationException):
        errors = _declared_field_errors(error.extra)
        detail = (
            "; ".join(f"{item['field']}: {item['message']}" for item in errors) or "The request is not valid."
        )
        return Response(
            error_body(error.status_code, "invalid_request", detail, errors),
            status_code=error.status_code,
            headers=error.headers,
        )
    code = getattr(error, "code", None) or _DEFAULT_CODES.get(error.status_code, "error")
    return Response(
        error_body(
            error.status_code, code, error.detail, error.extra if isinstance(error.extra, list) else None
        ),
        status_code=error.status_code,
        headers=error.headers,
    )


def _declared_field_errors(extra: Any) -> list[FieldError]:
    """Litestar's `{"key", "message", "source"}` as ours; it names the body as a whole after the handler's `data`."""
    if not isinstance(extra, list):
        return []
    errors = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        source = item.get("source") or ""
        source = str(getattr(source, "value", source))  # a ParamType for parameters, a string for the body
        field = str(item.get("key") or "")
        if source == "body" and field in ("", "data"):
            field = "body"
        field_error = {"field": field or source or "request", "message": str(item.get("message", ""))}
        if source:
            field_error["source"] = source
        errors.append(field_error)
    return errors


def _unexpected(request: Request, error: Exception) -> Response:
    outage = unavailable(error)
    if outage is not None:
        log.warning(
            "request.unavailable path=%s service=%s error=%s",
            request.url.path,
            outage.service,
            type(error).__name__,
        )
        return _http_error(request, outage)
    request.logger.exception("request.error path=%s", request.url.path)
    return Response(error_body(500, "internal_error", "Internal error"), status_code=500)


error_handlers: ExceptionHandlersMap = {HTTPException: _http_error, Exception: _unexpected}
