"""An email inbox's settings: the names admins script, plain connections only on loopback, hosts judged by egress."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from connectors.base import OUTGOING_URL_JUDGE
from connectors.email import EmailConnector, EmailSettings
from hub.egress import EgressPolicy

VALID = {
    "imap_host": "imap.example.com",
    "smtp_host": "smtp.example.com",
    "username": "support@example.com",
    "password": "secret",
    "from_address": "Support@Example.COM",
}


def refused_fields(settings: dict[str, Any], context: dict[str, Any] | None = None) -> dict[str, str]:
    with pytest.raises(ValidationError) as refused:
        EmailSettings.model_validate(settings, context=context)
    return {".".join(map(str, error["loc"])): error["msg"] for error in refused.value.errors()}


def test_the_scripted_names_and_their_defaults() -> None:
    settings = EmailSettings.model_validate(VALID)
    assert settings.model_dump(
        include={"imap_port", "imap_security", "smtp_port", "smtp_security", "folder"}
    ) == {
        "imap_port": 993,
        "imap_security": "ssl",
        "smtp_port": 587,
        "smtp_security": "starttls",
        "folder": "INBOX",
    }
    assert isinstance(settings.password, SecretStr) and "secret" not in repr(settings)
    assert settings.from_address == "support@example.com" and settings.open_ticket_on_new_thread


@pytest.mark.parametrize("protocol", ["imap", "smtp"])
def test_no_encryption_is_refused_for_a_server_across_a_network(protocol: str) -> None:
    fields = refused_fields({**VALID, f"{protocol}_security": "none"})
    assert list(fields) == [f"{protocol}_security"]
    assert (
        f"allowed only for a server on this machine (localhost, 127.0.0.1, ::1), not {protocol}.example.com"
        in fields[f"{protocol}_security"]
    )


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1", "[::1]", "mail.localhost"])
def test_no_encryption_is_allowed_on_loopback(host: str) -> None:
    EmailSettings.model_validate({**VALID, "imap_host": host, "imap_security": "none"})


@pytest.mark.parametrize(
    "host", ["imaps://imap.example.com", "imap.example.com:993", "user@imap.example.com", " "]
)
def test_a_host_is_a_host(host: str) -> None:
    assert "imap_host" in refused_fields({**VALID, "imap_host": host})


def test_the_egress_policy_judges_both_hosts_when_the_inbox_is_saved() -> None:
    closed = {OUTGOING_URL_JUDGE: EgressPolicy()}
    fields = refused_fields(
        {**VALID, "imap_host": "127.0.0.1", "imap_security": "none", "smtp_host": "169.254.169.254"}, closed
    )
    assert set(fields) == {"imap_host", "smtp_host"} and "loopback address" in fields["imap_host"]
    opened = {OUTGOING_URL_JUDGE: EgressPolicy(allowed_networks=(ip_network("127.0.0.0/8"),))}
    EmailSettings.model_validate({**VALID, "imap_host": "127.0.0.1", "imap_security": "none"}, context=opened)


@pytest.mark.parametrize(
    "address", ["Support <support@example.com>", "support", "a@b@", "support@exa mple.com"]
)
def test_from_address_is_a_plain_address(address: str) -> None:
    assert "from_address" in refused_fields({**VALID, "from_address": address})


def test_demo_settings_are_valid_and_made_up() -> None:
    settings = EmailSettings.model_validate(EmailConnector.demo_settings())
    assert settings.imap_host.endswith("example.com") and settings.imap_security == "ssl"


@pytest.mark.parametrize("field", ["username", "password", "folder"])
def test_no_line_breaks_reach_an_imap_or_smtp_command(field: str) -> None:
    assert field in refused_fields({**VALID, field: "support\r\nA1 DELETE INBOX"})
