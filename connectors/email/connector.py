"""Email: a support mailbox read over IMAP and answered over SMTP, the first pull channel."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from connectors.base import (
    Capabilities,
    ConnectorContext,
    CredentialsRefused,
    CredentialsUnchecked,
    OutboundMessage,
    PermanentSendError,
    PollingConnector,
    PollSession,
    RawRequest,
    SendResult,
    TransientSendError,
)
from connectors.email.imap import ImapClient
from connectors.email.network import MailServerRefused, MailServerUnavailable
from connectors.email.outgoing import OutgoingAttachment, compose_reply
from connectors.email.parsing import header_block, read_mail
from connectors.email.polling import open_mailbox
from connectors.email.settings import EmailSettings
from connectors.email.smtp import MailRejected, smtp_session, submit
from connectors.email.thread_ids import reply_subject
from normalizer import InboundMessage

__all__ = ["EmailConnector"]


class EmailConnector(PollingConnector):
    kind = "email"
    display_name = "Email"
    capabilities = Capabilities(text=True, images=True, files=True, threads_by_reply=True)
    settings_model = EmailSettings

    settings: EmailSettings

    @classmethod
    def demo_settings(cls) -> dict[str, Any]:
        return {
            "imap_host": "imap.example.com",
            "smtp_host": "smtp.example.com",
            "username": "support@example.com",
            "password": "demo-password-not-a-real-one",
            "from_address": "support@example.com",
            "from_name": "Example Support",
        }

    def describe(self) -> dict[str, Any]:
        """Where the inbox reads and sends mail (never the password)."""
        return {
            "from_address": self.settings.from_address,
            "imap_host": self.settings.imap_host,
            "folder": self.settings.folder,
        }

    def parse(self, raw: RawRequest) -> list[InboundMessage]:
        """One mail (`raw.body`, RFC 5322 bytes; `raw.received_at` its arrival) as one message."""
        return [read_mail(raw.body, raw.received_at, self.settings).message]

    def redact(self, raw: RawRequest) -> str:
        return header_block(raw.body)

    def poll_session(self, context: ConnectorContext) -> AbstractAsyncContextManager[PollSession]:
        return open_mailbox(self.settings, context)

    def poll_interval(self) -> float:
        return float(self.settings.poll_interval_seconds)

    async def check_credentials(self, context: ConnectorContext) -> None:
        """Log in to both servers (and open the folder): what polling and sending will do, done once up front."""
        settings = self.settings
        try:
            client = await ImapClient.connect(
                context.connect, settings.imap_host, settings.imap_port, settings.imap_security
            )
            try:
                await client.login(settings.username, settings.password.get_secret_value())
                await client.select(settings.folder)
            finally:
                await client.logout()
            async with smtp_session(settings, context.connect):
                pass
        except MailServerRefused as refused:
            raise CredentialsRefused(refused.reason, setting=refused.setting) from None
        except MailServerUnavailable as failure:
            raise CredentialsUnchecked(failure.reason) from None

    def reply_subject(self, thread_subject: str | None) -> str:
        """The thread's subject with one `Re:`, or the inbox's name when the customer gave none."""
        return reply_subject(thread_subject, self.inbox.name)

    async def send(self, outbound: OutboundMessage, context: ConnectorContext) -> SendResult:
        attachments = [
            await self._attachment(attachment.url, attachment.name, attachment.mime_type, context)
            for attachment in outbound.attachments
            if attachment.url
        ]
        mail, message_id = compose_reply(
            outbound, self.settings, self.reply_subject(outbound.subject), attachments, context.now()
        )
        try:
            await submit(mail, self.settings, context.connect)
        except MailRejected as rejected:
            reason = f"The mail server refused the mail: {rejected.reason}"
            raise (TransientSendError(reason) if rejected.temporary else PermanentSendError(reason)) from None
        except MailServerUnavailable as failure:
            raise TransientSendError(f"The mail server could not be used: {failure.reason}") from None
        except MailServerRefused as refused:
            raise PermanentSendError(
                f"The mail server refused the inbox's settings: {refused.reason}"
            ) from None
        return SendResult(channel_message_ids=(message_id,))

    async def _attachment(
        self, url: str, name: str | None, mime_type: str | None, context: ConnectorContext
    ) -> OutgoingAttachment:
        content = await context.read_attachment(url, self.settings.max_attachment_bytes)
        filename = name or url.rstrip("/").rpartition("/")[2] or "attachment"
        return OutgoingAttachment(
            filename, mime_type or content.mime_type or "application/octet-stream", content.content
        )
