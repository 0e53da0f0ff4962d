"""Verifying a WeChat callback and opening its body, in plain, safe (encrypted) or compatible mode."""

from __future__ import annotations

from datetime import timedelta

from connectors.base import AckResponse, MalformedPayload, RawRequest, ReplayKey, SignatureInvalid
from connectors.wechat.common.crypto import CiphertextRejected, MessageCipher
from connectors.wechat.common.documents import DataFormat, Fields, read_document
from connectors.wechat.common.settings import WeChatSettings
from connectors.wechat.common.signature import check_message_signature, check_query_signature

__all__ = ["CallbackReader"]


class CallbackReader:
    """One inbox's view of WeChat callbacks: who may call, and what the body says once decrypted."""

    def __init__(self, settings: WeChatSettings, data_format: DataFormat) -> None:
        self._settings = settings
        self._data_format = data_format
        self._token = settings.token.get_secret_value()
        self._encrypted = settings.mode != "plain"
        key = settings.encoding_aes_key
        self._cipher = MessageCipher(key.get_secret_value(), settings.app_id) if key is not None else None

    def verify(self, raw: RawRequest) -> None:
        """The query signature always; outside plain mode also the encrypted part and its msg_signature.

        The query signature covers only the token, timestamp and nonce, never the body: outside plain mode a
        delivery without a signed ciphertext (compatible mode's plaintext alone included) could say anything.
        """
        check_query_signature(raw.query, self._token, raw.received_at, self._settings.max_clock_skew_seconds)
        if raw.method.upper() != "POST" or not self._encrypted:
            return
        mode = self._settings.mode
        if raw.query.get("encrypt_type") != "aes":
            raise SignatureInvalid(
                f"the inbox is in {mode} mode and accepts only encrypted deliveries (encrypt_type=aes)"
            )
        if not raw.query.get("msg_signature"):
            raise SignatureInvalid("msg_signature is required for an encrypted delivery")
        try:
            envelope = self._envelope(raw)
        except MalformedPayload:
            return  # parse refuses a body it cannot read (400); nothing is stored either way
        encrypted = _encrypted_part(envelope)
        if encrypted is None:
            raise SignatureInvalid("the delivery has no Encrypt part for msg_signature to cover")
        check_message_signature(raw.query, self._token, encrypted)
        try:
            self._decrypt(encrypted)
        except CiphertextRejected as error:
            raise SignatureInvalid(str(error)) from None

    def replay_key(self, raw: RawRequest) -> ReplayKey:
        """Timestamp and nonce are all a signature holds that is one-time; they pass verify until the skew runs out."""
        timestamp = raw.query["timestamp"]
        window_ends = int(timestamp) + self._settings.max_clock_skew_seconds
        left = max(window_ends - raw.received_at.timestamp(), 1.0)
        return ReplayKey(f"{timestamp}:{raw.query['nonce']}", timedelta(seconds=left))

    def handshake(self, raw: RawRequest) -> AckResponse | None:
        """WeChat checks the callback URL with a signed GET whose `echostr` must be echoed back."""
        echo = raw.query.get("echostr")
        if raw.method.upper() != "GET" or echo is None:
            return None
        return AckResponse(body=echo.encode())

    def fields(self, raw: RawRequest) -> Fields:
        """The plaintext message fields: outside plain mode, only what the encrypted part says. Raises MalformedPayload."""
        if not self._encrypted:
            fields = read_document(raw.body, self._data_format, self._settings.max_body_bytes)
            if "Encrypt" in fields and "MsgType" not in fields:
                raise MalformedPayload(
                    "the delivery is encrypted but the inbox is in plain mode: set its mode and EncodingAESKey"
                )
            return fields
        encrypted = _encrypted_part(self._envelope(raw))
        if encrypted is None:
            raise MalformedPayload("Encrypt: required in an encrypted delivery")
        try:
            plaintext = self._decrypt(encrypted)
        except CiphertextRejected as error:
            raise MalformedPayload(str(error)) from None
        return read_document(plaintext, self._data_format, self._settings.max_body_bytes)

    def _envelope(self, raw: RawRequest) -> Fields:
        return read_document(raw.body, self._data_format, self._settings.max_body_bytes)

    def _decrypt(self, encrypted: str) -> bytes:
        assert self._cipher is not None, "settings require encoding_aes_key outside plain mode"
        return self._cipher.decrypt(encrypted)


def _encrypted_part(envelope: Fields) -> str | None:
    encrypted = envelope.get("Encrypt")
    return encrypted.strip() if isinstance(encrypted, str) and encrypted.strip() else None
