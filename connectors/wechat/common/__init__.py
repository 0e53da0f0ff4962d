"""Code both WeChat channels share: callback signatures and encryption, safe parsing, the API and its token."""

from connectors.wechat.common.connector import WeChatConnector
from connectors.wechat.common.settings import WeChatSettings

__all__ = ["WeChatConnector", "WeChatSettings"]
