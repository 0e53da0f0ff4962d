"""Handing mail to the SMTP submission server over a connection the hub opened, failures mapped to what they mean.

SMTP says which failures pass: 4xx replies are temporary, 5xx permanent (RFC 5321 4.2.1). A dropped connection or a
timeout is temporary too. A wrong password or a TLS mismatch is the settings' fault and fails until they change.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage

import aiosmtplib

from connectors.base import Connect
from connectors.email.network import (
    MailServerRefused,
    MailServerUnavailable,
    open_socket,
    tls_context,
    tls_failure,
)
from connectors.email.settings import EmailSettings, Security

__all__ = ["MailRejected", "smtp_session", "submit"]

TIMEOUT_SECONDS = 60.0


class MailRejected(Exception):
    """The server refused this mail (not the connection): `temporary` for a 4xx reply, else permanent."""

    def __init__(self, reason: str, *, temporary: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary


@asynccontextmanager
async def smtp_session(settings: EmailSettings, connect: Connect | None) -> AsyncIterator[aiosmtplib.SMTP]:
    """Connected (TLS as the settings say) and logged in; raises MailServerUnavailable or MailServerRefused."""
    host, port = settings.smtp_host, settings.smtp_port
    sock = await open_socket(connect, host, port, "smtp")
    client = aiosmtplib.SMTP(
        hostname=host,
        sock=sock,
        timeout=TIMEOUT_SECONDS,
        tls_context=tls_context(),
        use_tls=settings.smtp_security is Security.SSL,
        start_tls=settings.smtp_security is Security.STARTTLS,
    )
    try:
        try:
            await client.connect()
            await client.login(settings.username, settings.password.get_secret_value())
        except aiosmtplib.SMTPAuthenticationError as refused:
            raise MailServerRefused(
                f"{host} refused the username or password ({refused.code} {refused.message})",
                setting="password",
            ) from None
        except aiosmtplib.SMTPResponseException as refused:
            if 400 <= refused.code < 500:
                raise MailServerUnavailable(
                    f"{host} cannot take mail now ({refused.code} {refused.message})"
                ) from None
            raise MailServerRefused(
                f"{host} refused the connection ({refused.code} {refused.message})", setting=None
            ) from None
        except aiosmtplib.SMTPException as failure:
            if isinstance(failure.__cause__, ssl.SSLError):
                raise tls_failure(failure.__cause__, host, port, "smtp") from None
            raise _connection_failure(failure, settings) from None
        except ssl.SSLError as error:
            raise tls_failure(error, host, port, "smtp") from None
        except OSError as error:
            raise MailServerUnavailable(f"the connection to {host}:{port} failed ({error})") from None
        yield client
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except aiosmtplib.SMTPException:
                client.close()
        sock.close()


async def submit(mail: EmailMessage, settings: EmailSettings, connect: Connect | None) -> None:
    """Send `mail`; raises MailRejected, MailServerUnavailable or MailServerRefused."""
    async with smtp_session(settings, connect) as client:
        try:
            errors, _ = await client.send_message(mail)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            replies = refused.recipients
            raise MailRejected(
                "; ".join(f"{reply.recipient}: {reply.code} {reply.message}" for reply in replies),
                temporary=all(400 <= reply.code < 500 for reply in replies),
            ) from None
        except aiosmtplib.SMTPResponseException as refused:
            raise MailRejected(
                f"{refused.code} {refused.message}", temporary=400 <= refused.code < 500
            ) from None
        except aiosmtplib.SMTPException as failure:
            raise _connection_failure(failure, settings) from None
        except OSError as error:
            raise MailServerUnavailable(f"the connection to {settings.smtp_host} failed ({error})") from None
        if errors:
            raise MailRejected(
                "; ".join(f"{address}: {reply.code} {reply.message}" for address, reply in errors.items()),
                temporary=all(400 <= reply.code < 500 for reply in errors.values()),
            )


def _connection_failure(failure: aiosmtplib.SMTPException, settings: EmailSettings) -> Exception:
    """An SMTP failure that is not a reply code: STARTTLS or AUTH missing is the settings' fault, the rest passes."""
    message = str(failure)
    if "STARTTLS" in message.upper():
        return MailServerRefused(
            f"{settings.smtp_host} does not offer STARTTLS ({message}); use smtp_security ssl "
            "with its TLS port",
            setting="smtp_security",
        )
    if "AUTH" in message.upper() and "not supported" in message:
        return MailServerRefused(f"{settings.smtp_host} offers no login ({message})", setting="smtp_host")
    return MailServerUnavailable(f"{settings.smtp_host} failed ({message})")
