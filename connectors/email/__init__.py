"""Email: a support mailbox read over IMAP (IDLE, durable UID cursor) and answered over SMTP."""

from connectors.email.connector import EmailConnector
from connectors.email.settings import EmailSettings

__all__ = ["EmailConnector", "EmailSettings"]
