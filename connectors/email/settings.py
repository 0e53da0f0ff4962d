"""One mailbox connected as an inbox: where to read mail (IMAP), where to send it (SMTP), and the limits."""

from __future__ import annotations

from enum import StrEnum
from ipaddress import ip_address

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from connectors.base import OutgoingHost
from normalizer import IdentityKind, IdentityRef, normalize_identity
from normalizer.identities import InvalidIdentity

__all__ = ["EmailSettings", "Security", "is_loopback_host"]

MIB = 1024 * 1024


class Security(StrEnum):
    SSL = "ssl"
    """TLS from the first byte (IMAP 993, SMTP 465)."""
    STARTTLS = "starttls"
    """Plain connection upgraded to TLS before logging in (IMAP 143, SMTP 587)."""
    NONE = "none"
    """No encryption: only for a server on this machine (a test server), never across a network."""


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address: the only hosts a password may be sent to unencrypted."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class EmailSettings(BaseModel):
    """A support mailbox: the hub reads new mail from `folder` over IMAP and sends replies over SMTP."""

    imap_host: OutgoingHost = Field(description="The IMAP server, e.g. imap.example.com.")
    imap_port: int = Field(993, ge=1, le=65535, description="993 for ssl, 143 for starttls.")
    imap_security: Security = Field(
        Security.SSL, description="ssl, starttls or none (none only on loopback)."
    )
    smtp_host: OutgoingHost = Field(description="The SMTP submission server, e.g. smtp.example.com.")
    smtp_port: int = Field(587, ge=1, le=65535, description="587 for starttls, 465 for ssl.")
    smtp_security: Security = Field(
        Security.STARTTLS, description="ssl, starttls or none (none only on loopback)."
    )
    username: str = Field(min_length=1, max_length=320, description="Logs in to both servers.")
    password: SecretStr = Field(min_length=1, max_length=1000, description="Logs in to both servers.")
    folder: str = Field(
        "INBOX", min_length=1, max_length=500, description="The IMAP folder new mail is read from."
    )
    from_address: str = Field(
        description="Replies are sent from this address; their Message-IDs use its domain."
    )
    from_name: str = Field("", max_length=200, description="The name shown beside from_address.")
    open_ticket_on_new_thread: bool = Field(
        True, description="A mail that starts a new thread opens a ticket."
    )
    max_attachment_bytes: int = Field(
        10 * MIB,
        ge=0,
        le=50 * MIB,
        description="Larger attachments are dropped from received mail (with a note) and refused in replies.",
    )
    max_message_bytes: int = Field(
        40 * MIB,
        ge=64 * 1024,
        le=100 * MIB,
        description="Larger mails are imported from their headers only, with a note.",
    )
    poll_interval_seconds: int = Field(
        60,
        ge=5,
        le=3600,
        description="How often to look for mail when the server cannot announce it (IMAP IDLE).",
    )
    use_idle: bool = Field(True, description="Wait for new mail with IMAP IDLE where the server offers it.")
    initial_import_days: int = Field(
        1,
        ge=0,
        le=3650,
        description="A new inbox first imports the mail that arrived in the last N days (0: only mail arriving later).",
    )
    batch_size: int = Field(50, ge=1, le=500, description="The most mails read in one poll.")

    @field_validator("from_address")
    @classmethod
    def _an_address(cls, value: str) -> str:
        local, at, domain = value.strip().rpartition("@")
        if (
            not at
            or not local
            or not domain
            or any(character.isspace() or character in '<>,;"' for character in value)
        ):
            raise PydanticCustomError("email_address", "must be a plain address such as support@example.com")
        try:
            return normalize_identity(IdentityRef(IdentityKind.EMAIL, value)).value
        except InvalidIdentity as error:
            raise PydanticCustomError("email_address", str(error)) from None

    @field_validator("folder", "username", "password")
    @classmethod
    def _no_control_characters(cls, value: str | SecretStr) -> str | SecretStr:
        """They go into IMAP and SMTP command lines, where a line break would start another command."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if any(ord(character) < 0x20 or character == "\x7f" for character in text):
            raise PydanticCustomError(
                "control_characters", "must not hold control characters (line breaks, tabs)"
            )
        return value

    @field_validator("imap_security", "smtp_security")
    @classmethod
    def _plain_only_on_loopback(cls, security: Security, info: ValidationInfo) -> Security:
        host = info.data.get(f"{(info.field_name or '').partition('_')[0]}_host")
        if security is Security.NONE and host is not None and not is_loopback_host(host):
            raise PydanticCustomError(
                "plain_connection",
                "none sends the password unencrypted, so it is allowed only for a server on this machine "
                "(localhost, 127.0.0.1, ::1), not {host}; use ssl or starttls",
                {"host": host},
            )
        return security

    @property
    def message_id_domain(self) -> str:
        """The business's domain: every Message-ID we write ends in it."""
        return self.from_address.rpartition("@")[2]
