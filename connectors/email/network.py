"""Reaching a mail server: a connection the hub opened under its egress policy, and failures as two kinds.

Every failure of a mail server is either the server's (down, slow, the connection dropped: try again later) or the
settings' (the password, the folder, a host the hub may not reach, a server that does not speak TLS as configured:
only an admin can fix it). The IMAP, SMTP and credential code map these two to the contract's errors.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from connectors.base import Connect, DestinationRefused

__all__ = ["MailServerRefused", "MailServerUnavailable", "open_socket", "tls_context", "tls_failure"]

CONNECT_TIMEOUT_SECONDS = 20.0


class MailServerUnavailable(Exception):
    """The server could not be used now; the same settings may work later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MailServerRefused(Exception):
    """The settings are wrong for this server; `setting` names the one to fix (None when it is none of them)."""

    def __init__(self, reason: str, *, setting: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.setting = setting


def tls_context() -> ssl.SSLContext:
    """The system's trust store (honouring SSL_CERT_FILE and SSL_CERT_DIR, for a private certificate authority)."""
    return ssl.create_default_context()


async def open_socket(connect: Connect | None, host: str, port: int, protocol: str) -> socket.socket:
    """A TCP connection to `host:port` opened by the hub; `protocol` (imap, smtp) names the settings in errors."""
    if connect is None:
        raise MailServerRefused(
            "this hub gives connectors no network connections, so no mail server can be reached", setting=None
        )
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            return await connect(host, port)
    except DestinationRefused as refused:
        raise MailServerRefused(f"{host} {refused.refusal}", setting=f"{protocol}_host") from None
    except TimeoutError:
        raise MailServerUnavailable(
            f"{host}:{port} did not answer within {CONNECT_TIMEOUT_SECONDS:g} seconds"
        ) from None
    except OSError as error:
        raise MailServerUnavailable(
            f"{host}:{port} could not be reached ({error.strerror or error})"
        ) from None


def tls_failure(error: ssl.SSLError, host: str, port: int, protocol: str) -> MailServerRefused:
    """A TLS handshake that failed: a certificate not valid for the host, or a port that does not speak TLS."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return MailServerRefused(
            f"the certificate of {host} could not be verified ({error.verify_message})",
            setting=f"{protocol}_host",
        )
    return MailServerRefused(
        f"{host}:{port} did not complete a TLS handshake ({error.reason or error}); "
        f"check {protocol}_port and {protocol}_security",
        setting=f"{protocol}_security",
    )
