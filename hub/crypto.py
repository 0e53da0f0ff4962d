"""Secrets at rest, keys derived per purpose, password and API token hashing."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "SecretBox",
    "derive_key",
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


def derive_key(key: bytes, purpose: bytes) -> bytes:
    """A key for one purpose only: what is signed or sealed for one purpose is worthless for another."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"omnihub", info=purpose).derive(key)


def _secrets_fernet(secret_key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derive_key(secret_key, b"secrets-at-rest")))


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
