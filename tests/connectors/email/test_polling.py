"""Reading a real mailbox (Dovecot): fixtures delivered, polled through the connector, resumed, re-validated, IDLE."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from connectors.base import (
    ConnectorContext,
    DestinationRefused,
    PermanentPollError,
    PollResult,
    TransientPollError,
)
from connectors.email import EmailConnector
from connectors.email.testing import SmtpRecorder
from connectors.testing import no_server_here
from normalizer import Automation
from tests.connectors.email.conftest import Mailbox, fixture_mail

ALL_FIXTURES = [
    "plain_text.eml",
    "html_only.eml",
    "multipart_with_attachments.eml",
    "gbk_subject_and_body.eml",
    "gb2312_subject_and_body.eml",
    "gb2312_label_on_gbk_bytes.eml",
    "iso_2022_jp.eml",
    "big5_body.eml",
    "latin1_label_on_utf8_bytes.eml",
    "gmail_reply_with_quote.eml",
    "outlook_reply_with_quote.eml",
    "out_of_office_auto_reply.eml",
    "dsn_bounce.eml",
    "mailing_list.eml",
    "no_message_id.eml",
    "malformed_mime.eml",
]


def ids(result: PollResult) -> list[str]:
    return [message.channel_message_id for item in result.items for message in item.messages]


async def read_all(
    connector: EmailConnector, context: ConnectorContext, cursor: str | None = None
) -> tuple[list[PollResult], str]:
    results = []
    async with connector.poll_session(context) as session:
        while True:
            result = await session.poll(cursor)
            results.append(result)
            cursor = result.cursor
            if not result.more:
                return results, cursor


def messages(results: list[PollResult]):
    return [message for result in results for item in result.items for message in item.messages]


async def test_fixture_mails_delivered_to_dovecot_are_polled_as_the_parser_reads_them(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    for name in ALL_FIXTURES:
        await mailbox.deliver(fixture_mail(name))
    connector = mailbox.connector(batch_size=5)
    results, _ = await read_all(connector, context)
    polled = messages(results)
    assert [len(result.items) for result in results] == [5, 5, 5, 1]
    assert len(polled) == len(ALL_FIXTURES)
    by_subject = {message.subject: message for message in polled}
    assert by_subject["订单问题：镕铁锅把手断了"].text.startswith("您好：\n我上周买的铁锅把手断了")
    assert by_subject["注文の確認"].sender_name == "山田太郎"
    assert (
        by_subject["Undelivered Mail Returned to Sender"].failed_delivery_of == "omnihub.msg-42@shop.example"
    )
    assert by_subject["This week: 10 kettles reviewed"].automated == Automation.BULK
    parsed = {
        connector.parse(dataclasses.replace(item_raw(name), received_at=message.sent_at))
        .pop()
        .channel_message_id
        for name, message in zip(ALL_FIXTURES, polled, strict=True)
    }
    assert {message.channel_message_id for message in polled} == parsed
    assert all(
        item.raw.startswith(("Return-Path", "From", "Received"))
        for result in results
        for item in result.items
    )


def item_raw(name: str):
    from connectors.testing import raw_request

    return raw_request(fixture_mail(name))


async def test_attachments_are_stored_and_inline_images_shown_from_the_stored_copy(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    await mailbox.deliver(fixture_mail("multipart_with_attachments.eml"))
    (message,) = messages((await read_all(mailbox.connector(), context))[0])
    logo, invoice, details = message.attachments
    assert all(
        attachment.url and attachment.url.startswith("https://hub.example.test/attachments/")
        for attachment in message.attachments
    )
    assert invoice.name == "invoice-1042.pdf" and details.name == "发票镕.txt"
    assert (await context.read_attachment(invoice.url, 10_000)).content.startswith(b"%PDF-1.4")
    assert f'src="{logo.url}"' in message.metadata["html"] and "cid:" not in message.metadata["html"]


async def test_a_restart_with_the_saved_cursor_loses_and_duplicates_nothing(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    for name in ALL_FIXTURES[:6]:
        await mailbox.deliver(fixture_mail(name))
    first = mailbox.connector(batch_size=2)
    async with first.poll_session(context) as session:
        before = await session.poll(None)
    await mailbox.deliver(fixture_mail("mailing_list.eml"))
    restarted = mailbox.connector(batch_size=2)
    results, cursor = await read_all(restarted, context, before.cursor)
    read = ids(before) + [ident for result in results for ident in ids(result)]
    assert len(read) == 7 and len(set(read)) == 7
    assert read[-1] == "weekly-45@lists.kitchen.example"
    later, _ = await read_all(mailbox.connector(), context, cursor)
    assert ids(later[0]) == []


async def test_a_cursor_from_a_batch_that_was_not_stored_reads_that_batch_again(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    """The hub stores a batch and its cursor together; a crash between poll and store repeats the batch."""
    for name in ALL_FIXTURES[:3]:
        await mailbox.deliver(fixture_mail(name))
    async with mailbox.connector(batch_size=2).poll_session(context) as session:
        lost = await session.poll(None)
        again = await session.poll(None)
    assert ids(lost) == ids(again) and len(ids(lost)) == 2


async def test_uid_n_star_past_the_newest_mail_returns_nothing(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    """IMAP reads `n:*` as `*:n` when n is past the newest UID, naming the newest mail: it must not come back."""
    await mailbox.deliver(fixture_mail("plain_text.eml"))
    results, cursor = await read_all(mailbox.connector(), context)
    assert len(messages(results)) == 1
    async with mailbox.connector().poll_session(context) as session:
        assert (await session.poll(cursor)).items == ()
        assert (await session.poll(cursor)).cursor == cursor


async def test_a_changed_uidvalidity_reads_from_the_last_arrival_without_skipping(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    folder = "Support"
    await mailbox.dovecot.create_folder(mailbox.username, mailbox.password, folder)
    old = datetime(2024, 11, 1, 9, 0, tzinfo=UTC)
    for offset, name in enumerate(["plain_text.eml", "html_only.eml"]):
        await mailbox.deliver(fixture_mail(name), folder=folder, arrived_at=old + timedelta(hours=offset))
    results, cursor = await read_all(mailbox.connector(folder=folder), context)
    assert len(messages(results)) == 2

    await mailbox.dovecot.delete_folder(mailbox.username, mailbox.password, folder)
    await mailbox.dovecot.create_folder(mailbox.username, mailbox.password, folder)
    rebuilt = [
        ("plain_text.eml", old),
        ("html_only.eml", old + timedelta(hours=1)),
        ("big5_body.eml", old + timedelta(hours=2)),
    ]
    for name, arrived_at in [("iso_2022_jp.eml", old - timedelta(days=3)), *rebuilt]:
        await mailbox.deliver(fixture_mail(name), folder=folder, arrived_at=arrived_at)
    after, new_cursor = await read_all(mailbox.connector(folder=folder), context, cursor)
    assert new_cursor.split(":")[1] != cursor.split(":")[1], "the new cursor has the new UIDVALIDITY"
    assert [message.channel_message_id for message in messages(after)] == [
        "html-only-77@example.org",
        "big5-001@example.hk",
    ], "read again from the last arrival (deduplicated by the hub), the older mail skipped, the new one read"


async def test_a_new_inbox_imports_only_the_days_its_settings_say(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    now = datetime.now(UTC)
    await mailbox.deliver(fixture_mail("plain_text.eml"), arrived_at=now - timedelta(days=30))
    await mailbox.deliver(fixture_mail("html_only.eml"), arrived_at=now - timedelta(hours=1))
    recent, cursor = await read_all(mailbox.connector(initial_import_days=7), context)
    assert [message.subject for message in messages(recent)] == ["Broken handle"]
    nothing_old, cursor = await read_all(mailbox.connector(initial_import_days=0), context)
    assert messages(nothing_old) == []
    await mailbox.deliver(fixture_mail("big5_body.eml"))
    later, _ = await read_all(mailbox.connector(initial_import_days=0), context, cursor)
    assert [message.subject for message in messages(later)] == ["查詢訂單"]


async def test_our_own_replies_in_the_mailbox_are_not_imported(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    await mailbox.deliver(fixture_mail("our_own_reply.eml"))
    await mailbox.deliver(fixture_mail("gmail_reply_with_quote.eml"))
    results, _ = await read_all(mailbox.connector(), context)
    assert ids(results[0]) == ["CAF1042.reply2@mail.example.com"]


async def test_a_mail_without_a_sender_is_passed_over_and_the_rest_read(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    await mailbox.deliver(fixture_mail("no_sender.eml"))
    await mailbox.deliver(fixture_mail("plain_text.eml"))
    results, cursor = await read_all(mailbox.connector(), context)
    assert ids(results[0]) == ["CAF1042.order@mail.example.com"]
    assert cursor.split(":")[2] == "2", "the cursor moves past the mail it could not read"


async def test_batches_are_bounded_by_size_and_a_mail_over_the_limit_brings_its_headers(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    large = EmailMessage()
    large["From"] = "li.wei@example.com"
    large["Subject"] = "Scans"
    large["Message-ID"] = "<scans-1@example.com>"
    large.set_content("Scans attached.")
    large.add_attachment(b"\x01" * (300 * 1024), maintype="application", subtype="pdf", filename="scans.pdf")
    await mailbox.deliver(large.as_bytes())
    await mailbox.deliver(fixture_mail("plain_text.eml"))
    await mailbox.deliver(fixture_mail("html_only.eml"))
    connector = mailbox.connector(max_message_bytes=256 * 1024)
    results, _ = await read_all(connector, context)
    assert [ids(result) for result in results] == [
        ["scans-1@example.com"],
        ["CAF1042.order@mail.example.com", "html-only-77@example.org"],
    ]
    (scans,) = messages(results[:1])
    assert scans.attachments == () and "only its headers were imported" in scans.metadata["notes"][0]


async def test_idle_wakes_on_a_new_mail(mailbox: Mailbox, context: ConnectorContext) -> None:
    async with mailbox.connector().poll_session(context) as session:
        cursor = (await session.poll(None)).cursor
        waiting = asyncio.create_task(session.wait_for_news(60))
        await asyncio.sleep(0)
        await mailbox.deliver(fixture_mail("plain_text.eml"))
        async with asyncio.timeout(30):
            assert await waiting is True
        assert ids(await session.poll(cursor)) == ["CAF1042.order@mail.example.com"]


async def test_without_idle_waiting_for_news_waits_out_the_interval(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    async with mailbox.connector(use_idle=False).poll_session(context) as session:
        started = asyncio.get_running_loop().time()
        assert await session.wait_for_news(0.2) is False
        assert asyncio.get_running_loop().time() - started >= 0.2
    async with mailbox.connector().poll_session(context) as session:
        assert await session.wait_for_news(0.2) is False, "keep-alive and nothing new is no news"


async def test_a_bad_password_is_a_permanent_error_naming_the_password(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    with pytest.raises(PermanentPollError) as refused:
        async with mailbox.connector(password="wrong-secret").poll_session(context):
            pass
    assert refused.value.setting == "password" and "wrong-secret" not in refused.value.reason


async def test_a_missing_folder_is_a_permanent_error_naming_the_folder(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    with pytest.raises(PermanentPollError) as refused:
        async with mailbox.connector(folder="Archive 2019").poll_session(context):
            pass
    assert refused.value.setting == "folder"


async def test_a_folder_with_a_chinese_name_is_read(mailbox: Mailbox, context: ConnectorContext) -> None:
    await mailbox.dovecot.create_folder(mailbox.username, mailbox.password, "客服 & 售后")
    await mailbox.deliver(fixture_mail("gbk_subject_and_body.eml"), folder="客服 & 售后")
    results, _ = await read_all(mailbox.connector(folder="客服 & 售后"), context)
    assert ids(results[0]) == ["gbk-001@example.cn"]


async def test_a_server_that_is_down_is_a_transient_error(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    with pytest.raises(TransientPollError, match="could not be reached"):
        async with mailbox.connector().poll_session(dataclasses.replace(context, connect=no_server_here)):
            pass


async def test_a_destination_the_egress_policy_refuses_is_permanent_naming_the_host(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    async def refusing(host: str, port: int):
        raise DestinationRefused(host, "loopback")

    with pytest.raises(PermanentPollError) as refused:
        async with mailbox.connector().poll_session(dataclasses.replace(context, connect=refusing)):
            pass
    assert refused.value.setting == "imap_host" and "loopback" in refused.value.reason


async def test_a_connection_lost_while_idle_is_a_transient_error(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    opened = []

    async def remembered(host: str, port: int):
        sock = await context.connect(host, port)
        opened.append(sock)
        return sock

    async with mailbox.connector().poll_session(dataclasses.replace(context, connect=remembered)) as session:
        await session.poll(None)
        waiting = asyncio.create_task(session.wait_for_news(60))
        await asyncio.sleep(0.2)
        opened[0].shutdown(2)
        with pytest.raises(TransientPollError, match="lost"):
            async with asyncio.timeout(30):
                await waiting


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_imap_over_starttls_and_implicit_tls(
    mailbox: Mailbox, context: ConnectorContext, trusted_certificate: object, security: str
) -> None:
    await mailbox.deliver(fixture_mail("plain_text.eml"))
    port = mailbox.dovecot.port if security == "starttls" else mailbox.dovecot.tls_port
    results, _ = await read_all(
        mailbox.connector(imap_host="localhost", imap_port=port, imap_security=security), context
    )
    assert ids(results[0]) == ["CAF1042.order@mail.example.com"]


async def test_a_certificate_not_trusted_is_a_permanent_error_naming_the_host(
    mailbox: Mailbox, context: ConnectorContext
) -> None:
    with pytest.raises(PermanentPollError) as refused:
        async with mailbox.connector(imap_port=mailbox.dovecot.tls_port, imap_security="ssl").poll_session(
            context
        ):
            pass
    assert refused.value.setting == "imap_host" and "certificate" in refused.value.reason


async def test_tls_spoken_to_a_plain_port_is_a_permanent_error_naming_the_security(
    mailbox: Mailbox, context: ConnectorContext, trusted_certificate: object, smtp: SmtpRecorder
) -> None:
    with pytest.raises(PermanentPollError) as refused:
        async with mailbox.connector(imap_port=smtp.port, imap_security="ssl").poll_session(context):
            pass
    assert refused.value.setting == "imap_security"
