"""WeChat mini program customer service (小程序客服): the same API as the official account, its own app id and push."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from connectors.wechat.common.connector import WeChatConnector, customer_service_capabilities
from connectors.wechat.common.documents import DataFormat
from connectors.wechat.common.inbound import COMMON_MESSAGE_READERS, MINI_PROGRAM_ONLY_READERS
from connectors.wechat.common.outbound import link_message, media_message, mini_program_card_message
from connectors.wechat.common.settings import WeChatSettings

__all__ = ["MiniProgramSettings", "WeChatMiniProgramConnector"]


class MiniProgramSettings(WeChatSettings):
    data_format: DataFormat = Field(
        "json", description="Message push data format chosen in the console: json or xml."
    )


class WeChatMiniProgramConnector(WeChatConnector):
    kind = "wechat_mp"
    display_name = "WeChat mini program"
    capabilities = customer_service_capabilities(voice=False)
    settings_model = MiniProgramSettings
    settings: MiniProgramSettings
    message_readers = {**COMMON_MESSAGE_READERS, **MINI_PROGRAM_ONLY_READERS}
    message_builders = {"image": media_message, "link": link_message, "card": mini_program_card_message}

    @classmethod
    def demo_settings(cls) -> dict[str, Any]:
        return {**super().demo_settings(), "data_format": "json"}

    def data_format(self) -> DataFormat:
        return self.settings.data_format

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "data_format": self.settings.data_format}
