"""Identity normalisation: one spelling per identity, so lookups match across channels."""

from __future__ import annotations

import unicodedata

import idna
import phonenumbers

from normalizer.model import IdentityKind, IdentityRef

__all__ = [
    "DEFAULT_REGION",
    "MAX_EXTERNAL_ID_LENGTH",
    "InvalidIdentity",
    "fold_text",
    "is_phone_region",
    "normalize_identity",
]

DEFAULT_REGION = "US"
"""The region a phone number without a country code is read in when the workspace names none."""

MAX_EXTERNAL_ID_LENGTH = 200
"""The longest id a business's own system (a CRM) may give its customer."""


def is_phone_region(code: str) -> bool:
    """An ISO 3166-1 alpha-2 region (upper case) whose national phone numbers phonenumbers can read."""
    return code in phonenumbers.SUPPORTED_REGIONS


class InvalidIdentity(ValueError):
    """The value cannot be an identity of its kind (e.g. a phone number that is not one)."""


def fold_text(value: str) -> str:
    """Compatibility forms folded (full-width `１３８` and `ｌｉ＠` are `138` and `li@`) and every run of
    whitespace, ideographic spaces included, made one space; what customers type from a CJK keyboard matches."""
    return " ".join(unicodedata.normalize("NFKC", value).split())


def normalize_identity(identity: IdentityRef, *, default_region: str = DEFAULT_REGION) -> IdentityRef:
    """Idempotent: a normalised identity normalises to itself, so stored values can be looked up again."""
    value = fold_text(identity.value)
    if not value:
        raise InvalidIdentity(f"empty {identity.kind} identity")
    if identity.kind == IdentityKind.EMAIL:
        value = _email_address(value)
    elif identity.kind == IdentityKind.PHONE:
        value = _e164(value, default_region)
    elif identity.kind == IdentityKind.EXTERNAL and len(value) > MAX_EXTERNAL_ID_LENGTH:
        raise InvalidIdentity(f"an external id has at most {MAX_EXTERNAL_ID_LENGTH} characters")
    return IdentityRef(kind=identity.kind, value=value, scope=identity.scope, verified=identity.verified)


def _email_address(raw: str) -> str:
    """Lower case, and the domain in its ASCII (IDNA) spelling, so `Li@例え.jp` and `li@xn--r8jz45g.jp` are one."""
    local, at, domain = raw.replace(" ", "").lower().rpartition("@")
    if not at or not local or not domain:
        raise InvalidIdentity("email identity without a local part, @ and a domain")
    if domain.isascii():
        return f"{local}@{domain.rstrip('.')}"
    try:
        ascii_domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as error:
        raise InvalidIdentity(f"email domain {domain!r} is not a valid domain name: {error}") from None
    return f"{local}@{ascii_domain}"


def _e164(raw: str, region: str) -> str:
    """E.164. A number written with its country code but no `+` (`8613800138000` in a US workspace) is read as
    international when it is no valid number of the region (phonenumbers does so only for the region's own code)."""
    if ":" in raw:
        raw = raw.split(":", 1)[1]
    number = _valid_number(raw, region)
    if number is None and not raw.lstrip().startswith("+"):
        number = _valid_number(f"+{raw.strip()}", region)
    if number is None:
        raise InvalidIdentity("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _valid_number(raw: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(raw, region.upper())
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None
