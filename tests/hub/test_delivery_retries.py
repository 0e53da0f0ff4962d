"""How a reply's delivery is retried, as an agent sees it: through the API, the agent socket and the worker.

A stand-in channel answers each send from a script: success, a transient failure (rate limit, 5xx), a
deferral (a daily quota), a permanent refusal, or an attempt cut short as when its worker stops.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, ClassVar

import pytest
from litestar.testing import TestClient
from pydantic import BaseModel

from connectors import (
    Capabilities,
    DeferredSendError,
    PermanentSendError,
    SendResult,
    TransientSendError,
)
from hub.app import create_app
from hub.settings import Settings
from tests.conftest import bearer, wait_for
from tests.hub.signed_json_channel import SignedJsonChannel

BUSY = "The channel is busy (HTTP 503)"
QUOTA = "The account's daily sending quota is used up"
BLOCKED = "The customer has blocked this account"


class FlakySettings(BaseModel):
    pass


class FlakyConnector(SignedJsonChannel):
    """Each send takes the next outcome of `script` (then succeeds) and records when it was called."""

    kind = "flaky"
    display_name = "Flaky"
    capabilities = Capabilities()
    settings_model = FlakySettings
    script: ClassVar[list[BaseException]] = []
    calls: ClassVar[list[tuple[str, float]]] = []

    customer_phone = "+14155550123"

    async def send(self, outbound, context):
        self.calls.append((outbound.text, time.monotonic()))
        if self.script:
            raise self.script.pop(0)
        return SendResult(channel_message_ids=(f"flaky-{len(self.calls)}",))


Hub = Callable[..., tuple[TestClient, dict[str, Any]]]


@pytest.fixture
def flaky_hub(settings: Settings, demo: dict[str, Any]) -> Iterator[Hub]:
    """`flaky_hub(**settings)`: a hub with a flaky inbox and a conversation on it; the sweeper is off unless
    the settings turn it on."""
    FlakyConnector.script, FlakyConnector.calls = [], []
    opened: list[TestClient] = []

    def start(**overrides: Any) -> tuple[TestClient, dict[str, Any]]:
        client = TestClient(
            app=create_app(settings.model_copy(update=overrides)), base_url="http://testserver.local"
        )
        opened.append(client.__enter__())
        client.app.state.hub.registry.register(FlakyConnector)
        api = bearer(demo["api_token"])
        inbox = client.post(
            "/api/v1/inboxes", headers=api, json={"kind": "flaky", "name": "Flaky", "settings": {}}
        )
        client.post(
            f"/webhooks/flaky/{inbox.json()['id']}",
            headers={"x-signature": "good"},
            content=json.dumps({"id": "in-1", "text": "hello"}),
        )
        [conversation] = wait_for(lambda: client.get("/api/v1/conversations", headers=api).json()["items"])
        return client, conversation

    yield start
    for client in opened:
        client.__exit__(None, None, None)


def _reply(client: TestClient, demo: dict[str, Any], conversation: dict[str, Any], text: str) -> str:
    answer = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers=bearer(demo["api_token"]),
        json={"text": text},
    )
    assert answer.status_code == 201
    return answer.json()["id"]


def _message(client: TestClient, demo: dict[str, Any], conversation: dict[str, Any], message_id: str) -> dict:
    items = client.get(
        f"/api/v1/conversations/{conversation['id']}/messages", headers=bearer(demo["api_token"])
    ).json()["items"]
    return next(item for item in items if item["id"] == message_id)


def _once(client, demo, conversation, message_id, condition: Callable[[dict], bool]) -> dict:
    """The message as soon as `condition` holds for it."""

    def matching() -> dict | None:
        message = _message(client, demo, conversation, message_id)
        return message if condition(message) else None

    return wait_for(matching)


def _waits(message: dict[str, Any]) -> float:
    """How long after the failed attempt was recorded the next one is due."""
    due = datetime.fromisoformat(message["next_attempt_at"]) - datetime.fromisoformat(message["updated_at"])
    return due.total_seconds()


def test_a_transient_failure_is_retried_with_a_growing_backoff_until_it_is_sent(flaky_hub, demo) -> None:
    client, conversation = flaky_hub(outbound_retry_seconds=0.2, outbound_max_attempts=5)
    FlakyConnector.script = [TransientSendError(BUSY), TransientSendError(BUSY)]
    message_id = _reply(client, demo, conversation, "third time lucky")
    sent = _once(client, demo, conversation, message_id, lambda message: message["status"] == "sent")
    assert sent["delivery_attempts"] == 3 and sent["error"] is None and sent["next_attempt_at"] is None
    times = [called for text, called in FlakyConnector.calls if text == "third time lucky"]
    assert len(times) == 3
    first_wait, second_wait = times[1] - times[0], times[2] - times[1]
    assert first_wait >= 0.2 and second_wait >= 0.4, (first_wait, second_wait)


def test_a_waiting_retry_shows_its_attempts_reason_and_next_attempt_on_the_message_and_its_event(
    flaky_hub, demo
) -> None:
    client, conversation = flaky_hub(outbound_retry_seconds=30)
    FlakyConnector.script = [TransientSendError(BUSY)]
    with client.websocket_connect(f"/api/v1/agent/ws?token={demo['api_token']}") as socket:
        assert socket.receive_json()["type"] == "ready"
        message_id = _reply(client, demo, conversation, "please wait")
        event = socket.receive_json()
        while not (event["type"] == "message.updated" and event["message"]["id"] == message_id):
            event = socket.receive_json()
    waiting = _message(client, demo, conversation, message_id)
    for shown in (waiting, event["message"]):
        assert shown["status"] == "pending" and shown["error"] == BUSY and shown["delivery_attempts"] == 1
        assert 30 <= _waits(shown) < 45, shown


def test_retries_of_replies_failing_together_are_spread_by_jitter(flaky_hub, demo) -> None:
    client, conversation = flaky_hub(outbound_retry_seconds=30)
    FlakyConnector.script = [TransientSendError(BUSY) for _ in range(6)]
    message_ids = [_reply(client, demo, conversation, f"reply {number}") for number in range(6)]
    waits = [
        _waits(
            _once(client, demo, conversation, message_id, lambda message: message["delivery_attempts"] == 1)
        )
        for message_id in message_ids
    ]
    assert all(30 <= wait < 45 for wait in waits), waits
    assert len({round(wait, 3) for wait in waits}) > 1, f"every retry is due at the same moment: {waits}"


def test_a_channel_asking_to_wait_is_never_retried_sooner(flaky_hub, demo) -> None:
    client, conversation = flaky_hub(outbound_retry_seconds=0.1)
    FlakyConnector.script = [TransientSendError(BUSY, retry_after=120)]
    message_id = _reply(client, demo, conversation, "rate limited")
    waiting = _once(client, demo, conversation, message_id, lambda message: message["delivery_attempts"] == 1)
    assert 120 <= _waits(waiting) < 180


def test_a_permanent_refusal_fails_at_once_with_the_channels_reason(flaky_hub, demo) -> None:
    client, conversation = flaky_hub(outbound_retry_seconds=0.05)
    FlakyConnector.script = [PermanentSendError(BLOCKED)]
    refused = _reply(client, demo, conversation, "refused")
    failed = _once(client, demo, conversation, refused, lambda message: message["status"] == "failed")
    assert (failed["error"], failed["delivery_attempts"], failed["next_attempt_at"]) == (BLOCKED, 1, None)
    fine = _reply(client, demo, conversation, "the next one")
    _once(client, demo, conversation, fine, lambda message: message["status"] == "sent")
    assert [text for text, _ in FlakyConnector.calls] == ["refused", "the next one"]


def test_transient_failures_give_up_after_the_configured_attempts_saying_why(flaky_hub, demo) -> None:
    client, conversation = flaky_hub(outbound_retry_seconds=0.05, outbound_max_attempts=3)
    FlakyConnector.script = [TransientSendError(BUSY) for _ in range(10)]
    message_id = _reply(client, demo, conversation, "never")
    failed = _once(client, demo, conversation, message_id, lambda message: message["status"] == "failed")
    assert failed["error"] == f"{BUSY} (gave up after 3 attempts)"
    assert failed["delivery_attempts"] == 3 and failed["next_attempt_at"] is None
    assert len(FlakyConnector.calls) == 3


def test_a_deferred_send_waits_as_the_channel_asks_without_using_up_attempts(flaky_hub, demo) -> None:
    """One attempt allowed: a transient failure would fail the reply, a deferral (a daily quota) only delays it."""
    client, conversation = flaky_hub(outbound_max_attempts=1)
    FlakyConnector.script = [
        DeferredSendError(QUOTA, retry_after=0.3),
        DeferredSendError(QUOTA, retry_after=0.3),
    ]
    message_id = _reply(client, demo, conversation, "tomorrow")
    deferred = _once(
        client, demo, conversation, message_id, lambda message: message["delivery_attempts"] == 1
    )
    assert deferred["error"] == QUOTA and deferred["status"] in ("pending", "sending")
    sent = _once(client, demo, conversation, message_id, lambda message: message["status"] == "sent")
    assert sent["delivery_attempts"] == 3
    times = [called for _, called in FlakyConnector.calls]
    assert all(later - earlier >= 0.3 for earlier, later in itertools.pairwise(times)), times


def test_the_sweeper_sends_again_a_reply_whose_attempt_never_finished(flaky_hub, demo) -> None:
    """The attempt is cut short (its worker's loop cancels it), so the reply stays `sending` with no job to come:
    the sweeper finds it once its lease is over and delivers it, saying why in the meantime."""
    client, conversation = flaky_hub(sweep_interval_seconds=0.2, stuck_after_seconds=0.5)
    FlakyConnector.script = [asyncio.CancelledError()]
    message_id = _reply(client, demo, conversation, "cut short")
    wait_for(lambda: FlakyConnector.calls)
    assert _message(client, demo, conversation, message_id)["status"] == "sending"
    sent = _once(client, demo, conversation, message_id, lambda message: message["status"] == "sent")
    assert sent["delivery_attempts"] == 2
    assert [text for text, _ in FlakyConnector.calls] == ["cut short", "cut short"]
