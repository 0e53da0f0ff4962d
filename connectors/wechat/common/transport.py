"""One HTTP exchange through the injected client, with network and HTTP failures mapped to the contract's errors."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.base import TransientSendError
from connectors.wechat.common.errors import raise_for_status

__all__ = ["exchange", "json_object"]


async def exchange(
    http: httpx.AsyncClient, method: str, url: str, what: str, **request: Any
) -> httpx.Response:
    """Send one request; the URL (it may carry an access token) never appears in an error reason."""
    try:
        response = await http.request(method, url, **request)
    except httpx.RequestError as error:
        raise TransientSendError(f"The {what} could not reach the server ({type(error).__name__})") from None
    raise_for_status(response, what)
    return response


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise TransientSendError(f"The {what} got an answer that is not a JSON object")
    return payload
