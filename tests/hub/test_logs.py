"""Log lines lose credentials, in text and JSON form, in messages and in tracebacks; other values stay readable."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from hub.logs import configure_logging

TOKEN = "omh_Zx9kQ2mVb7LwP4sT1nR8yU3eA6dF0gHj"


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging replaces the root logger's handlers: put the test runner's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def log_lines(capsys: pytest.CaptureFixture[str], as_json: bool) -> list[str]:
    configure_logging("DEBUG", as_json)
    log = logging.getLogger("omnihub.test")
    log.info('"WebSocket /api/v1/agent/ws?token=%s&page=2" [accepted]', TOKEN)
    log.info("wechat.call url=https://api.example/cgi-bin/send?access_token=%s&type=image", TOKEN)
    log.debug('< TEXT \'{"token": "%s"}\' [60 bytes]', TOKEN)
    log.debug("< authorization: Bearer %s", TOKEN)
    log.info("login.failed password=%s phone=+8613800138000", TOKEN)
    url = "https://api.example/x?secret=" + TOKEN
    try:
        raise RuntimeError(f"could not call {url}")
    except RuntimeError:
        log.exception("request.error")
    return capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_credentials_are_redacted_and_other_values_kept(root_logging, capsys, as_json):
    lines = log_lines(capsys, as_json)
    text = "\n".join(lines)
    assert TOKEN not in text and TOKEN[:12] not in text
    assert text.count("[redacted]") == 6
    assert "&page=2" in text and "&type=image" in text, "other query parameters stay readable"
    assert "8613800138000" not in text and "************00" in text, "phone numbers are still masked"
    if as_json:
        entries = [json.loads(line) for line in lines if line.startswith("{")]
        assert entries[-1]["exception"].count("[redacted]") == 1


def test_credential_like_names_are_recognised_inside_longer_names(root_logging, capsys):
    configure_logging("INFO", False)
    logging.getLogger("omnihub.test").info(
        "a?visitor_token=v1.a.b.c.d&client_secret=s3&msg_signature=abc&name=Li"
    )
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith(
        "a?visitor_token=[redacted]&client_secret=[redacted]&msg_signature=[redacted]&name=Li"
    )
