"""Structured logs (key=value or JSON, one event per line): credentials redacted; bank card and China resident ID
numbers (normalizer.masking's built-in kinds), phone and order numbers masked.

Every process logs through the one handler `configure_logging` installs: the hub's own loggers,
uvicorn's (started with `log_config=None`), Dramatiq's, and Litestar's (`LitestarLogging`).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import websockets
from litestar.logging import BaseLoggingConfig
from litestar.types import GetLogger

from normalizer.masking import mask_sensitive

__all__ = ["LitestarLogging", "configure_logging", "mask_pii", "redact_credentials"]

_PHONE = re.compile(r"\+?\d[\d\- ]{6,}\d")
_CREDENTIAL_NAME = (
    r"[\w.-]*(?:token|secret|passw|key|signature|auth|session|credential|ticket|echostr)[\w.-]*"
)
_CREDENTIAL_PARAMETER = re.compile(rf"(?<![\w.-])({_CREDENTIAL_NAME}=)[^&\s\"'#]+", re.IGNORECASE)
"""`?token=...`, `&visitor_token=...`, `secret=...`: query strings and key=value pairs."""
_CREDENTIAL_FIELD = re.compile(rf"([\"']{_CREDENTIAL_NAME}[\"']\s*:\s*[\"'])[^\"']+", re.IGNORECASE)
"""`"token": "..."`: JSON and Python reprs."""
_BEARER = re.compile(r"(\bBearer\s+)[^\s\"',]+", re.IGNORECASE)
REDACTED = "[redacted]"
NOISY_LOGGERS = ("httpx", "httpcore", "aiosqlite", "asyncio", "sqlalchemy")
"""Kept at WARNING whatever the level: at DEBUG they log request URLs and SQL parameters (message bodies)."""
_WEBSOCKETS_PACKAGE = str(Path(websockets.__file__).parent)


def mask_pii(text: str) -> str:
    """Long digit runs (phone numbers, order numbers) keep only their last two digits."""
    return _PHONE.sub(lambda match: "*" * (len(match.group()) - 2) + match.group()[-2:], text)


def redact_credentials(text: str) -> str:
    """Credential-like query parameters, JSON fields and Bearer tokens lose their values."""
    text = _CREDENTIAL_PARAMETER.sub(rf"\1{REDACTED}", text)
    text = _CREDENTIAL_FIELD.sub(rf"\1{REDACTED}", text)
    return _BEARER.sub(rf"\1{REDACTED}", text)


class _MaskingFormatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
        self._as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        message = redact_credentials(mask_pii(mask_sensitive(record.getMessage())))
        if self._as_json:
            entry = {
                "time": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "event": message,
            }
            if record.exc_info:
                entry["exception"] = redact_credentials(self.formatException(record.exc_info))
            return json.dumps(entry, ensure_ascii=False)
        record = logging.makeLogRecord({**record.__dict__, "msg": message, "args": None})
        return redact_credentials(super().format(record))


class _WithoutWireDumps(logging.Filter):
    """The websockets library (under uvicorn's logger) dumps handshake headers and every frame at DEBUG:
    tokens and message bodies. Those records are dropped; its other records pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG or not record.pathname.startswith(_WEBSOCKETS_PACKAGE)


class LitestarLogging(BaseLoggingConfig):
    """Litestar logs through the handler `configure_logging` installed, instead of replacing it with its own.

    Exceptions are logged by the hub's error handler, once.
    """

    def __init__(self) -> None:
        self.log_exceptions = "never"
        self.traceback_line_limit = -1
        self.exception_logging_handler = None
        self.disable_stack_trace = set()

    def configure(self) -> GetLogger:
        return logging.getLogger

    @staticmethod
    def set_level(logger: logging.Logger, level: int) -> None:
        logger.setLevel(level)


def configure_logging(level: str, as_json: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_MaskingFormatter(as_json))
    handler.addFilter(_WithoutWireDumps())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
