"""Structured logs (key=value or JSON, one event per line) with phone and order numbers masked."""

from __future__ import annotations

import json
import logging
import re

__all__ = ["configure_logging", "mask_pii"]

_PHONE = re.compile(r"\+?\d[\d\- ]{6,}\d")


def mask_pii(text: str) -> str:
    """Long digit runs (phone numbers, order numbers) keep only their last two digits."""
    return _PHONE.sub(lambda match: "*" * (len(match.group()) - 2) + match.group()[-2:], text)


class _MaskingFormatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
        self._as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        message = mask_pii(record.getMessage())
        if self._as_json:
            entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name, "event": message}
            if record.exc_info:
                entry["exception"] = self.formatException(record.exc_info)
            return json.dumps(entry, ensure_ascii=False)
        record = logging.makeLogRecord({**record.__dict__, "msg": message, "args": None})
        return super().format(record)


def configure_logging(level: str, as_json: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_MaskingFormatter(as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
