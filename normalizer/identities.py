"""Identity normalisation: one spelling per identity, so lookups match across channels."""

from __future__ import annotations

import unicodedata

import phonenumbers

from normalizer.model import IdentityKind, IdentityRef

__all__ = ["InvalidIdentity", "normalize_identity"]


class InvalidIdentity(ValueError):
    """The value cannot be an identity of its kind (e.g. a phone number that is not one)."""


def normalize_identity(identity: IdentityRef, *, default_region: str = "US") -> IdentityRef:
    value = unicodedata.normalize("NFC", identity.value).strip()
    if not value:
        raise InvalidIdentity(f"empty {identity.kind} identity")
    if identity.kind == IdentityKind.EMAIL:
        value = value.lower()
        if "@" not in value:
            raise InvalidIdentity("email identity without @")
    elif identity.kind == IdentityKind.PHONE:
        value = _e164(value, default_region)
    return IdentityRef(kind=identity.kind, value=value, scope=identity.scope, verified=identity.verified)


def _e164(raw: str, region: str) -> str:
    if ":" in raw:
        raw = raw.split(":", 1)[1]
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentity(f"not a phone number: {error}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentity("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
