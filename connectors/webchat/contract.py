"""Web chat fixtures for the connector contract kit."""

from __future__ import annotations

import json

from connectors.base import OutboundMessage
from connectors.testing import ContractProfile, raw_request
from connectors.webchat.connector import WebChatConnector
from normalizer import IdentityKind, IdentityRef


def _post(**fields: object) -> bytes:
    return json.dumps({"visitor_id": "v-1", "client_id": "c-1", "text": "hello", **fields}).encode()


def profile() -> ContractProfile:
    return ContractProfile(
        connector=WebChatConnector,
        valid_settings={"allowed_origins": ["https://shop.example.com"], "title": "Help"},
        invalid_settings=[
            ({"allowed_origins": ["shop.example.com"]}, "allowed_origins"),
            ({"color": "blue"}, "color"),
            ({"visitor_token_days": 0}, "visitor_token_days"),
        ],
        inbound_requests=[
            raw_request(_post()),
            raw_request(_post(text="你好，我的订单在哪里？", client_id="c-2", name="王小明")),
        ],
        malformed_requests=[
            raw_request(b"not json"),
            raw_request(_post(text="   ")),
            raw_request(_post(text="x" * 4001)),
            raw_request(json.dumps({"text": "no visitor"}).encode()),
        ],
        sample_outbound=OutboundMessage(
            message_id="m-1",
            conversation_id="c-1",
            recipient=IdentityRef(IdentityKind.WEBCHAT_VISITOR, "v-1", scope="inbox-contract"),
            text="Hello from support",
        ),
    )
