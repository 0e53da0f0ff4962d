"""Proving an email inbox's settings when it is created: a login to both servers, refusals naming the setting."""

from __future__ import annotations

import dataclasses

import pytest

from connectors.base import ConnectorContext, CredentialsRefused, CredentialsUnchecked, DestinationRefused
from connectors.email.testing import SmtpRecorder
from connectors.testing import no_server_here
from tests.connectors.email.conftest import Mailbox


async def test_good_settings_log_in_to_both_servers(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext
) -> None:
    await mailbox.connector(smtp).check_credentials(context)


@pytest.mark.parametrize(
    "changes, setting",
    [
        ({"password": "wrong-secret"}, "password"),
        ({"folder": "Archive 2019"}, "folder"),
    ],
)
async def test_imap_refusals_name_the_setting(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext, changes: dict[str, str], setting: str
) -> None:
    with pytest.raises(CredentialsRefused) as refused:
        await mailbox.connector(smtp, **changes).check_credentials(context)
    assert refused.value.setting == setting
    assert "wrong-secret" not in refused.value.reason


async def test_a_wrong_smtp_password_is_refused_naming_the_password(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext
) -> None:
    smtp.password = "the-smtp-server-wants-another"
    with pytest.raises(CredentialsRefused) as refused:
        await mailbox.connector(smtp).check_credentials(context)
    assert refused.value.setting == "password" and "535" in refused.value.reason


async def test_an_unreachable_server_leaves_the_credentials_unchecked(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    with pytest.raises(CredentialsUnchecked, match="could not be reached"):
        await mailbox.connector().check_credentials(dataclasses.replace(context, connect=no_server_here))


async def test_an_unreachable_smtp_server_leaves_the_credentials_unchecked(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    with pytest.raises(CredentialsUnchecked, match=r"127\.0\.0\.1:9"):
        await mailbox.connector(smtp_port=9).check_credentials(context)


@pytest.mark.parametrize("refused_host, setting", [("127.0.0.1", "imap_host"), ("localhost", "smtp_host")])
async def test_a_refused_destination_names_the_host_field(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext, refused_host: str, setting: str
) -> None:
    async def policy(host: str, port: int):
        if host == refused_host:
            raise DestinationRefused(host, "private")
        return await context.connect(host, port)

    connector = mailbox.connector(smtp, smtp_host="localhost")
    with pytest.raises(CredentialsRefused) as refused:
        await connector.check_credentials(dataclasses.replace(context, connect=policy))
    assert refused.value.setting == setting and "private address" in refused.value.reason


async def test_a_hub_without_connections_refuses_rather_than_retrying(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    with pytest.raises(CredentialsRefused, match="no network connections"):
        await mailbox.connector().check_credentials(dataclasses.replace(context, connect=None))
