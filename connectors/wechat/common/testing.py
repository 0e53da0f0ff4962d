"""Deliveries as WeChat makes them (signed, encrypted where the mode says), for contract fixtures and tests.

Uses made-up credentials only; the contract profiles of both WeChat channels are built here from their payloads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import respx
from pydantic import SecretStr

from connectors.base import OutboundMessage, RawRequest
from connectors.testing import TEST_INBOX, ContractProfile, raw_request
from connectors.wechat.common.connector import WeChatConnector
from connectors.wechat.common.crypto import MessageCipher
from connectors.wechat.common.documents import DataFormat
from connectors.wechat.common.settings import DEFAULT_API_BASE_URL, WeChatSettings
from connectors.wechat.common.signature import sign

__all__ = [
    "FIXTURE_ENCODING_AES_KEY",
    "FIXTURE_RECEIVED_AT",
    "FIXTURE_SIGNED_AT",
    "SignedDeliveries",
    "contract_profile",
    "fixture_settings",
]

FIXTURE_ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
FIXTURE_SIGNED_AT = datetime(2024, 4, 25, 9, 24, 19, tzinfo=UTC)
FIXTURE_RECEIVED_AT = FIXTURE_SIGNED_AT + timedelta(seconds=3)
"""Deliveries are signed and received at fixed times: no wall clock in fixtures."""
_ORIGINAL_ID = "gh_97417a04a28d"


def fixture_settings(app_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "app_id": app_id,
        "app_secret": "fixture-app-secret-0123456789abcdef",
        "token": "FixtureToken2024",
        "mode": "safe",
        "encoding_aes_key": FIXTURE_ENCODING_AES_KEY,
        **overrides,
    }


@dataclass(frozen=True)
class SignedDeliveries:
    settings: WeChatSettings
    data_format: DataFormat = "xml"
    signed_at: datetime = FIXTURE_SIGNED_AT
    received_at: datetime = FIXTURE_RECEIVED_AT
    nonce: str = "1514711492"

    def post(self, plaintext: bytes) -> RawRequest:
        """The message as WeChat pushes it in the inbox's mode (plaintext and ciphertext side by side in compatible)."""
        if self.settings.mode == "plain":
            return self.post_body(plaintext)
        key = self.settings.encoding_aes_key
        assert key is not None
        encrypted = MessageCipher(key.get_secret_value(), self.settings.app_id).encrypt(plaintext)
        return self.post_ciphertext(
            encrypted, beside=plaintext if self.settings.mode == "compatible" else None
        )

    def post_ciphertext(self, encrypted: str, *, beside: bytes | None = None) -> RawRequest:
        """An encrypted delivery carrying `encrypted`, with a valid msg_signature over it."""
        query = {
            "encrypt_type": "aes",
            "msg_signature": sign(self._token, self._timestamp, self.nonce, encrypted),
        }
        return self.post_body(self._envelope(encrypted, beside), **query)

    def post_body(self, body: bytes, **query: str) -> RawRequest:
        """Any body under a valid query signature."""
        return self._request("POST", body, query)

    def handshake(self, echostr: str) -> RawRequest:
        return self._request("GET", b"", {"echostr": echostr})

    def _request(self, method: str, body: bytes, query: dict[str, str]) -> RawRequest:
        signed = {
            "signature": sign(self._token, self._timestamp, self.nonce),
            "timestamp": self._timestamp,
            "nonce": self.nonce,
            "openid": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
            **query,
        }
        return raw_request(body, method=method, query=signed, received_at=self.received_at)

    def _envelope(self, encrypted: str, beside: bytes | None) -> bytes:
        if self.data_format == "json":
            envelope = json.loads(beside) if beside is not None else {"ToUserName": _ORIGINAL_ID}
            return json.dumps({**envelope, "Encrypt": encrypted}).encode()
        encrypt_element = f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
        if beside is not None:
            return beside.replace(b"</xml>", encrypt_element)
        return f"<xml><ToUserName><![CDATA[{_ORIGINAL_ID}]]></ToUserName>".encode() + encrypt_element

    @property
    def _token(self) -> str:
        return self.settings.token.get_secret_value()

    @property
    def _timestamp(self) -> str:
        return str(int(self.signed_at.timestamp()))


