"""Real mail servers for tests: Dovecot (IMAP) run unprivileged from a temporary directory, aiosmtpd (SMTP) recording
what it receives, and a certificate made on the spot so both speak TLS (STARTTLS and implicit) as real servers do.

Dovecot comes from Debian's `dovecot-imapd` (scripts/install-dovecot.sh). Mail users cannot be root, so a root test
run creates (once) an unprivileged system user and runs Dovecot as that user.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aioimaplib import IMAP4
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.base import Connect, DestinationRefused, RawRequest
from connectors.email.imap import encode_mailbox_name

__all__ = [
    "DOVECOT",
    "DovecotServer",
    "RecordedMail",
    "SmtpRecorder",
    "TestCertificate",
    "dovecot_missing",
    "loopback_connect",
    "loopback_settings",
    "mail_servers",
    "mailbox_source",
]

DOVECOT = Path("/usr/sbin/dovecot")
MAIL_USER = "omnihub-mail"
"""The unprivileged system user a root test run starts Dovecot as."""
START_TIMEOUT_SECONDS = 20.0


def dovecot_missing() -> str | None:
    """Why the IMAP tests cannot run here, or None when Dovecot is installed."""
    if DOVECOT.exists():
        return None
    return "Dovecot is not installed: run scripts/install-dovecot.sh (make test does)"


async def loopback_connect(host: str, port: int) -> socket.socket:
    """`ConnectorContext.connect` as a hub whose OMNIHUB_ALLOWED_PRIVATE_NETWORKS opens 127.0.0.0/8 and ::1 gives it:
    resolve once, refuse every address but loopback, connect to an allowed one."""
    loop = asyncio.get_running_loop()
    answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    allowed = [answer for answer in answers if ipaddress.ip_address(answer[4][0]).is_loopback]
    if not allowed:
        raise DestinationRefused(host, "public")
    failure: OSError = OSError(f"{host} could not be reached")
    for family, kind, proto, _, address in allowed:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
            return sock
        except OSError as error:
            sock.close()
            failure = error
    raise failure


@dataclass(frozen=True)
class TestCertificate:
    """A self-signed certificate for localhost and 127.0.0.1, and a client context that trusts it alone."""

    cert_path: Path
    key_path: Path

    @classmethod
    def create(cls, directory: Path) -> TestCertificate:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / "cert.pem", directory / "key.pem"
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cls(cert_path, key_path)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


@dataclass
class DovecotServer:
    """Dovecot on free high ports of 127.0.0.1: `port` speaks plain IMAP and STARTTLS, `tls_port` implicit TLS."""

    directory: Path
    certificate: TestCertificate
    port: int = 0
    tls_port: int = 0
    _process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, certificate: TestCertificate, users: dict[str, str]) -> DovecotServer:
        """Dovecot with a passwd-file of `users` (name: password), each with a Maildir of their own."""
        server = cls(Path(tempfile.mkdtemp(prefix="dovecot-")), certificate)
        server._launch(users)
        return server

    async def append(
        self,
        username: str,
        password: str,
        mail: bytes,
        *,
        folder: str = "INBOX",
        arrived_at: dt.datetime | None = None,
    ) -> None:
        """Deliver `mail` into the user's folder with IMAP APPEND, as a mail server's delivery would."""
        async with self.session(username, password) as imap:
            response = await imap.append(mail, mailbox=encode_mailbox_name(folder), date=arrived_at)
            assert response.result == "OK", response

    async def create_folder(self, username: str, password: str, folder: str) -> None:
        async with self.session(username, password) as imap:
            assert (await imap.create(encode_mailbox_name(folder))).result == "OK"

    async def delete_folder(self, username: str, password: str, folder: str) -> None:
        async with self.session(username, password) as imap:
            assert (await imap.delete(encode_mailbox_name(folder))).result == "OK"

    @asynccontextmanager
    async def session(self, username: str, password: str) -> AsyncIterator[IMAP4]:
        imap = IMAP4("127.0.0.1", self.port, timeout=30)
        await imap.wait_hello_from_server()
        assert (await imap.login(username, password)).result == "OK"
        try:
            yield imap
        finally:
            await imap.logout()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _launch(self, users: dict[str, str]) -> None:
        uid, gid, user = _unprivileged_user()
        self.port, self.tls_port = _free_port(), _free_port()
        for sub in ("run", "state", "mail", "home"):
            (self.directory / sub).mkdir()
        (self.directory / "passwd").write_text(
            "".join(f"{name}:{{PLAIN}}{password}::::\n" for name, password in users.items())
        )
        shutil.copy(self.certificate.cert_path, self.directory / "cert.pem")
        shutil.copy(self.certificate.key_path, self.directory / "key.pem")
        (self.directory / "dovecot.conf").write_text(self._config(uid, gid, user))
        for path in [self.directory, *self.directory.rglob("*")]:
            os.chown(path, uid, gid)
        (self.directory / "key.pem").chmod(0o600)
        as_user: dict[str, Any] = {"user": uid, "group": gid, "extra_groups": []} if os.geteuid() == 0 else {}
        self._process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(self.directory / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **as_user,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _accepts(self.port) or not _accepts(self.tls_port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = (
                    (self.directory / "dovecot.log").read_text(errors="replace")
                    if (self.directory / "dovecot.log").exists()
                    else ""
                )
                self.stop()
                raise RuntimeError(f"Dovecot did not start: {log[-2000:]}")
            time.sleep(0.05)

    def _config(self, uid: int, gid: int, user: str) -> str:
        home = self.directory
        return textwrap.dedent(f"""\
            base_dir = {home}/run
            state_dir = {home}/state
            log_path = {home}/dovecot.log
            protocols = imap
            listen = 127.0.0.1
            ssl = yes
            ssl_cert = <{home}/cert.pem
            ssl_key = <{home}/key.pem
            disable_plaintext_auth = no
            auth_mechanisms = plain login
            default_login_user = {user}
            default_internal_user = {user}
            default_internal_group = {user}
            first_valid_uid = {uid}
            last_valid_uid = {uid}
            mail_location = maildir:{home}/mail/%u
            mailbox_idle_check_interval = 1 secs
            passdb {{
              driver = passwd-file
              args = scheme=PLAIN username_format=%u {home}/passwd
            }}
            userdb {{
              driver = passwd-file
              args = username_format=%u {home}/passwd
              default_fields = uid={uid} gid={gid} home={home}/home/%u
            }}
            service imap-login {{
              chroot =
              inet_listener imap {{
                port = {self.port}
              }}
              inet_listener imaps {{
                port = {self.tls_port}
                ssl = yes
              }}
            }}
            service anvil {{
              chroot =
            }}
            """)


def _unprivileged_user() -> tuple[int, int, str]:
    """The user Dovecot runs as: this one, or when this is root, an unprivileged system user created once."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.getuid())
        return entry.pw_uid, entry.pw_gid, entry.pw_name
    try:
        entry = pwd.getpwnam(MAIL_USER)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", MAIL_USER],
            check=False,
            capture_output=True,
            text=True,
        )
        try:  # another process (a parallel test run's) may have made it meanwhile: useradd then fails
            entry = pwd.getpwnam(MAIL_USER)
        except KeyError:
            raise RuntimeError(f"useradd {MAIL_USER} failed: {made.stderr.strip()}") from None
    return entry.pw_uid, entry.pw_gid, entry.pw_name


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class RecordedMail:
    sender: str
    recipients: tuple[str, ...]
    data: bytes
    tls: bool
    login: str | None


