"""WeChat official account (公众号): customers write to the account, agents answer through customer service messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import ClassVar

from connectors.base import ConnectorContext, PermanentSendError, TransientSendError
from connectors.wechat.common.connector import WeChatConnector, customer_service_capabilities
from connectors.wechat.common.identities import WECHAT_UNIONID
from connectors.wechat.common.inbound import (
    COMMON_MESSAGE_READERS,
    OFFICIAL_ACCOUNT_ONLY_READERS,
    MessageReader,
)
from connectors.wechat.common.outbound import (
    MessageBuilder,
    media_message,
    news_message,
    official_account_card_message,
    video_message,
)
from connectors.wechat.common.settings import WeChatSettings
from normalizer import IdentityRef, InboundMessage

__all__ = ["WeChatOfficialAccountConnector"]


class WeChatOfficialAccountConnector(WeChatConnector):
    kind = "wechat_oa"
    display_name = "WeChat official account"
    capabilities = customer_service_capabilities(voice=True)
    settings_model = WeChatSettings
    message_readers: ClassVar[Mapping[str, MessageReader]] = {
        **COMMON_MESSAGE_READERS,
        **OFFICIAL_ACCOUNT_ONLY_READERS,
    }
    message_builders: ClassVar[Mapping[str, MessageBuilder]] = {
        "image": media_message,
        "voice": media_message,
        "video": video_message,
        "link": news_message,
        "card": official_account_card_message,
    }

    async def enrich(self, message: InboundMessage, context: ConnectorContext) -> InboundMessage:
        """Also look up the customer's unionid, which links them across the business's WeChat apps."""
        message = await super().enrich(message, context)
        if any(identity.kind == WECHAT_UNIONID for identity in message.linked_identities):
            return message
        try:
            profile = await self._api.call(
                context,
                "GET",
                "/cgi-bin/user/info",
                "user profile lookup",
                params={"openid": message.sender.value, "lang": "zh_CN"},
            )
        except (TransientSendError, PermanentSendError):
            return message
        unionid, nickname = profile.get("unionid"), profile.get("nickname")
        if isinstance(unionid, str) and unionid:
            unionid_ref = IdentityRef(WECHAT_UNIONID, unionid, verified=True)
            message = replace(message, linked_identities=(*message.linked_identities, unionid_ref))
        if isinstance(nickname, str) and nickname.strip() and not message.sender_name:
            message = replace(message, sender_name=nickname.strip())
        return message
