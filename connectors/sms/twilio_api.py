"""Twilio's REST API over the hub's injected httpx client (the twilio library's REST client would bypass the hub's
egress policy and respx): the Messages resource to send, the Account resource to prove credentials."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.base import (
    ConnectorContext,
    CredentialsRefused,
    CredentialsUnchecked,
    DestinationRefused,
    PermanentSendError,
    TransientSendError,
)
from connectors.sms.errors import explain_error_code
from connectors.sms.settings import TwilioSmsSettings

__all__ = ["TwilioApi"]

TIMEOUT_SECONDS = 15.0


class TwilioApi:
    def __init__(self, settings: TwilioSmsSettings) -> None:
        self._settings = settings
        self._account = f"{settings.api_base_url}/2010-04-01/Accounts/{settings.account_sid}"

    async def create_message(self, context: ConnectorContext, form: dict[str, str]) -> str:
        """The new message's SID. Raises TransientSendError (429, 5xx, network) or PermanentSendError."""
        try:
            response = await self._request(context, "POST", f"{self._account}/Messages.json", data=form)
        except DestinationRefused:
            raise
        except httpx.RequestError as error:
            raise TransientSendError(f"Twilio could not be reached ({type(error).__name__})") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientSendError(
                f"Twilio is busy or failing (HTTP {response.status_code}): {_said(response)}",
                retry_after=_retry_after(response),
            )
        if response.status_code == 401:
            raise PermanentSendError(
                "Twilio refused the inbox's credentials (HTTP 401): check the Account SID and Auth Token"
            )
        if response.status_code >= 300:
            raise PermanentSendError(f"Twilio refused the message: {_said(response)}")
        sid = _json(response).get("sid")
        if not isinstance(sid, str) or not sid:
            raise TransientSendError("Twilio accepted the message but answered no message SID")
        return sid

    async def prove_credentials(self, context: ConnectorContext) -> None:
        try:
            response = await self._request(context, "GET", f"{self._account}.json")
        except DestinationRefused as refused:
            raise CredentialsRefused(f"api_base_url {refused.refusal}", setting="api_base_url") from None
        except httpx.RequestError as error:
            raise CredentialsUnchecked(f"Twilio could not be reached ({type(error).__name__})") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise CredentialsUnchecked(f"Twilio is busy or failing (HTTP {response.status_code})")
        if response.status_code == 401:
            raise CredentialsRefused(
                "Twilio refused the Auth Token for this Account SID (HTTP 401)", setting="auth_token"
            )
        if response.status_code == 404:
            raise CredentialsRefused("Twilio knows no account with this Account SID", setting="account_sid")
        if response.status_code >= 300:
            raise CredentialsRefused(f"Twilio refused the credentials: {_said(response)}")
        status = _json(response).get("status")
        if status not in (None, "active"):
            raise CredentialsRefused(f"The Twilio account is {status}", setting="account_sid")

    async def _request(
        self, context: ConnectorContext, method: str, url: str, **kwargs: Any
    ) -> httpx.Response:
        auth = (self._settings.account_sid, self._settings.auth_token.get_secret_value())
        return await context.http.request(method, url, auth=auth, timeout=TIMEOUT_SECONDS, **kwargs)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _said(response: httpx.Response) -> str:
    """Twilio's error as an agent reads it: what the code means where we know it, Twilio's words and the code."""
    answer = _json(response)
    code, message = answer.get("code"), answer.get("message")
    words = str(message)[:300] if isinstance(message, str) and message else f"HTTP {response.status_code}"
    if isinstance(code, int):
        meaning = explain_error_code(code)
        return f"{meaning} ({words}; Twilio error {code})" if meaning else f"{words} (Twilio error {code})"
    return words


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
