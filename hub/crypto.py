"""Secrets at rest, signed visitor tokens, password and API token hashing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "InvalidVisitorToken",
    "SecretBox",
    "VisitorTokens",
    "hash_api_token",
    "hash_password",
    "new_api_token",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 10
_passwords = PasswordHasher()


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _passwords.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_api_token() -> str:
    return "omh_" + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    """API tokens are high-entropy, so a plain SHA-256 is enough and allows an indexed lookup."""
    return hashlib.sha256(token.encode()).hexdigest()


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"omnihub", info=purpose).derive(key)


def _secrets_fernet(secret_key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(secret_key, b"secrets-at-rest")))


class SecretBox:
    """Encrypts secrets stored in the database (Fernet, keys derived from the secret keys).

    New secrets are always encrypted under the current key; the fallback keys only decrypt, so a
    rotated key keeps working until `reencrypted` has moved every secret to the current one.
    """

    def __init__(self, secret_key: bytes, fallback_keys: Sequence[bytes] = ()) -> None:
        self._current = _secrets_fernet(secret_key)
        self._any_key = MultiFernet([self._current, *(_secrets_fernet(key) for key in fallback_keys)])

    def encrypt(self, plaintext: str) -> str:
        return self._current.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._any_key.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "secret cannot be decrypted with OMNIHUB_SECRET_KEY or OMNIHUB_SECRET_KEY_FALLBACKS"
            ) from None

    def reencrypted(self, ciphertext: str) -> str | None:
        """The secret encrypted under the current key, or None when it already is; ValueError when no key opens it."""
        try:
            self._current.decrypt(ciphertext.encode())
            return None
        except InvalidToken:
            pass
        try:
            return self._any_key.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "secret cannot be decrypted with OMNIHUB_SECRET_KEY or OMNIHUB_SECRET_KEY_FALLBACKS"
            ) from None


class InvalidVisitorToken(Exception):
    """Forged, malformed, for another inbox, or expired."""


class VisitorTokens:
    """`v1.<inbox>.<visitor>.<issued>.<signature>`: the widget keeps it to continue its conversation.

    Signed with the current key; tokens signed with a fallback key are still accepted.
    """

    def __init__(self, secret_key: bytes, fallback_keys: Sequence[bytes] = ()) -> None:
        self._keys = [_derive(key, b"visitor-token") for key in (secret_key, *fallback_keys)]

    def issue(self, inbox_id: str, visitor_id: str, now: float | None = None) -> str:
        body = f"v1.{inbox_id}.{visitor_id}.{int(now if now is not None else time.time())}"
        return f"{body}.{self._sign(self._keys[0], body)}"

    def verify(self, token: str, inbox_id: str, max_age_seconds: float, now: float | None = None) -> str:
        """Return the visitor id the token was issued for. Tokens are ASCII, as issued (and as compare_digest needs)."""
        parts = token.split(".")
        if not token.isascii() or len(parts) != 5 or parts[0] != "v1":
            raise InvalidVisitorToken("malformed visitor token")
        body, signature = ".".join(parts[:4]), parts[4]
        if not any(hmac.compare_digest(signature, self._sign(key, body)) for key in self._keys):
            raise InvalidVisitorToken("visitor token signature does not match")
        if parts[1] != inbox_id:
            raise InvalidVisitorToken("visitor token belongs to another inbox")
        issued = int(parts[3])
        if (now if now is not None else time.time()) - issued > max_age_seconds:
            raise InvalidVisitorToken("visitor token has expired")
        return parts[2]

    @staticmethod
    def _sign(key: bytes, body: str) -> str:
        digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
