"""The request class of the app: a JSON body that cannot be decoded is the client's error, never a 500."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import SerializationException

from hub.errors import ApiError

__all__ = ["HubRequest", "undecodable_json"]


def undecodable_json(error: Exception) -> ApiError:
    """The 400 for a body (or frame) that is not JSON, not UTF-8, or nested deeper than the decoder follows."""
    if isinstance(error, UnicodeDecodeError):
        reason = "it is not UTF-8"
    elif isinstance(error, RecursionError):
        reason = "it nests too deeply"
    else:
        reason = str(error)
    return ApiError(400, "invalid_json", f"The body is not valid JSON: {reason}.")


class HubRequest(Request[Any, Any, Any]):
    """msgspec reports bytes that are not UTF-8, and nesting past the recursion limit, with exceptions Litestar
    does not expect from a decoder; the handlers' `data` is decoded here, so those become a 400 too."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except (SerializationException, UnicodeDecodeError, RecursionError) as error:
            raise undecodable_json(error) from None
