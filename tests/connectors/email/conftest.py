"""Real mail servers for the email tests: one Dovecot for the session (a mailbox of its own per test) and aiosmtpd
servers per test, all on loopback, speaking TLS with a certificate made for the session."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import ConnectorContext
from connectors.email import EmailConnector, EmailSettings
from connectors.email.testing import (
    DovecotServer,
    SmtpRecorder,
    TestCertificate,
    dovecot_missing,
    loopback_connect,
)
from connectors.testing import TEST_INBOX, make_context

FIXTURES = Path(__file__).parent / "fixtures"
MAILBOXES = 400
"""Users made when Dovecot starts (one mailbox per test); Dovecot does not notice users added within a second."""
MAILBOX_PASSWORD = "imap-secret"
_MAILBOX_NUMBERS = itertools.count()


def mailbox_user(number: int) -> str:
    return f"support{number}@shop.example"


def fixture_mail(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> TestCertificate:
    return TestCertificate.create(tmp_path_factory.mktemp("certificate"))


@pytest.fixture(scope="session")
def dovecot(certificate: TestCertificate) -> Iterator[DovecotServer]:
    missing = dovecot_missing()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    server = DovecotServer.start(
        certificate, {mailbox_user(number): MAILBOX_PASSWORD for number in range(MAILBOXES)}
    )
    yield server
    server.stop()


@pytest.fixture
def trusted_certificate(certificate: TestCertificate, monkeypatch: pytest.MonkeyPatch) -> TestCertificate:
    """The test certificate trusted as an operator trusts a private CA: through SSL_CERT_FILE."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert_path))
    return certificate


class Mailbox:
    """One user's mailbox on the session's Dovecot, and settings for an email inbox that reads it."""

    def __init__(self, dovecot: DovecotServer, username: str, password: str) -> None:
        self.dovecot = dovecot
        self.username = username
        self.password = password

    async def deliver(self, mail: bytes, **options: Any) -> None:
        await self.dovecot.append(self.username, self.password, mail, **options)

    def settings(self, smtp: SmtpRecorder | None = None, **changes: Any) -> dict[str, Any]:
        values = {
            "imap_host": "127.0.0.1",
            "imap_port": self.dovecot.port,
            "imap_security": "none",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port if smtp else 9,
            "smtp_security": "none",
            "username": self.username,
            "password": self.password,
            "from_address": "support@shop.example",
            "initial_import_days": 3650,
        }
        return {**values, **changes}

    def connector(self, smtp: SmtpRecorder | None = None, **changes: Any) -> EmailConnector:
        return EmailConnector(EmailSettings.model_validate(self.settings(smtp, **changes)), TEST_INBOX)


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> Mailbox:
    return Mailbox(dovecot, mailbox_user(next(_MAILBOX_NUMBERS)), MAILBOX_PASSWORD)


@pytest.fixture
def smtp(certificate: TestCertificate, mailbox: Mailbox) -> Iterator[SmtpRecorder]:
    """Plain SMTP with STARTTLS offered; the login is the mailbox's."""
    server = SmtpRecorder(certificate, username=mailbox.username, password=mailbox.password).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_tls(certificate: TestCertificate, mailbox: Mailbox) -> Iterator[SmtpRecorder]:
    """SMTP over implicit TLS (as on port 465)."""
    server = SmtpRecorder(
        certificate, implicit_tls=True, username=mailbox.username, password=mailbox.password
    ).start()
    yield server
    server.stop()


@pytest.fixture
async def context() -> AsyncIterator[ConnectorContext]:
    """Connections to loopback only, as a hub with OMNIHUB_ALLOWED_PRIVATE_NETWORKS=127.0.0.0/8 opens them."""
    async with httpx.AsyncClient() as http:
        yield make_context(http, connect=loopback_connect)