@dataclass
class SmtpRecorder:
    """An aiosmtpd server that requires a login and records each mail it accepts. `reply_to_data` makes it answer
    the DATA command with a given reply instead (e.g. `451 4.3.0 Try later`)."""

    certificate: TestCertificate
    implicit_tls: bool = False
    username: str = "support@shop.example"
    password: str = "smtp-secret"
    received: list[RecordedMail] = field(default_factory=list)
    reply_to_data: str | None = None
    port: int = 0
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> SmtpRecorder:
        self.port = _free_port()
        context = self.certificate.server_context()
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=context if self.implicit_tls else None,
            tls_context=None if self.implicit_tls else context,
            authenticator=self._authenticate,
            auth_required=True,
            auth_require_tls=False,
            server_hostname="smtp.test",
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.reply_to_data is not None:
            return self.reply_to_data
        auth_data: object = session.auth_data  # aiosmtpd declares it None: AUTH sets it later
        login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else None
        with self._lock:
            self.received.append(
                RecordedMail(
                    envelope.mail_from or "",
                    tuple(envelope.rcpt_tos),
                    bytes(envelope.original_content or b""),
                    tls=self.implicit_tls or session.ssl is not None,
                    login=login,
                )
            )
        return "250 2.0.0 Accepted"

    def _authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        good = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=good, handled=False, auth_data=auth_data if good else None)


@dataclass
class _MailboxSource:
    """A Dovecot mailbox and an SMTP recorder for the contract kit's live checks (see connectors.testing)."""

    dovecot: DovecotServer
    smtp: SmtpRecorder
    settings: dict[str, Any]
    connect: Connect = loopback_connect

    async def deliver(self, raw: RawRequest) -> None:
        await self.dovecot.append(
            self.settings["username"], self.settings["password"], raw.body, arrived_at=raw.received_at
        )


@asynccontextmanager
async def mailbox_source(**settings: Any) -> AsyncIterator[_MailboxSource]:
    """Both servers on loopback, a mailbox on them, settings that read it (plain, loopback only) and connections to
    loopback. `settings` override the defaults (e.g. a small batch_size)."""
    directory = Path(tempfile.mkdtemp(prefix="mail-source-"))
    certificate = TestCertificate.create(directory)
    dovecot = await asyncio.to_thread(
        DovecotServer.start, certificate, {"support@shop.example": "imap-secret"}
    )
    smtp = SmtpRecorder(certificate).start()
    try:
        values = {
            **loopback_settings(dovecot, smtp, "support@shop.example", "imap-secret"),
            "initial_import_days": 3650,
            **settings,
        }
        smtp.password = values["password"]
        yield _MailboxSource(dovecot, smtp, values)
    finally:
        smtp.stop()
        dovecot.stop()
        shutil.rmtree(directory, ignore_errors=True)


def loopback_settings(
    dovecot: DovecotServer, smtp: SmtpRecorder, username: str, password: str
) -> dict[str, Any]:
    """An email inbox's settings that read from and send through these servers, unencrypted (loopback only)."""
    return {
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.port,
        "imap_security": "none",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_security": "none",
        "username": username,
        "password": password,
        "from_address": username,
    }


@contextmanager
def mail_servers(username: str, password: str) -> Iterator[tuple[DovecotServer, SmtpRecorder]]:
    """Dovecot with one mailbox and an SMTP server taking the same login, both on loopback; stopped afterwards.
    Raises RuntimeError saying how to install Dovecot where it is missing."""
    missing = dovecot_missing()
    if missing is not None:
        raise RuntimeError(missing)
    directory = Path(tempfile.mkdtemp(prefix="mail-servers-"))
    certificate = TestCertificate.create(directory)
    dovecot = DovecotServer.start(certificate, {username: password})
    smtp = SmtpRecorder(certificate, username=username, password=password).start()
    try:
        yield dovecot, smtp
    finally:
        smtp.stop()
        dovecot.stop()
        shutil.rmtree(directory, ignore_errors=True)
