"""Web chat fixtures for the connector contract kit.

Visitors write through the widget's own routes, not a webhook, so there are no raw requests to parse here:
tests/connectors/webchat/ drives those routes over HTTP and WebSocket.
"""

from __future__ import annotations

from connectors.base import OutboundMessage
from connectors.testing import TEST_INBOX, ContractProfile
from connectors.webchat.connector import WEBCHAT_VISITOR, WebChatConnector
from normalizer import IdentityRef


def profile() -> ContractProfile:
    return ContractProfile(
        connector=WebChatConnector,
        valid_settings={"allowed_origins": ["https://shop.example.com"], "title": "Help"},
        invalid_settings=[
            ({"allowed_origins": ["shop.example.com"]}, "allowed_origins"),
            ({"color": "blue"}, "color"),
            ({"visitor_token_days": 0}, "visitor_token_days"),
        ],
        sample_outbound=OutboundMessage(
            message_id="m-1",
            conversation_id="c-1",
            recipient=IdentityRef(WEBCHAT_VISITOR, "v-1", scope=TEST_INBOX.id, verified=True),
            text="Hello from support",
        ),
    )
