"""WeChat official account fixtures for the connector contract kit: safe mode, as WeChat recommends."""

from __future__ import annotations

from connectors.base import OutboundMessage
from connectors.testing import ContractProfile
from connectors.wechat.common.identities import WECHAT_OPENID
from connectors.wechat.common.testing import contract_profile, fixture_settings
from connectors.wechat.official_account.connector import WeChatOfficialAccountConnector
from normalizer import IdentityRef

__all__ = ["APP_ID", "profile"]

APP_ID = "wx0123456789abcdef"
_OPENID = "oLOkR5PG536EbZgd9WcCfGaLfoM8"


def _message(body: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[{_OPENID}]]></FromUserName>"
        f"<CreateTime>1714037059</CreateTime>{body}</xml>"
    ).encode()


def profile() -> ContractProfile:
    return contract_profile(
        WeChatOfficialAccountConnector,
        fixture_settings(APP_ID),
        payloads=[
            _message(
                "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，我的订单在哪里？]]></Content>"
                "<MsgId>24556789012345678</MsgId>"
            ),
            _message(
                "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[https://mmbiz.qpic.cn/x.jpg]]></PicUrl>"
                "<MediaId><![CDATA[media_image_1]]></MediaId><MsgId>24556789012345679</MsgId>"
            ),
            _message(
                "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>"
                "<EventKey><![CDATA[qrscene_123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>"
            ),
        ],
        malformed_payloads=[
            _message("<MsgType><![CDATA[text]]></MsgType><Content>cut off")[:-10],
            b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>',
            _message("<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[" + "x" * 70000 + "]]></Content>"),
            b"<xml><MsgType>text</MsgType></xml>",
        ],
        sample_outbound=OutboundMessage(
            message_id="m-1",
            conversation_id="c-1",
            recipient=IdentityRef(WECHAT_OPENID, _OPENID, scope=APP_ID, verified=True),
            text="您好，您的订单已发货。",
        ),
    )
