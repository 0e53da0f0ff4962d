"""A reply whose delivery fails, stalls or crashes is retried a bounded number of times, waits when the channel
defers it, then fails; it never blocks the others."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from litestar.testing import TestClient
from pydantic import BaseModel
from sqlalchemy import update

from connectors import (
    Capabilities,
    DeferredSendError,
    SendResult,
    TransientSendError,
)
from hub.app import create_app
from hub.models import Message
from hub.settings import Settings
from tests.conftest import bearer, run, wait_for
from tests.hub.signed_json_channel import SignedJsonChannel


class CrashySettings(BaseModel):
    pass


class CrashyConnector(SignedJsonChannel):
    """A channel whose reply's text chooses how its delivery goes wrong.

    "crash": counting its parts (which the hub does before sending) raises. "defer": the channel refuses
    it for now (a daily quota). "flaky": the first attempt fails transiently. "stall": the first attempt
    never ends until the test releases it, as if its worker had stopped mid-send. "together": the send ends
    only when `TOGETHER` such sends have begun, so their outcomes are recorded at the same moment.
    """

    kind = "crashy"
    display_name = "Crashy"
    capabilities = Capabilities(reply_window=timedelta(hours=48), max_replies_in_window=5)
    settings_model = CrashySettings
    sent: ClassVar[list[str]] = []
    attempted: ClassVar[list[str]] = []
    released: ClassVar[threading.Event] = threading.Event()
    together: ClassVar[threading.Barrier] = threading.Barrier(1)

    def parts_needed(self, outbound):
        if "crash" in outbound.text:
            raise ValueError("cannot count the parts")
        return 1

    async def send(self, outbound, context):
        self.attempted.append(outbound.text)
        first_attempt = self.attempted.count(outbound.text) == 1
        if "defer" in outbound.text:
            raise DeferredSendError("reached the daily quota")
        if "flaky" in outbound.text and first_attempt:
            raise TransientSendError("the channel is busy", retry_after=0.1)
        if "together" in outbound.text:
            await asyncio.to_thread(self.together.wait, 10)
        if "stall" in outbound.text and first_attempt:
            await asyncio.to_thread(self.released.wait)
            return SendResult(channel_message_ids=("late",))
        self.sent.append(outbound.text)
        return SendResult(channel_message_ids=(f"sent-{len(self.sent)}",))


@pytest.fixture
def max_attempts() -> int:
    return 2


@pytest.fixture
def worker_threads(settings: Settings) -> int:
    return settings.worker_threads


@pytest.fixture
def hub_client(
    settings: Settings, demo: dict[str, Any], max_attempts: int, worker_threads: int
) -> Iterator[TestClient]:
    """`max_attempts` delivery attempts at most; the sweeper looks for abandoned deliveries every 0.2 s.

    A stalled send is released before the hub stops: its worker waits for the jobs it runs."""
    fast = settings.model_copy(
        update={
            "outbound_max_attempts": max_attempts,
            "sweep_interval_seconds": 0.2,
            "stuck_after_seconds": 0.3,
            "worker_threads": worker_threads,
        }
    )
    CrashyConnector.released.clear()
    with TestClient(app=create_app(fast), base_url="http://testserver.local") as client:
        try:
            yield client
        finally:
            CrashyConnector.released.set()


@pytest.fixture
def conversation(hub_client: TestClient, demo: dict[str, Any]) -> dict[str, Any]:
    CrashyConnector.sent, CrashyConnector.attempted = [], []
    hub_client.app.state.hub.registry.register(CrashyConnector)
    api = bearer(demo["api_token"])
    inbox = hub_client.post(
        "/api/v1/inboxes", headers=api, json={"kind": "crashy", "name": "Crashy", "settings": {}}
    ).json()
    delivered = hub_client.post(
        f"/webhooks/crashy/{inbox['id']}",
        headers={"x-signature": "good"},
        content=json.dumps({"id": "in-1", "text": "hello"}),
    )
    assert delivered.status_code == 200
    return wait_for(lambda: hub_client.get("/api/v1/conversations", headers=api).json()["items"])[0]


def _reply(
    client: TestClient, demo: dict[str, Any], conversation: dict[str, Any], text: str
) -> dict[str, Any]:
    answer = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        headers=bearer(demo["api_token"]),
        json={"text": text},
    )
    assert answer.status_code == 201
    return answer.json()


def _message(
    client: TestClient, demo: dict[str, Any], conversation: dict[str, Any], message_id: str
) -> dict[str, Any]:
    items = client.get(
        f"/api/v1/conversations/{conversation['id']}/messages", headers=bearer(demo["api_token"])
    ).json()
    return next(item for item in items["items"] if item["id"] == message_id)


TOGETHER = 4
"""Sends that end at once; the worker runs as many jobs at once (`worker_threads`), so the first outcome is
recorded alone and the others wait for it together."""


@pytest.mark.parametrize("worker_threads", [TOGETHER])
def test_replies_whose_sends_end_together_are_recorded_in_one_batch_without_splitting_it(
    hub_client: TestClient,
    demo: dict[str, Any],
    conversation: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each reply goes to a conversation of its own (one conversation's replies go out in order), and each send ends
    only when all have begun, so their outcomes reach the batcher together."""
    api = bearer(demo["api_token"])
    CrashyConnector.together = threading.Barrier(TOGETHER)
    caplog.set_level(logging.WARNING, logger="omnihub.batching")
    for number in range(1, TOGETHER):
        delivered = hub_client.post(
            f"/webhooks/crashy/{conversation['inbox_id']}",
            headers={"x-signature": "good"},
            content=json.dumps({"id": f"in-{number + 1}", "text": "hello", "from": f"+1415555020{number}"}),
        )
        assert delivered.status_code == 200
    conversations = wait_for(
        lambda: (
            (found := hub_client.get("/api/v1/conversations", headers=api).json()["items"])
            and len(found) == TOGETHER
            and found
        )
    )
    replies = [
        (talk, _reply(hub_client, demo, talk, f"together {number}"))
        for number, talk in enumerate(conversations)
    ]
    for talk, reply in replies:
        wait_for(
            lambda talk=talk, reply=reply: _message(hub_client, demo, talk, reply["id"])["status"] == "sent"
        )
    assert sorted(CrashyConnector.sent) == sorted(reply["text"] for _, reply in replies)
    assert [record.getMessage() for record in caplog.records if "halves" in record.getMessage()] == []


