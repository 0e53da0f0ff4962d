"""Replies sent through a real SMTP server (aiosmtpd), read back and checked header by header."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from connectors.base import ConnectorContext, OutboundMessage, PermanentSendError, TransientSendError
from connectors.email.testing import SmtpRecorder
from connectors.testing import no_server_here
from normalizer import Attachment, IdentityKind, IdentityRef
from tests.connectors.email.conftest import Mailbox

SENT_AT = datetime(2024, 11, 4, 4, 30, tzinfo=UTC)
CUSTOMER = IdentityRef(IdentityKind.EMAIL, "li.wei@example.com", verified=True)


def reply(**changes) -> OutboundMessage:
    values = dict(
        message_id="0193a6f2-7c1d-7b3e-9a41-5f0e2d8c1b77",
        conversation_id="conv-1",
        recipient=CUSTOMER,
        text="Your kettle ships today.\n\nTracking: https://track.example/1042",
        subject="Re: RE: Where is my order 1042?",
        replies_to=(
            "CAF1042.reply2@mail.example.com",
            "omnihub.msg-7@shop.example",
            "CAF1042.order@mail.example.com",
        ),
    )
    return OutboundMessage(**{**values, **changes})


def fixed_clock(context: ConnectorContext) -> ConnectorContext:
    return dataclasses.replace(context, now=lambda: SENT_AT)


def received(smtp: SmtpRecorder) -> EmailMessage:
    (mail,) = smtp.received
    return message_from_bytes(mail.data, policy=policy.default)  # type: ignore[return-value]


async def test_a_reply_threads_under_the_customers_mail_header_by_header(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext
) -> None:
    connector = mailbox.connector(smtp, from_name="Shop Support")
    result = await connector.send(reply(), fixed_clock(context))
    assert result.channel_message_ids == ("omnihub.0193a6f2-7c1d-7b3e-9a41-5f0e2d8c1b77@shop.example",)
    (envelope,) = smtp.received
    assert envelope.sender == "support@shop.example" and envelope.recipients == ("li.wei@example.com",)
    assert envelope.login == mailbox.username
    mail = received(smtp)
    assert mail["Message-ID"] == "<omnihub.0193a6f2-7c1d-7b3e-9a41-5f0e2d8c1b77@shop.example>"
    assert mail["From"] == "Shop Support <support@shop.example>"
    assert mail["To"] == "li.wei@example.com"
    assert mail["Subject"] == "Re: Where is my order 1042?"
    assert mail["In-Reply-To"] == "<CAF1042.reply2@mail.example.com>"
    assert mail["References"] == (
        "<CAF1042.order@mail.example.com> <omnihub.msg-7@shop.example> <CAF1042.reply2@mail.example.com>"
    )
    assert mail["Date"] == "Mon, 04 Nov 2024 04:30:00 +0000"
    assert mail["Auto-Submitted"] is None
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert (
        plain.get_content().replace("\r\n", "\n")
        == "Your kettle ships today.\n\nTracking: https://track.example/1042\n"
    )
    assert (
        '<p>Your kettle ships today.</p><p>Tracking: <a href="https://track.example/1042">'
        in html.get_content()
    )


async def test_an_automatic_message_says_so(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext
) -> None:
    await mailbox.connector(smtp).send(reply(automatic=True), context)
    mail = received(smtp)
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"


async def test_a_new_thread_without_subject_is_titled_by_the_inbox(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext
) -> None:
    await mailbox.connector(smtp).send(reply(subject=None, replies_to=()), context)
    mail = received(smtp)
    assert mail["Subject"] == "Contract inbox" and mail["In-Reply-To"] is None and mail["References"] is None


async def test_attachments_are_read_from_the_hubs_storage_and_attached(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext
) -> None:
    stored = await context.save_attachment(b"%PDF-1.4 label", "return-label.pdf", "application/pdf")
    picture = await context.save_attachment("照片".encode(), "照片.jpg", "image/jpeg")
    await mailbox.connector(smtp).send(
        reply(
            attachments=(
                Attachment("file", url=stored, name="return-label.pdf", mime_type="application/pdf"),
                Attachment("image", url=picture, name="照片.jpg", mime_type="image/jpeg"),
            )
        ),
        context,
    )
    attached = list(received(smtp).iter_attachments())
    assert [(part.get_filename(), part.get_content_type(), part.get_content()) for part in attached] == [
        ("return-label.pdf", "application/pdf", b"%PDF-1.4 label"),
        ("照片.jpg", "image/jpeg", "照片".encode()),
    ]


async def test_an_attachment_over_the_limit_fails_the_message(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext
) -> None:
    stored = await context.save_attachment(b"x" * 2000, "big.bin", "application/octet-stream")
    with pytest.raises(PermanentSendError):
        await mailbox.connector(smtp, max_attachment_bytes=1000).send(
            reply(attachments=(Attachment("file", url=stored, name="big.bin"),)), context
        )
    assert smtp.received == []


async def test_a_reply_parsed_back_is_recognised_as_ours(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext
) -> None:
    from connectors.email.parsing import read_mail

    connector = mailbox.connector(smtp)
    await connector.send(reply(), context)
    assert read_mail(smtp.received[0].data, SENT_AT, connector.settings).ours


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_starttls_and_implicit_tls(
    mailbox: Mailbox,
    smtp: SmtpRecorder,
    smtp_tls: SmtpRecorder,
    context: ConnectorContext,
    trusted_certificate: object,
    security: str,
) -> None:
    server = smtp if security == "starttls" else smtp_tls
    connector = mailbox.connector(server, smtp_host="localhost", smtp_security=security)
    await connector.send(reply(), context)
    assert [mail.tls for mail in server.received] == [True]


async def test_an_untrusted_certificate_fails_the_message_naming_the_host(
    mailbox: Mailbox, smtp_tls: SmtpRecorder, context: ConnectorContext
) -> None:
    with pytest.raises(PermanentSendError, match="certificate of localhost could not be verified"):
        await mailbox.connector(smtp_tls, smtp_host="localhost", smtp_security="ssl").send(reply(), context)


@pytest.mark.parametrize(
    "answer, error",
    [
        ("451 4.3.0 Mail server temporarily rejected message", TransientSendError),
        ("452 4.3.1 Insufficient system storage", TransientSendError),
        ("550 5.7.1 Message rejected as spam by content filter", PermanentSendError),
        ("554 5.6.0 Message content rejected", PermanentSendError),
    ],
)
async def test_smtp_replies_map_4xx_to_retry_and_5xx_to_failure_with_the_servers_text(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext, answer: str, error: type[Exception]
) -> None:
    smtp.reply_to_data = answer
    with pytest.raises(error) as failed:
        await mailbox.connector(smtp).send(reply(), context)
    assert answer[4:] in failed.value.reason
    assert type(failed.value) is error


async def test_a_wrong_smtp_password_fails_the_message_saying_so(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext
) -> None:
    smtp.password = "another-secret"
    with pytest.raises(PermanentSendError, match="refused the username or password") as failed:
        await mailbox.connector(smtp).send(reply(), context)
    assert mailbox.password not in failed.value.reason


async def test_a_server_that_is_down_is_retried(mailbox: Mailbox, context: ConnectorContext) -> None:
    with pytest.raises(TransientSendError, match="could not be reached"):
        await mailbox.connector().send(reply(), dataclasses.replace(context, connect=no_server_here))


async def test_only_an_email_address_can_be_answered(
    mailbox: Mailbox, smtp: SmtpRecorder, context: ConnectorContext
) -> None:
    with pytest.raises(PermanentSendError, match="email address"):
        await mailbox.connector(smtp).send(
            reply(recipient=IdentityRef(IdentityKind.PHONE, "+14155550100")), context
        )
