"""WeChat mini program fixtures for the connector contract kit: JSON pushes in safe mode."""

from __future__ import annotations

import json

from connectors.base import OutboundMessage
from connectors.testing import ContractProfile
from connectors.wechat.common.identities import WECHAT_OPENID
from connectors.wechat.common.testing import contract_profile, fixture_settings
from connectors.wechat.mini_program.connector import WeChatMiniProgramConnector
from normalizer import IdentityRef

__all__ = ["APP_ID", "profile"]

APP_ID = "wxfedcba9876543210"
_OPENID = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"


def _push(**fields: object) -> bytes:
    envelope = {"ToUserName": "gh_97417a04a28d", "FromUserName": _OPENID, "CreateTime": 1714037059}
    return json.dumps({**envelope, **fields}, ensure_ascii=False).encode()


def profile() -> ContractProfile:
    return contract_profile(
        WeChatMiniProgramConnector,
        fixture_settings(APP_ID, data_format="json"),
        payloads=[
            _push(MsgType="text", Content="请问怎么退货？", MsgId=1234567890123456),
            _push(MsgType="event", Event="user_enter_tempsession", SessionFrom="order-page"),
            _push(
                MsgType="miniprogrampage",
                MsgId=1234567890123457,
                Title="订单详情",
                AppId=APP_ID,
                PagePath="pages/order/detail?id=42",
                ThumbUrl="https://mmbiz.qpic.cn/t.jpg",
                ThumbMediaId="thumb_1",
            ),
        ],
        malformed_payloads=[
            _push(MsgType="text", Content="cut off")[:-12],
            b'["not", "an", "object"]',
            _push(MsgType="text", CreateTime="yesterday", Content="hi"),
            _push(MsgType="text", Content="x" * 70000),
        ],
        sample_outbound=OutboundMessage(
            message_id="m-1",
            conversation_id="c-1",
            recipient=IdentityRef(WECHAT_OPENID, _OPENID, scope=APP_ID, verified=True),
            text="您好，退货请在订单页点击“申请售后”。",
        ),
        invalid_settings=[(fixture_settings(APP_ID, data_format="yaml"), "data_format")],
    )