def test_a_delivery_that_crashes_in_the_hub_is_retried_then_fails_and_the_next_reply_goes_out(
    hub_client: TestClient, demo: dict[str, Any], conversation: dict[str, Any]
) -> None:
    crashing = _reply(hub_client, demo, conversation, "crash me")
    fine = _reply(hub_client, demo, conversation, "all fine")
    wait_for(lambda: _message(hub_client, demo, conversation, fine["id"])["status"] == "sent")
    failed = wait_for(
        lambda: (
            (message := _message(hub_client, demo, conversation, crashing["id"]))["status"] == "failed"
            and message
        ),
        timeout=15,
    )
    assert failed["error"] == "Delivery failed unexpectedly (ValueError) (gave up after 2 attempts)"
    assert CrashyConnector.sent == ["all fine"]


def test_a_delivery_whose_worker_stopped_mid_attempt_is_tried_again_until_out_of_attempts(
    hub_client: TestClient, demo: dict[str, Any], conversation: dict[str, Any], settings: Settings
) -> None:
    """A worker that dies mid-send leaves its message `sending`. The sweeper counts that unfinished attempt:
    with attempts left the message is delivered again; without, it fails with the reason and is not sent."""
    with_attempts_left = _reply(hub_client, demo, conversation, "first")
    out_of_attempts = _reply(hub_client, demo, conversation, "second")
    wait_for(lambda: len(CrashyConnector.sent) == 2)
    CrashyConnector.sent = []

    async def stopped_mid_attempt(hub):
        long_ago = hub.now() - timedelta(hours=1)
        async with hub.database.session() as session:
            for message_id, attempts in ((with_attempts_left["id"], 0), (out_of_attempts["id"], 1)):
                await session.execute(
                    update(Message)
                    .where(Message.id == message_id)
                    .values(status="sending", attempts=attempts, updated_at=long_ago)
                )
            await session.commit()

    run(stopped_mid_attempt, settings)
    failed = wait_for(
        lambda: (
            (message := _message(hub_client, demo, conversation, out_of_attempts["id"]))["status"] == "failed"
            and message
        )
    )
    assert failed["error"] == "The delivery did not finish (its worker stopped); gave up after 2 attempts"
    wait_for(lambda: _message(hub_client, demo, conversation, with_attempts_left["id"])["status"] == "sent")
    assert CrashyConnector.sent == ["first"]


@pytest.mark.parametrize("max_attempts", [1])
def test_a_deferred_send_waits_pending_with_the_channels_reason(
    hub_client: TestClient, demo: dict[str, Any], conversation: dict[str, Any]
) -> None:
    """A channel's quota refusal is no failed attempt: even with one attempt allowed, the reply waits."""
    deferred = _reply(hub_client, demo, conversation, "defer me")
    waiting = wait_for(
        lambda: (message := _message(hub_client, demo, conversation, deferred["id"]))["error"] and message
    )
    assert (waiting["status"], waiting["error"]) == ("pending", "reached the daily quota")
    fine = _reply(hub_client, demo, conversation, "all fine")
    wait_for(lambda: _message(hub_client, demo, conversation, fine["id"])["status"] == "sent")
    assert _message(hub_client, demo, conversation, deferred["id"])["status"] == "pending"
    assert CrashyConnector.sent == ["all fine"]


def test_a_transient_failure_is_retried_and_the_reply_sent(
    hub_client: TestClient, demo: dict[str, Any], conversation: dict[str, Any]
) -> None:
    flaky = _reply(hub_client, demo, conversation, "flaky")
    sent = wait_for(
        lambda: (
            (message := _message(hub_client, demo, conversation, flaky["id"]))["status"] == "sent" and message
        )
    )
    assert sent["error"] is None
    assert CrashyConnector.attempted == ["flaky", "flaky"]
    assert CrashyConnector.sent == ["flaky"]


def test_a_reply_left_sending_is_delivered_after_the_sweeper_runs(
    hub_client: TestClient, demo: dict[str, Any], conversation: dict[str, Any]
) -> None:
    """The crash recovery the README promises: a delivery that never finishes leaves its reply `sending`; once
    that is older than `stuck_after_seconds`, the sweeper hands it to a worker again, which sends it."""
    stalled = _reply(hub_client, demo, conversation, "stall")
    wait_for(lambda: _message(hub_client, demo, conversation, stalled["id"])["status"] == "sent")
    assert CrashyConnector.attempted == ["stall", "stall"]
    assert CrashyConnector.sent == ["stall"]
