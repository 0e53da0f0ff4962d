"""Verifying a WeChat callback and opening its body, in plain, safe (encrypted) or compatible mode."""

from __future__ import annotations

from connectors.base import AckResponse, MalformedPayload, RawRequest, SignatureInvalid
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
        key = settings.encoding_aes_key
        self._cipher = MessageCipher(key.get_secret_value(), settings.app_id) if key is not None else None

    def verify(self, raw: RawRequest) -> None:
        check_query_signature(raw.query, self._token, raw.received_at, self._settings.max_clock_skew_seconds)
        if raw.method.upper() != "POST":
            return
        if self._settings.mode == "safe" and raw.query.get("encrypt_type") != "aes":
            raise SignatureInvalid("the inbox is in safe mode and accepts only encrypted deliveries")
        if not self._is_encrypted(raw):
            return
        if not raw.query.get("msg_signature"):
            raise SignatureInvalid("msg_signature is required for an encrypted delivery")
        try:
            encrypted = self._encrypted_part(raw)
        except MalformedPayload:
            return  # parse refuses a body it cannot read (400); nothing is stored either way
        check_message_signature(raw.query, self._token, encrypted)
        try:
            self._decrypt(encrypted)
        except CiphertextRejected as error:
            raise SignatureInvalid(str(error)) from None

    def handshake(self, raw: RawRequest) -> AckResponse | None:
        """WeChat checks the callback URL with a signed GET whose `echostr` must be echoed back."""
        echo = raw.query.get("echostr")
        if raw.method.upper() != "GET" or echo is None:
            return None
        return AckResponse(body=echo.encode())

    def fields(self, raw: RawRequest) -> Fields:
        """The plaintext message fields. Raises MalformedPayload."""
        if not self._is_encrypted(raw):
            fields = read_document(raw.body, self._data_format, self._settings.max_body_bytes)
            if "Encrypt" in fields and "MsgType" not in fields:
                raise MalformedPayload(
                    "the delivery is encrypted but the inbox is in plain mode: set its mode and EncodingAESKey"
                )
            return fields
        try:
            plaintext = self._decrypt(self._encrypted_part(raw))
        except CiphertextRejected as error:
            raise MalformedPayload(str(error)) from None
        return read_document(plaintext, self._data_format, self._settings.max_body_bytes)

    def _is_encrypted(self, raw: RawRequest) -> bool:
        """Compatible mode sends plaintext and ciphertext side by side; encrypt_type=aes says to use the latter."""
        mode = self._settings.mode
        return mode == "safe" or (mode == "compatible" and raw.query.get("encrypt_type") == "aes")

    def _encrypted_part(self, raw: RawRequest) -> str:
        envelope = read_document(raw.body, self._data_format, self._settings.max_body_bytes)
        encrypted = envelope.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted.strip():
            raise MalformedPayload("Encrypt: required in an encrypted delivery")
        return encrypted.strip()

    def _decrypt(self, encrypted: str) -> bytes:
        assert self._cipher is not None, "settings require encoding_aes_key outside plain mode"
        return self._cipher.decrypt(encrypted)
