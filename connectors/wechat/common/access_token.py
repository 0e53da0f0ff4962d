"""An inbox's access token, shared by every process through the SharedStore.

The store is the inbox's own, so another inbox (of any workspace) with the same app id never reads, refreshes
or blocks this one's token. Within it, entries are still named by app id: settings changed to another app
do not inherit the previous app's token.

WeChat's stable_token endpoint is used rather than /cgi-bin/token: in its normal mode it hands every caller the
same valid token instead of invalidating the previous one, so the business's other systems using the same app id
cannot knock ours out (and we cannot knock out theirs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.base import (
    ConnectorContext,
    DeferredSendError,
    DestinationRefused,
    PermanentSendError,
    TransientSendError,
)
from connectors.single_flight import SingleFlight
from connectors.wechat.common.errors import AccessTokenRejected, raise_for_errcode
from connectors.wechat.common.settings import WeChatSettings
from connectors.wechat.common.transport import exchange, json_object

__all__ = [
    "FETCH_AGAIN_AFTER",
    "REFRESH_MARGIN",
    "AccessTokens",
    "TokenRefused",
    "access_token_key",
    "failed_token_request_key",
    "token_refresh_lock_key",
]

REFRESH_MARGIN = timedelta(minutes=5)
"""A token this close to expiry is replaced (WeChat itself rotates stable tokens five minutes early)."""
FETCH_AGAIN_AFTER = {
    "transient": timedelta(seconds=10),
    "deferred": timedelta(seconds=10),
    "permanent": timedelta(minutes=1),
}
"""After a failed token request every process gives the same answer for this long (or until the time WeChat
named) instead of asking again: otherwise each inbound profile look-up and each send would queue on the
refresh lock to repeat the request."""
_RETRYABLE_KINDS: dict[str, type[TransientSendError]] = {
    "transient": TransientSendError,
    "deferred": DeferredSendError,
}
_REFRESH_LOCK_TTL = timedelta(seconds=30)
_WHAT = "access token request"
_REFUSED_SETTINGS = {
    40013: "app_id",
    41002: "app_id",
    40001: "app_secret",
    40125: "app_secret",
    41004: "app_secret",
    40243: "app_secret",
}
"""Token request errcodes that blame one setting: invalid or missing app id; wrong, missing or frozen app secret."""
_ADDRESS_NOT_ALLOWED = frozenset({40164, 89501, 89503, 89506, 89507})
"""The hub's IP address is not on the app's whitelist, or awaits an administrator's confirmation."""


class TokenRefused(PermanentSendError):
    """WeChat will not give a token for these credentials; `setting` names the refused one (None: the hub's address)."""

    def __init__(self, reason: str, setting: str | None) -> None:
        super().__init__(reason)
        self.setting = setting


def access_token_key(app_id: str) -> str:
    return f"wechat:access_token:{app_id}"


def token_refresh_lock_key(app_id: str) -> str:
    return f"wechat:token_refresh:{app_id}"


def failed_token_request_key(app_id: str) -> str:
    return f"wechat:access_token_failure:{app_id}"


@dataclass(frozen=True, slots=True)
class _StoredToken:
    value: str
    expires_at: datetime

    def fresh(self, now: datetime) -> bool:
        return self.expires_at - now > REFRESH_MARGIN

    def dumps(self) -> str:
        return json.dumps({"access_token": self.value, "expires_at": self.expires_at.isoformat()})

    @classmethod
    def loads(cls, stored: str | None) -> _StoredToken | None:
        """None for a missing or unreadable entry: it is simply fetched again."""
        try:
            entry = json.loads(stored or "")
            return cls(str(entry["access_token"]), datetime.fromisoformat(entry["expires_at"]))
        except (ValueError, TypeError, KeyError):
            return None


@dataclass(frozen=True, slots=True)
class _FailedRequest:
    """The last token request's refusal, repeated to every caller until `retry_at`."""

    kind: str
    reason: str
    retry_at: datetime

    @classmethod
    def of(cls, error: TransientSendError | PermanentSendError, now: datetime) -> _FailedRequest:
        if isinstance(error, PermanentSendError):
            return cls("permanent", error.reason, now + FETCH_AGAIN_AFTER["permanent"])
        kind = "deferred" if isinstance(error, DeferredSendError) else "transient"
        pause = timedelta(seconds=error.retry_after) if error.retry_after else FETCH_AGAIN_AFTER[kind]
        return cls(kind, error.reason, now + pause)

    def error(self, now: datetime) -> TransientSendError | PermanentSendError:
        reason = f"{self.reason} (the hub asks WeChat for a token again after {self.retry_at:%H:%M:%S} UTC)"
        if self.kind == "permanent":
            return PermanentSendError(reason)
        return _RETRYABLE_KINDS[self.kind](reason, retry_after=(self.retry_at - now).total_seconds())

    def dumps(self) -> str:
        return json.dumps({"kind": self.kind, "reason": self.reason, "retry_at": self.retry_at.isoformat()})

    @classmethod
    def loads(cls, stored: str | None) -> _FailedRequest | None:
        try:
            entry = json.loads(stored or "")
            kind = entry["kind"] if entry["kind"] in FETCH_AGAIN_AFTER else "transient"
            return cls(kind, str(entry["reason"]), datetime.fromisoformat(entry["retry_at"]))
        except (ValueError, TypeError, KeyError):
            return None


