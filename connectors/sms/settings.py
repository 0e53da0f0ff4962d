"""One Twilio number's (or Messaging Service's) inbox settings, as the admin copies them from the Twilio console."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator

from connectors.base import OutgoingUrl

__all__ = ["DEFAULT_API_BASE_URL", "TwilioSmsSettings"]

DEFAULT_API_BASE_URL = "https://api.twilio.com"


class TwilioSmsSettings(BaseModel):
    """Replies go from the Messaging Service when one is given (Twilio then picks the number), else from `from_number`."""

    account_sid: str = Field(
        pattern=r"^AC[0-9a-f]{32}$", description="Account SID from the Twilio console (AC + 32 hex digits)."
    )
    auth_token: SecretStr = Field(
        description="Auth Token of the account: signs Twilio's webhooks and authenticates the API calls."
    )
    from_number: str | None = Field(
        None,
        pattern=r"^\+[1-9][0-9]{6,14}$",
        description="The Twilio phone number replies come from, in E.164 (+14155550100).",
    )
    messaging_service_sid: str | None = Field(
        None,
        pattern=r"^MG[0-9a-f]{32}$",
        validate_default=True,
        description="Messaging Service SID (MG + 32 hex digits); replies go through it when given.",
    )
    api_base_url: OutgoingUrl = Field(DEFAULT_API_BASE_URL, description="Twilio REST API origin.")
    max_body_bytes: int = Field(
        65536, ge=4096, le=1048576, description="Larger webhook bodies are refused as malformed."
    )

    @field_validator("auth_token")
    @classmethod
    def _token_is_hex(cls, token: SecretStr) -> SecretStr:
        value = token.get_secret_value()
        if len(value) != 32 or any(character not in "0123456789abcdef" for character in value):
            raise ValueError("must be the 32 hex digits of the account's Auth Token")
        return token

    @field_validator("api_base_url")
    @classmethod
    def _origin(cls, url: str) -> str:
        return url.rstrip("/")

    @field_validator("messaging_service_sid")
    @classmethod
    def _a_sender(cls, sid: str | None, info: ValidationInfo) -> str | None:
        if sid is None and info.data.get("from_number") is None:
            raise ValueError("give messaging_service_sid or from_number: replies need a sender")
        return sid
