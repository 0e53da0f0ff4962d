"""WeChat official account channel (kind `wechat_oa`)."""

from connectors.wechat.official_account.connector import WeChatOfficialAccountConnector

__all__ = ["WeChatOfficialAccountConnector"]
