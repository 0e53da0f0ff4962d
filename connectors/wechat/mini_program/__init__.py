"""WeChat mini program customer service channel (kind `wechat_mp`)."""

from connectors.wechat.mini_program.connector import MiniProgramSettings, WeChatMiniProgramConnector

__all__ = ["MiniProgramSettings", "WeChatMiniProgramConnector"]
