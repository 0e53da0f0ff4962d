"""WeChat's message encryption (safe and compatible mode): AES-256-CBC over random(16) + length + message + app id.

wechatpy's PrpCrypto implements the same scheme but trusts the padding and length bytes and decodes to text,
so a tampered ciphertext surfaces as arbitrary errors; this version checks every field and returns bytes.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["CiphertextRejected", "MessageCipher"]

_BLOCK = 32
"""WeChat pads to 32 bytes (PKCS#7 with a 32-byte block), not AES's 16."""


class CiphertextRejected(ValueError):
    """The ciphertext was not made with this inbox's EncodingAESKey for this app id."""


class MessageCipher:
    def __init__(self, encoding_aes_key: str, app_id: str) -> None:
        self._key = base64.b64decode(encoding_aes_key + "=")
        self._app_id = app_id.encode()

    def decrypt(self, encrypted: str) -> bytes:
        """The plaintext message; raises CiphertextRejected unless it decrypts and names our app id."""
        try:
            ciphertext = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CiphertextRejected("Encrypt is not base64") from None
        if not ciphertext or len(ciphertext) % 16:
            raise CiphertextRejected("ciphertext is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        padding = padded[-1]
        if not 1 <= padding <= _BLOCK or padded[-padding:] != bytes([padding]) * padding:
            raise CiphertextRejected("ciphertext does not decrypt with this EncodingAESKey")
        framed = padded[16:-padding]
        length = int.from_bytes(framed[:4], "big")
        if len(framed) < 4 or length > len(framed) - 4:
            raise CiphertextRejected("decrypted length field is out of range")
        message, app_id = framed[4 : 4 + length], framed[4 + length :]
        if app_id != self._app_id:
            raise CiphertextRejected("message was encrypted for another app id")
        return message

    def encrypt(self, message: bytes) -> str:
        """What WeChat sends; builds the encrypted deliveries of the contract fixtures and tests."""
        framed = os.urandom(16) + len(message).to_bytes(4, "big") + message + self._app_id
        padding = _BLOCK - len(framed) % _BLOCK
        encryptor = self._cipher().encryptor()
        return base64.b64encode(
            encryptor.update(framed + bytes([padding]) * padding) + encryptor.finalize()
        ).decode()

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))
