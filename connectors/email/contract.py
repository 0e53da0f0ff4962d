"""Email fixtures for the connector contract kit: mails as clients send them, and real servers to poll and send."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from connectors.base import OutboundMessage
from connectors.email.connector import EmailConnector
from connectors.email.testing import mailbox_source
from connectors.testing import ContractProfile, raw_request
from normalizer import IdentityKind, IdentityRef

__all__ = ["profile"]

ARRIVED_AT = datetime(2024, 11, 4, 2, 0, 5, tzinfo=UTC)
SETTINGS = {
    "imap_host": "imap.shop.example",
    "smtp_host": "smtp.shop.example",
    "username": "support@shop.example",
    "password": "imap-secret",
    "from_address": "support@shop.example",
}


def _mail(headers: str, body: bytes) -> bytes:
    return headers.strip().replace("\n", "\r\n").encode("ascii") + b"\r\n\r\n" + body


def _gbk_words(text: str) -> str:
    return f"=?gbk?B?{base64.b64encode(text.encode('gbk')).decode()}?="


MAILS = [
    _mail(
        """
From: Li Wei <li.wei@example.com>
To: support@shop.example
Subject: Where is my order 1042?
Date: Mon, 4 Nov 2024 10:00:00 +0800
Message-ID: <CAF1042.order@mail.example.com>
Content-Type: text/plain; charset=utf-8
""",
        b"Hello, where is order 1042?\r\n",
    ),
    _mail(
        f"""
From: {_gbk_words("张三")} <zhangsan@example.cn>
To: support@shop.example
Subject: {_gbk_words("订单问题")}
Date: Thu, 7 Nov 2024 15:20:00 +0800
Message-ID: <gbk-001@example.cn>
Content-Type: text/plain; charset=gb2312
""",
        "镕铁锅把手断了，订单号 2048。\r\n".encode("gbk"),
    ),
    _mail(
        """
From: Li Wei <li.wei@example.com>
To: support@shop.example
Subject: Re: Where is my order 1042?
Date: Mon, 4 Nov 2024 14:00:00 +0800
Message-ID: <CAF1042.reply2@mail.example.com>
In-Reply-To: <omnihub.msg-7@shop.example>
References: <CAF1042.order@mail.example.com> <omnihub.msg-7@shop.example>
Content-Type: text/plain; charset=utf-8
""",
        b"Thanks!\r\n\r\nOn Mon, 4 Nov 2024 at 12:30, Shop Support <support@shop.example> wrote:\r\n> It ships today.\r\n",
    ),
    _mail(
        """
From: Old Client <old.client@example.net>
To: support@shop.example
Subject: Order status
Date: Sat, 9 Nov 2024 20:00:00 +0000
Content-Type: text/plain; charset=us-ascii
""",
        b"What is the status of my order 512?\r\n",
    ),
]


def profile() -> ContractProfile:
    return ContractProfile(
        connector=EmailConnector,
        valid_settings=SETTINGS,
        invalid_settings=[
            ({**SETTINGS, "imap_security": "none"}, "imap_security"),
            ({**SETTINGS, "smtp_security": "none"}, "smtp_security"),
            ({**SETTINGS, "imap_host": "imaps://imap.shop.example"}, "imap_host"),
            ({**SETTINGS, "smtp_port": 0}, "smtp_port"),
            ({**SETTINGS, "from_address": "Support <support@shop.example>"}, "from_address"),
            ({key: value for key, value in SETTINGS.items() if key != "password"}, "password"),
        ],
        inbound_requests=[raw_request(mail, received_at=ARRIVED_AT) for mail in MAILS],
        malformed_requests=[
            raw_request(
                b"To: support@shop.example\r\nSubject: no sender\r\n\r\nWho wrote this?\r\n",
                received_at=ARRIVED_AT,
            ),
            raw_request(b"From: not an address\r\nSubject: x\r\n\r\nbody\r\n", received_at=ARRIVED_AT),
        ],
        secret_fields=("password",),
        sample_outbound=OutboundMessage(
            message_id="msg-1",
            conversation_id="conv-1",
            recipient=IdentityRef(IdentityKind.EMAIL, "li.wei@example.com", verified=True),
            text="It ships today.",
            subject="Where is my order 1042?",
            replies_to=("CAF1042.order@mail.example.com",),
        ),
        live_source=lambda: mailbox_source(batch_size=2),
        refused_live_settings=[
            ({"password": "wrong-secret"}, "password"),
            ({"folder": "No Such Folder"}, "folder"),
        ],
    )
