"""docs/webhooks.md: the receiver's check it shows accepts the hub's signatures (both during a rotation) and
refuses a changed body, and its table lists every event type a subscription may ask for."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

from hub.webhooks import EVENT_TYPES
from normalizer.webhook_signature import signed_webhook_headers

GUIDE = Path(__file__).parents[2] / "docs" / "webhooks.md"


def _receiver_check() -> Any:
    (code,) = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(GUIDE), "exec"), namespace)
    return namespace["valid"]


def test_the_guides_check_accepts_the_hubs_signatures():
    valid = _receiver_check()
    old, new = b"o" * 32, b"n" * 32
    body = b'{"id": "e1"}'
    now = int(time.time())
    headers = signed_webhook_headers(new, "e1", now, body)
    assert valid("whsec_" + base64.b64encode(new).decode(), headers, body)
    assert not valid("whsec_" + base64.b64encode(new).decode(), headers, body + b" ")
    assert not valid("whsec_" + base64.b64encode(old).decode(), headers, body)
    both = {
        **headers,
        "webhook-signature": signed_webhook_headers(old, "e1", now, body)["webhook-signature"]
        + " "
        + headers["webhook-signature"],
    }
    assert valid("whsec_" + base64.b64encode(new).decode(), both, body)
    assert valid("whsec_" + base64.b64encode(old).decode(), both, body)


def test_the_guide_lists_every_event_type():
    listed = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", GUIDE.read_text(), re.M)
    assert sorted(listed) == sorted(EVENT_TYPES)
