"""Reading Twilio's webhook requests: the form it posts, and the X-Twilio-Signature over the URL and that form."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

from connectors.base import MalformedPayload, RawRequest, SignatureInvalid
from connectors.sms.settings import TwilioSmsSettings

__all__ = ["MESSAGE_SID", "PHONE_NUMBER", "WebhookReader", "required"]

PHONE_NUMBER = re.compile(r"\+[1-9][0-9]{6,14}")
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")


class WebhookReader:
    def __init__(self, settings: TwilioSmsSettings) -> None:
        self._settings = settings
        self._validator = RequestValidator(settings.auth_token.get_secret_value())

    def verify(self, raw: RawRequest) -> None:
        """Twilio signs the public URL it called and, for a POST, the form it posted (with the Auth Token)."""
        signature = raw.header("x-twilio-signature")
        if not signature:
            raise SignatureInvalid("the request has no X-Twilio-Signature header, so it is not from Twilio")
        params = self._lenient_form(raw) if raw.method.upper() == "POST" else {}
        if not self._validator.validate(raw.url, params, signature):
            raise SignatureInvalid(
                "X-Twilio-Signature does not match: the request is not from Twilio, or the inbox's auth_token is "
                "not this account's, or OMNIHUB_PUBLIC_URL is not the address configured in Twilio"
            )
        account = params.get("AccountSid") or raw.query.get("AccountSid")
        if account is not None and account != self._settings.account_sid:
            raise SignatureInvalid(f"the request is for Twilio account {account}, not this inbox's")

    def form(self, raw: RawRequest) -> dict[str, str]:
        """The fields Twilio sent (the form of a POST, the query of a GET). Raise MalformedPayload."""
        if len(raw.body) > self._settings.max_body_bytes:
            raise MalformedPayload(f"the body is larger than {self._settings.max_body_bytes} bytes")
        if raw.method.upper() != "POST":
            return dict(raw.query)
        content_type = (raw.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise MalformedPayload(
                f"expected a form (application/x-www-form-urlencoded), not {content_type!r}"
            )
        try:
            text = raw.body.decode("ascii")
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
        except (UnicodeDecodeError, ValueError) as error:
            raise MalformedPayload(f"the form is not URL-encoded UTF-8 ({type(error).__name__})") from None
        fields: dict[str, str] = {}
        for name, value in pairs:
            if name in fields:
                raise MalformedPayload(f"the form repeats the field {name!r}")
            if "\x00" in value:
                raise MalformedPayload(f"the field {name!r} holds a NUL character")
            fields[name] = value
        return fields

    def _lenient_form(self, raw: RawRequest) -> dict[str, str]:
        """The form as the signature covers it, whatever `form` will say of it."""
        text = raw.body.decode("utf-8", errors="replace")
        return dict(parse_qsl(text, keep_blank_values=True))


def required(form: dict[str, str], name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise MalformedPayload(f"the request has no {name}")
    if pattern is not None and not pattern.fullmatch(value):
        raise MalformedPayload(f"{name} {value[:40]!r} is not what Twilio sends")
    return value
