"""Secrets at rest, signed visitor tokens, password and API token hashing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "InvalidVisitorToken",
    "SecretBox",
    "VisitorTokens",
    "hash_password",
    "hash_api_token",
    "new_api_token",
    "verify_password",
]

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


class SecretBox:
    """Encrypts secrets stored in the database (Fernet, key derived from the secret key)."""

    def __init__(self, secret_key: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret_key, b"secrets-at-rest")))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError("secret cannot be decrypted with this OMNIHUB_SECRET_KEY") from None


class InvalidVisitorToken(Exception):
    """Forged, malformed, for another inbox, or expired."""


class VisitorTokens:
    """`v1.<inbox>.<visitor>.<issued>.<signature>`: the widget keeps it to continue its conversation."""

    def __init__(self, secret_key: bytes) -> None:
        self._key = _derive(secret_key, b"visitor-token")

    def issue(self, inbox_id: str, visitor_id: str, now: float | None = None) -> str:
        body = f"v1.{inbox_id}.{visitor_id}.{int(now if now is not None else time.time())}"
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, inbox_id: str, max_age_seconds: float, now: float | None = None) -> str:
        """Return the visitor id the token was issued for."""
        parts = token.split(".")
        if len(parts) != 5 or parts[0] != "v1":
            raise InvalidVisitorToken("malformed visitor token")
        body, signature = ".".join(parts[:4]), parts[4]
        if not hmac.compare_digest(signature, self._sign(body)):
            raise InvalidVisitorToken("visitor token signature does not match")
        if parts[1] != inbox_id:
            raise InvalidVisitorToken("visitor token belongs to another inbox")
        issued = int(parts[3])
        if (now if now is not None else time.time()) - issued > max_age_seconds:
            raise InvalidVisitorToken("visitor token has expired")
        return parts[2]

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
