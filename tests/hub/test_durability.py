"""Nothing accepted is lost, nothing delivered twice is stored twice."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from litestar.testing import TestClient
from sqlmodel import select

from hub import actors, inbound
from hub.app import create_app
from hub.models import InboundEvent, Message
from tests.conftest import bearer, inbox_of, run, wait_for


def _conversation_messages(client, demo):
    api = bearer(demo["api_token"])
    conversations = client.get("/api/v1/conversations", headers=api).json()["items"]
    return [
        message
        for conversation in conversations
        for message in client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=api).json()[
            "items"
        ]
    ]


def test_concurrent_duplicate_deliveries_store_one_message(client, demo):
    widget = inbox_of(demo, "webchat")["widget_token"]
    token = client.post(f"/widget/{widget}/messages", json={"text": "first", "client_id": "f"}).json()[
        "visitor_token"
    ]

    def post(_):
        return client.post(
            f"/widget/{widget}/messages", json={"text": "again", "client_id": "same"}, headers=bearer(token)
        ).json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(post, range(8)))
    assert len({answer["id"] for answer in answers}) == 1
    assert sum(not answer["duplicate"] for answer in answers) == 1
    wait_for(lambda: len(_conversation_messages(client, demo)) == 2)
    assert sorted(m["text"] for m in _conversation_messages(client, demo)) == ["again", "first"]


def test_an_event_processed_twice_at_once_stores_one_message(settings, demo):
    """A redelivered job racing its first run (at-least-once brokers do this) must not duplicate."""
    with TestClient(app=create_app(settings.model_copy(update={"embedded_worker": False}))) as client:
        widget = inbox_of(demo, "webchat")["widget_token"]
        client.post(f"/widget/{widget}/messages", json={"text": "race", "client_id": "r"})

    async def process_twice(hub):
        async with hub.database.session() as session:
            [event] = (await session.exec(select(InboundEvent))).all()
        await asyncio.gather(inbound.process(hub, event.id), inbound.process(hub, event.id))
        await inbound.process(hub, event.id)
        async with hub.database.session() as session:
            messages = (await session.exec(select(Message))).all()
            event = await session.get(InboundEvent, event.id)
        return messages, event

    messages, event = run(process_twice, settings)
    assert [message.text for message in messages] == ["race"]
    assert event.status == "processed"


def _lose_first(monkeypatch, hub, job):
    """The first job sent to the actor `job` vanishes, as if the process died right after its commit."""
    original = hub.jobs.send
    lost = []

    async def send(actor, *args, **options):
        if actor is job and not lost:
            lost.append(args)
            return None
        return await original(actor, *args, **options)

    monkeypatch.setattr(hub.jobs, "send", send)
    return lost


@pytest.fixture
def sweeping_client(settings, demo):
    fast = settings.model_copy(update={"sweep_interval_seconds": 0.2, "stuck_after_seconds": 0.3})
    with TestClient(app=create_app(fast), base_url="http://testserver.local") as client:
        yield client


def test_sweeper_recovers_an_event_whose_job_was_lost(sweeping_client, demo, monkeypatch):
    client = sweeping_client
    lost = _lose_first(monkeypatch, client.app.state.hub, actors.process_inbound)
    widget = inbox_of(demo, "webchat")["widget_token"]
    answer = client.post(f"/widget/{widget}/messages", json={"text": "do not lose me", "client_id": "x"})
    assert answer.status_code == 201
    assert wait_for(lambda: lost), "the job was not lost, so this test proves nothing"
    [message] = wait_for(lambda: _conversation_messages(client, demo))
    assert message["text"] == "do not lose me"
    assert message["id"] == answer.json()["id"]


def test_broker_outage_still_acknowledges_and_sweeper_delivers(sweeping_client, demo, monkeypatch):
    client = sweeping_client
    hub = client.app.state.hub
    original = hub.jobs.send
    failures = []

    async def broken_once(actor, *args, **options):
        if not failures:
            failures.append(actor)
            raise ConnectionError("broker down")
        return await original(actor, *args, **options)

    monkeypatch.setattr(hub.jobs, "send", broken_once)
    widget = inbox_of(demo, "webchat")["widget_token"]
    answer = client.post(f"/widget/{widget}/messages", json={"text": "outage", "client_id": "o"})
    assert answer.status_code == 201
    assert wait_for(lambda: failures) == [actors.process_inbound]
    wait_for(lambda: [m for m in _conversation_messages(client, demo) if m["text"] == "outage"])


def test_sweeper_delivers_a_reply_whose_job_was_lost(sweeping_client, demo, monkeypatch):
    client = sweeping_client
    widget = inbox_of(demo, "webchat")["widget_token"]
    client.post(f"/widget/{widget}/messages", json={"text": "hi", "client_id": "h"})
    [incoming] = wait_for(lambda: _conversation_messages(client, demo))
    lost = _lose_first(monkeypatch, client.app.state.hub, actors.deliver_outbound)
    reply = client.post(
        f"/api/v1/conversations/{incoming['conversation_id']}/messages",
        headers=bearer(demo["api_token"]),
        json={"text": "answer"},
    )
    assert reply.json()["status"] == "pending"
    assert wait_for(lambda: lost), "the job was not lost, so this test proves nothing"
    wait_for(
        lambda: [
            m
            for m in _conversation_messages(client, demo)
            if m["text"] == "answer" and m["status"] == "delivered"
        ]
    )


def test_an_embedded_restart_recovers_at_once_the_jobs_its_in_memory_queue_lost(settings, demo):
    """Embedded, the queue lives in the process: the jobs it held when the process stopped are gone. The next
    process's first sweep sends them again, though they are not yet `stuck_after_seconds` overdue and the next
    sweep is an hour away (the test settings' interval)."""
    stopped = settings.model_copy(update={"embedded_worker": False})
    with TestClient(app=create_app(stopped), base_url="http://testserver.local") as first:
        widget = inbox_of(demo, "webchat")["widget_token"]
        answer = first.post(
            f"/widget/{widget}/messages", json={"text": "queued when it stopped", "client_id": "q"}
        )
        assert answer.status_code == 201
        assert _conversation_messages(first, demo) == [], (
            "a worker processed it, so nothing was lost to recover"
        )
    assert settings.stuck_after_seconds >= 60 and settings.sweep_interval_seconds >= 3600
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as second:
        [message] = wait_for(lambda: _conversation_messages(second, demo))
    assert message["id"] == answer.json()["id"]