def contract_profile(
    connector: type[WeChatConnector],
    valid_settings: dict[str, Any],
    payloads: Sequence[bytes],
    malformed_payloads: Sequence[bytes],
    sample_outbound: OutboundMessage,
    invalid_settings: Sequence[tuple[dict[str, Any], str]] = (),
) -> ContractProfile:
    """The checks both WeChat channels share; `payloads` are plaintext messages in the inbox's data format."""
    settings = connector.settings_model.model_validate(valid_settings)
    deliveries = SignedDeliveries(settings, connector(settings, TEST_INBOX).data_format())
    genuine = deliveries.post(payloads[0])
    wrong_token = replace(
        deliveries, settings=settings.model_copy(update={"token": SecretStr("SomeoneElse1")})
    )
    stale = replace(deliveries, signed_at=FIXTURE_SIGNED_AT - timedelta(minutes=10))
    token_url = f"{DEFAULT_API_BASE_URL}/cgi-bin/stable_token"

    def answer_token_requests(router: respx.Router) -> None:
        router.post(token_url).respond(json={"access_token": "FIXTURE_ACCESS_TOKEN", "expires_in": 7200})

    return ContractProfile(
        connector=connector,
        valid_settings=valid_settings,
        invalid_settings=[
            ({**valid_settings, "app_id": "wx123"}, "app_id"),
            ({**valid_settings, "app_id": "WX0123456789ABCDEF"}, "app_id"),
            ({key: value for key, value in valid_settings.items() if key != "app_secret"}, "app_secret"),
            ({**valid_settings, "token": "ab"}, "token"),
            ({**valid_settings, "token": "has spaces in it"}, "token"),
            ({**valid_settings, "encoding_aes_key": "too-short"}, "encoding_aes_key"),
            ({**valid_settings, "mode": "safe", "encoding_aes_key": None}, "encoding_aes_key"),
            ({**valid_settings, "mode": "secret"}, "mode"),
            ({**valid_settings, "api_base_url": "ftp://api.weixin.qq.com"}, "api_base_url"),
            ({**valid_settings, "max_clock_skew_seconds": 0}, "max_clock_skew_seconds"),
            ({**valid_settings, "max_body_bytes": 10}, "max_body_bytes"),
            *invalid_settings,
        ],
        inbound_requests=[deliveries.handshake("4375120948345356249"), *map(deliveries.post, payloads)],
        forged_requests=[
            replace(genuine, query={**genuine.query, "signature": "0" * 40}),
            replace(
                genuine, query={name: value for name, value in genuine.query.items() if name != "signature"}
            ),
            wrong_token.post(payloads[0]),
            stale.post(payloads[0]),
        ],
        malformed_requests=[deliveries.post(payload) for payload in malformed_payloads],
        secret_fields=("app_secret", "token", "encoding_aes_key"),
        sample_outbound=sample_outbound,
        send_url=re.escape(f"{DEFAULT_API_BASE_URL}/cgi-bin/message/custom/send"),
        send_success=lambda: httpx.Response(200, json={"errcode": 0, "errmsg": "ok"}),
        prepare_mocks=answer_token_requests,
        credentials_url=re.escape(token_url),
        refused_credentials=[
            (
                lambda: httpx.Response(200, json={"errcode": 40125, "errmsg": "invalid appsecret"}),
                "app_secret",
            ),
            (
                lambda: httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"}),
                "app_secret",
            ),
            (lambda: httpx.Response(200, json={"errcode": 40013, "errmsg": "invalid appid"}), "app_id"),
            (
                lambda: httpx.Response(
                    200, json={"errcode": 40164, "errmsg": "invalid ip, not in whitelist"}
                ),
                None,
            ),
            (lambda: httpx.Response(404, text="Not Found"), "api_base_url"),
        ],
    )
