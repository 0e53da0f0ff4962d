"""The one route family every channel calls: `/webhooks/{kind}/{inbox_id}[/{sub_path}]`.

The hub loads the inbox and asks its connector; a connector never sees the database.
Only verification, parsing and the durable accept run here: the answer must be fast. The route
is public, so it serves only inboxes whose connector verifies requests (a WebhookConnector).
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager, nullcontext

from litestar import Request, Response, route
from litestar.openapi import ResponseSpec

from connectors import AckResponse, MalformedPayload, RawRequest, SignatureInvalid, WebhookConnector
from hub.delivery_claims import DeliveryClaims, ReplayRefused, claim_key, claimed_once, request_digest
from hub.errors import ApiError, error_responses
from hub.fields import IdPath, KindPath, SubPath
from hub.models import Inbox
from hub.runtime import Hub
from hub.spool import Spool

__all__ = ["channel_webhook", "channel_webhook_sub_path"]

log = logging.getLogger("omnihub.webhooks")


async def _handle(request: Request, kind: str, inbox_id: str, sub_path: str) -> Response[bytes]:
    hub: Hub = request.app.state.hub
    inbox = await hub.inboxes.find(id=inbox_id, kind=kind)
    connector = hub.connector_for(inbox) if inbox is not None and kind in hub.registry else None
    if inbox is None or not isinstance(connector, WebhookConnector):
        raise ApiError(404, "inbox_not_found", f"No {kind} inbox {inbox_id} receives webhooks.")
    body = await request.body()
    raw = RawRequest(
        method=request.method,
        url=_public_url(hub, request),
        sub_path=sub_path.strip("/"),
        query=dict(request.query_params),
        headers={key.lower(): value for key, value in request.headers.items()},
        body=body,
        received_at=hub.now(),
        remote_addr=request.client.host if request.client else None,
    )
    try:
        connector.verify(raw)
    except SignatureInvalid as error:
        log.warning("webhook.forbidden workspace=%s inbox=%s reason=%s", inbox.workspace_id, inbox.id, error)
        raise ApiError(403, "signature_invalid", f"Request signature check failed: {error}") from None
    try:
        async with _claimed_signature(request.app.state.delivery_claims, inbox, connector, raw):
            answer = await _answer(hub, request.app.state.spool, inbox, connector, raw)
    except ReplayRefused:
        log.warning("webhook.replayed workspace=%s inbox=%s", inbox.workspace_id, inbox.id)
        raise ApiError(
            403, "replayed_delivery", "This signature already carried another request: refused as a replay."
        ) from None
    return Response(answer.body, status_code=answer.status_code, media_type=answer.media_type)


async def _answer(
    hub: Hub, spool: Spool, inbox: Inbox, connector: WebhookConnector, raw: RawRequest
) -> AckResponse:
    """The handshake's answer, or the acknowledgement once the delivery's messages are stored or its delivery
    reports applied (or either spooled while the database is away)."""
    answer = connector.handshake(raw)
    if answer is not None:
        return answer
    try:
        reports = connector.delivery_reports(raw)
        if reports is not None:
            await spool.report(hub, inbox, reports)
            return connector.ack(raw, [])
        messages = connector.parse(raw)
        hub.registry.check_identity_kinds(messages)
    except MalformedPayload as error:
        log.warning("webhook.malformed workspace=%s inbox=%s reason=%s", inbox.workspace_id, inbox.id, error)
        raise ApiError(400, "malformed_payload", f"Request body not understood: {error}") from None
    await spool.accept(hub, inbox, messages, connector.redact(raw))
    return connector.ack(raw, messages)


def _claimed_signature(
    claims: DeliveryClaims, inbox: Inbox, connector: WebhookConnector, raw: RawRequest
) -> AbstractAsyncContextManager[None]:
    """A verified signature carries one request: the same request again (a channel's retry) passes on to the
    dedupe, another one under it is a replay."""
    replay_key = connector.replay_key(raw)
    if replay_key is None:
        return nullcontext()
    key = claim_key(inbox.workspace_id, inbox.id, replay_key.value)
    return claimed_once(claims, key, request_digest(raw), replay_key.accepted_for)


WEBHOOK_RESPONSES = {
    **error_responses(400, 403, 404),
    200: ResponseSpec(
        data_container=str,
        media_type="*/*",
        description="The acknowledgement the channel expects, in its own media type (text, XML or JSON).",
        generate_examples=False,
    ),
}


def _public_url(hub: Hub, request: Request) -> str:
    """The URL as the channel called it (behind a proxy, the public URL), which signatures cover."""
    query = request.url.query
    return f"{hub.settings.public_url}{request.url.path}" + (f"?{query}" if query else "")


@route(
    "/webhooks/{kind:str}/{inbox_id:str}",
    http_method=["GET", "POST"],
    status_code=200,
    tags=["channels"],
    responses=WEBHOOK_RESPONSES,
)
async def channel_webhook(request: Request, kind: KindPath, inbox_id: IdPath) -> Response[bytes]:
    """A channel delivers messages (or a set-up handshake) for one inbox."""
    return await _handle(request, kind, inbox_id, "")


@route(
    "/webhooks/{kind:str}/{inbox_id:str}/{sub_path:path}",
    http_method=["GET", "POST"],
    status_code=200,
    tags=["channels"],
    responses=WEBHOOK_RESPONSES,
)
async def channel_webhook_sub_path(
    request: Request, kind: KindPath, inbox_id: IdPath, sub_path: SubPath
) -> Response[bytes]:
    """A channel's secondary hook for one inbox (delivery status, recordings)."""
    return await _handle(request, kind, inbox_id, sub_path)
