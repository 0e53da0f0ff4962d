"""`Idempotency-Key` on every POST of the API: a repeated request answers the first answer and does nothing new.

The key belongs to the API token that sent it. Answers are kept sealed (hub.crypto.SecretBox): some carry a secret
shown once (a new token's, a webhook's signing secret). The first request with a key is recorded before it runs (a second
one arriving meanwhile gets 409), and its answer is kept for a day unless it was one worth retrying (5xx, 401,
429), which frees the key. The same key with another method, path or body is refused with 422.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hub.crypto import SecretBox, hash_api_token
from hub.errors import ApiError
from hub.models import IdempotentRequest
from hub.runtime import Hub

__all__ = ["IDEMPOTENCY_HEADER", "IdempotencyKeys"]

log = logging.getLogger("omnihub.idempotency")
IDEMPOTENCY_HEADER = "idempotency-key"
REPLAYED_HEADER = b"idempotent-replayed"
KEPT_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255
NOT_KEPT = frozenset({401, 429})
"""Answers a retry may change: the key is freed (as for 5xx)."""


class IdempotencyKeys(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        method = str(scope.get("method", ""))
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        key = headers.get(IDEMPOTENCY_HEADER)
        authorization = headers.get("authorization", "")
        if method != "POST" or key is None or authorization[:7].lower() != "bearer ":
            await next_app(scope, receive, send)
            return
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            raise ApiError(
                400,
                "invalid_idempotency_key",
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
                extra=[
                    {
                        "field": "Idempotency-Key",
                        "message": "1 to 255 printable characters",
                        "source": "header",
                    }
                ],
            )
        hub: Hub = scope["app"].state.hub
        body = await _read_body(receive, hub.settings.max_body_bytes + hub.settings.max_attachment_bytes)
        token_hash = hash_api_token(authorization[7:].strip())
        fingerprint = hashlib.sha256(
            b"\0".join([method.encode(), scope["raw_path"], scope.get("query_string", b""), body])
        ).hexdigest()
        first = await _record_or_find(hub, token_hash, key, fingerprint)
        if first is not None:
            await _answer_again(hub.box, first, fingerprint, send)
            return
        answer: dict[str, Any] = {"status": 500, "content_type": None, "body": b""}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        answer["content_type"] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")
            await send(message)

        try:
            await next_app(scope, _replaying(body, receive), keep)
        finally:
            await _settle(hub, token_hash, key, answer)


async def _read_body(receive: Receive, limit: int) -> bytes:
    body = b""
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        body += chunk if isinstance(chunk, bytes) else b""
        if len(body) > limit:
            raise ApiError(413, "payload_too_large", "The request body is too large.")
        if not message.get("more_body"):
            return body


def _replaying(body: bytes, receive: Receive) -> Receive:
    given = False

    async def replay() -> ReceiveMessage:
        nonlocal given
        if not given:
            given = True
            request: ReceiveMessage = {"type": "http.request", "body": body, "more_body": False}
            return request
        return await receive()

    return replay


async def _record_or_find(hub: Hub, token_hash: str, key: str, fingerprint: str) -> IdempotentRequest | None:
    """None when this request is the first with the key (now recorded as under way), else the first's record."""
    now = hub.now()
    async with hub.database.session() as session:
        await session.exec(
            delete(IdempotentRequest).where(
                col(IdempotentRequest.token_hash) == token_hash,
                col(IdempotentRequest.key) == key,
                col(IdempotentRequest.created_at) < now - KEPT_FOR,
            )
        )
        session.add(
            IdempotentRequest(token_hash=token_hash, key=key, fingerprint=fingerprint, created_at=now)
        )
        try:
            await session.commit()
            return None
        except IntegrityError:
            await session.rollback()
        return (
            await session.exec(
                select(IdempotentRequest).where(
                    IdempotentRequest.token_hash == token_hash, IdempotentRequest.key == key
                )
            )
        ).first()


async def _answer_again(box: SecretBox, first: IdempotentRequest, fingerprint: str, send: Send) -> None:
    if first.fingerprint != fingerprint:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used for another request (method, path or body); use a new key.",
            extra=[{"field": "Idempotency-Key", "message": "used for another request", "source": "header"}],
        )
    if first.status_code is None:
        raise ApiError(
            409,
            "idempotency_key_in_use",
            "The first request with this Idempotency-Key is still being answered; retry shortly.",
            headers={"Retry-After": "1"},
        )
    body = box.decrypt(first.body.decode()).encode("latin-1")
    headers = [(REPLAYED_HEADER, b"true"), (b"content-length", str(len(body)).encode())]
    if first.content_type:
        headers.append((b"content-type", first.content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": first.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _settle(hub: Hub, token_hash: str, key: str, answer: dict[str, Any]) -> None:
    """Keep the answer for repeats, or free the key when a retry could be answered otherwise."""
    mine = (col(IdempotentRequest.token_hash) == token_hash, col(IdempotentRequest.key) == key)
    async with hub.database.session() as session:
        if answer["status"] >= 500 or answer["status"] in NOT_KEPT:
            await session.exec(delete(IdempotentRequest).where(*mine))
        else:
            await session.exec(
                update(IdempotentRequest)
                .where(*mine)
                .values(
                    status_code=answer["status"],
                    content_type=answer["content_type"],
                    body=hub.box.encrypt(answer["body"].decode("latin-1")).encode(),
                )
            )
        await session.commit()
