"""Outgoing webhook signatures follow Standard Webhooks, checked against the specification's own example."""

from __future__ import annotations

import base64

from normalizer.webhook_signature import signed_webhook_headers, verify_webhook_signature, webhook_signature

SPEC_KEY = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'


def test_the_signature_is_the_specifications_example():
    assert (
        webhook_signature(SPEC_KEY, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
    assert signed_webhook_headers(SPEC_KEY, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


def test_verification_accepts_any_listed_signature_and_refuses_changes():
    good = webhook_signature(SPEC_KEY, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert verify_webhook_signature(SPEC_KEY, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, f"v1,old {good}")
    assert not verify_webhook_signature(SPEC_KEY, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY + b" ", good)
    assert not verify_webhook_signature(SPEC_KEY, SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY, good)
    assert not verify_webhook_signature(SPEC_KEY, "msg_other", SPEC_TIMESTAMP, SPEC_BODY, good)
    assert not verify_webhook_signature(SPEC_KEY, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, "")
