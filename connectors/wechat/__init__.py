"""WeChat channels: the official account (`wechat_oa`) and the mini program customer service (`wechat_mp`)."""

from connectors.wechat.common.settings import WeChatSettings
from connectors.wechat.mini_program import MiniProgramSettings, WeChatMiniProgramConnector
from connectors.wechat.official_account import WeChatOfficialAccountConnector

__all__ = [
    "MiniProgramSettings",
    "WeChatMiniProgramConnector",
    "WeChatOfficialAccountConnector",
    "WeChatSettings",
]
