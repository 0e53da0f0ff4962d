"""Every HTTP error answers `{"code": ..., "detail": ..., "status_code": ...}`: a machine code and a human message."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

__all__ = ["ApiError", "error_handlers"]

_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_input",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(HTTPException):
    def __init__(self, status_code: int, code: str, detail: str, *, extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=detail, extra=extra, headers=headers)
        self.code = code


def _http_error(request: Request, error: HTTPException) -> Response:
    body: dict[str, Any] = {
        "status_code": error.status_code,
        "code": getattr(error, "code", None) or _DEFAULT_CODES.get(error.status_code, "error"),
        "detail": error.detail,
    }
    if isinstance(error, ValidationException):
        body["code"] = "invalid_request"
    if error.extra:
        body["errors" if isinstance(error.extra, list) else "extra"] = error.extra
    return Response(body, status_code=error.status_code, headers=error.headers)


def _unexpected(request: Request, error: Exception) -> Response:
    request.logger.exception("request.error path=%s", request.url.path)
    return Response({"status_code": 500, "code": "internal_error", "detail": "Internal error"}, status_code=500)


error_handlers = {HTTPException: _http_error, Exception: _unexpected}
