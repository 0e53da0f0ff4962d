"""One WeChat app's inbox settings: the credentials and callback options the admin enters in both consoles."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator

from connectors.base import OutgoingUrl

__all__ = ["DEFAULT_API_BASE_URL", "EncryptionMode", "WeChatSettings"]

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"

EncryptionMode = Literal["plain", "safe", "compatible"]

_TOKEN = re.compile(r"[A-Za-z0-9]{3,32}")
_ENCODING_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")
_BASE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s?#]*)?")


class WeChatSettings(BaseModel):
    """Settings shared by the official account and the mini program: both use WeChat's callback and API rules."""

    app_id: str = Field(
        pattern=r"^wx[0-9a-f]{16}$", description="AppID from the WeChat console (wx + 16 hex digits)."
    )
    app_secret: SecretStr = Field(
        min_length=1, max_length=128, description="AppSecret; only used to get access tokens."
    )
    token: SecretStr = Field(description="Callback Token chosen by the admin: 3 to 32 letters or digits.")
    mode: EncryptionMode = Field(
        "safe", description="Message encryption mode as set in the WeChat console: plain, safe or compatible."
    )
    encoding_aes_key: SecretStr | None = Field(
        None,
        validate_default=True,
        description="EncodingAESKey (43 letters or digits); required in safe and compatible mode.",
    )
    api_base_url: OutgoingUrl = Field(
        DEFAULT_API_BASE_URL, description="WeChat API origin (a regional or proxy host)."
    )
    max_clock_skew_seconds: int = Field(
        300,
        ge=1,
        le=3600,
        description="Callbacks whose timestamp is further from our clock are refused as replays.",
    )
    max_body_bytes: int = Field(65536, ge=1024, le=1048576, description="Larger callback bodies are refused.")

    @field_validator("token")
    @classmethod
    def _token_is_alphanumeric(cls, token: SecretStr) -> SecretStr:
        if not _TOKEN.fullmatch(token.get_secret_value()):
            raise ValueError("must be 3 to 32 letters or digits, as WeChat requires")
        return token

    @field_validator("encoding_aes_key")
    @classmethod
    def _key_present_when_encrypting(cls, key: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if key is None:
            if info.data.get("mode", "plain") != "plain":
                raise ValueError(f"required in {info.data['mode']} mode")
            return None
        if not _ENCODING_AES_KEY.fullmatch(key.get_secret_value()):
            raise ValueError("must be exactly 43 letters or digits, as the WeChat console generates it")
        return key

    @field_validator("api_base_url")
    @classmethod
    def _base_url_is_an_origin(cls, url: str) -> str:
        if not _BASE_URL.fullmatch(url):
            raise ValueError("must be an http(s) URL such as https://api.weixin.qq.com")
        return url.rstrip("/")
