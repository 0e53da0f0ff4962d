"""One web chat inbox's settings: where the widget may be embedded, what it shows, how long a visitor is kept."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

__all__ = ["MAX_TEXT_LENGTH", "WebChatSettings"]

MAX_TEXT_LENGTH = 4000


class WebChatSettings(BaseModel):
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) allowed to embed the widget; empty allows all.",
    )
    greeting: str = Field("Hi! How can we help?", max_length=500)
    title: str = Field("Chat with us", max_length=100)
    color: str = Field("#2563eb", pattern=r"^#[0-9a-fA-F]{6}$")
    prechat: Literal["off", "optional", "required"] = Field(
        "off",
        description="The widget's pre-chat form (name and email, kept as the visitor's unverified claims): not "
        "shown, shown with both optional, or shown with the email required before the first message.",
    )
    offline_form: bool = Field(
        False,
        description="Out of the inbox's business hours, or while no agent could take a new conversation, a new "
        "visitor is offered to leave a message and an email (which opens a ticket) instead of the chat.",
    )
    visitor_token_days: int = Field(90, ge=1, le=3650, description="How long a visitor keeps their history.")
    identity_secret: SecretStr | None = Field(
        None,
        min_length=16,
        max_length=200,
        description="Signs `identify` calls: hex HMAC-SHA256 of the user id with this secret (docs/identify.md). "
        "Without it every identify is unverified.",
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not origin.startswith(("http://", "https://")) or origin.rstrip("/").count("/") != 2:
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com")
        return [origin.rstrip("/").lower() for origin in origins]

    def origin_allowed(self, origin: str | None) -> bool:
        if not self.allowed_origins or origin is None:
            return True
        return origin.rstrip("/").lower() in self.allowed_origins