class AccessTokens:
    """The shared token as this process last saw it, and the shared refusal while it lasts.

    Both stay valid until a time they carry, so the common case reads nothing from the store; a
    token another process replaced early is found when WeChat rejects this copy (replace_rejected).
    """

    def __init__(self, settings: WeChatSettings) -> None:
        self._app_id = settings.app_id
        self._app_secret = settings.app_secret
        self._url = f"{settings.api_base_url}/cgi-bin/stable_token"
        self._key = access_token_key(settings.app_id)
        self._lock_key = token_refresh_lock_key(settings.app_id)
        self._failure_key = failed_token_request_key(settings.app_id)
        self._known: _StoredToken | None = None
        self._refused: _FailedRequest | None = None
        self._look_ups: SingleFlight[str] = SingleFlight()

    async def current(self, context: ConnectorContext) -> str:
        """The shared token; when it is missing or about to expire, one process fetches and the others wait.

        Within a process, callers that find it missing at the same time share one look-up (a burst of
        inbound messages each wanting a profile must not queue on the refresh lock one by one).
        """
        if self._known is not None and self._known.fresh(context.now()):
            return self._known.value
        self._raise_refusal_in_force(context.now())
        return await self._look_ups.run("current", lambda: self._stored_or_fetched(context))

    async def prove(self, context: ConnectorContext) -> None:
        """Ask WeChat for a token now, whatever is cached or was refused; the token is kept for the sends to come.

        Raises TokenRefused when WeChat refuses the credentials, the other send errors when it cannot be asked.
        """
        await self._request_token(context)

    async def replace_rejected(self, context: ConnectorContext, rejected: str) -> str:
        """After WeChat refused `rejected`: fetch again, unless another process already replaced it."""
        self._known = None
        return await self._look_ups.run(("replacing", rejected), lambda: self._replacement(context, rejected))

    async def _stored_or_fetched(self, context: ConnectorContext) -> str:
        stored = await self._stored(context)
        if stored is not None and stored.fresh(context.now()):
            return stored.value
        await self._refuse_if_recently_failed(context)
        async with context.store.lock(self._lock_key, _REFRESH_LOCK_TTL):
            stored = await self._stored(context)
            if stored is not None and stored.fresh(context.now()):
                return stored.value
            return await self._fetch(context)

    async def _replacement(self, context: ConnectorContext, rejected: str) -> str:
        async with context.store.lock(self._lock_key, _REFRESH_LOCK_TTL):
            stored = await self._stored(context)
            if stored is not None and stored.value != rejected:
                return stored.value
            return await self._fetch(context)

    async def _stored(self, context: ConnectorContext) -> _StoredToken | None:
        self._known = _StoredToken.loads(await context.store.get(self._key))
        return self._known

    async def _refuse_if_recently_failed(self, context: ConnectorContext) -> None:
        now = context.now()
        self._raise_refusal_in_force(now)
        self._refused = _FailedRequest.loads(await context.store.get(self._failure_key))
        self._raise_refusal_in_force(now)

    def _raise_refusal_in_force(self, now: datetime) -> None:
        if self._refused is not None and now < self._refused.retry_at:
            raise self._refused.error(now)

    async def _fetch(self, context: ConnectorContext) -> str:
        """Asks WeChat (the caller holds the refresh lock); a refusal is remembered for every process."""
        await self._refuse_if_recently_failed(context)
        try:
            return await self._request_token(context)
        except (TransientSendError, PermanentSendError) as error:
            now = context.now()
            self._refused = _FailedRequest.of(error, now)
            await context.store.set(self._failure_key, self._refused.dumps(), self._refused.retry_at - now)
            raise

    async def _request_token(self, context: ConnectorContext) -> str:
        request = {
            "grant_type": "client_credential",
            "appid": self._app_id,
            "secret": self._app_secret.get_secret_value(),
            "force_refresh": False,
        }
        try:
            answer = json_object(await exchange(context.http, "POST", self._url, _WHAT, json=request), _WHAT)
        except DestinationRefused as refused:
            raise TokenRefused(f"api_base_url {refused.refusal}", "api_base_url") from None
        except PermanentSendError as refusal:
            raise TokenRefused(
                f"{refusal.reason}, which WeChat's API does not answer: check api_base_url", "api_base_url"
            ) from None
        _raise_for_refused_credentials(answer)
        try:
            raise_for_errcode(answer, _WHAT, context.now())
        except AccessTokenRejected as refusal:
            raise PermanentSendError(f"WeChat refused this inbox's app id and app secret {refusal}") from None
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int) or expires_in <= 0:
            raise TransientSendError("The access token request got an answer without a token")
        lifetime = timedelta(seconds=expires_in)
        self._known = _StoredToken(token, context.now() + lifetime)
        await context.store.set(
            self._key, self._known.dumps(), max(lifetime - REFRESH_MARGIN, timedelta(seconds=1))
        )
        return token


def _raise_for_refused_credentials(answer: dict[str, Any]) -> None:
    errcode = answer.get("errcode")
    if not isinstance(errcode, int):
        return
    wechat_says = f"(WeChat errcode {errcode}: {str(answer.get('errmsg', '')).strip()})"
    setting = _REFUSED_SETTINGS.get(errcode)
    if setting is not None:
        raise TokenRefused(f"WeChat refused this inbox's {setting.replace('_', ' ')} {wechat_says}", setting)
    if errcode in _ADDRESS_NOT_ALLOWED:
        raise TokenRefused(
            "WeChat refuses token requests from the hub's IP address: add it to the IP whitelist in the WeChat "
            f"console {wechat_says}",
            None,
        )
