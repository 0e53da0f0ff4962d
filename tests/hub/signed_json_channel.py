"""A test channel whose deliveries are JSON `{"id", "text"}` (and optionally `"from"`, a phone number) signed with the
header `x-signature: good`."""

from __future__ import annotations

import json
from typing import ClassVar

from connectors import SignatureInvalid, WebhookConnector
from normalizer import IdentityKind, IdentityRef, InboundMessage


class SignedJsonChannel(WebhookConnector):
    """Tests subclass it for the sending behaviour they need; a message without `"from"` comes from `customer_phone`."""

    customer_phone: ClassVar[str] = "+14155550100"

    def verify(self, raw):
        if raw.header("x-signature") != "good":
            raise SignatureInvalid("bad signature")

    def parse(self, raw):
        body = json.loads(raw.body)
        return [
            InboundMessage(
                channel_message_id=body["id"],
                sender=IdentityRef(IdentityKind.PHONE, body.get("from", self.customer_phone)),
                sent_at=raw.received_at,
                text=body["text"],
            )
        ]
