"""One bad inbound event never holds the others, on SQLite and on PostgreSQL.

A grouped accept the database refuses fails only the request that brought the bad row. A grouped
processing transaction that fails stores every other event of the batch; the bad one is retried
with backoff, then parked as dead, where admins see it (and only they, only in their workspace),
retry it after a fix or discard it, and /metrics counts it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from litestar.testing import TestClient
from pydantic import BaseModel
from sqlmodel import select

from connectors import MalformedPayload, SignatureInvalid, WebhookConnector
from connectors.webchat import WEBCHAT_VISITOR
from hub import inbound
from hub.app import create_app
from hub.crypto import hash_api_token, hash_password, new_api_token
from hub.demo import ensure_demo
from hub.ids import new_id
from hub.inbound import UnstorableMessage
from hub.models import Agent, ApiToken, InboundEvent, Inbox, Message, Workspace
from hub.settings import Settings
from hub.sweeper import sweep
from normalizer import IdentityKind, IdentityRef, InboundMessage, dedupe_key
from tests.conftest import bearer, run, wait_for

POISON = "poison"


class FlakySettings(BaseModel):
    pass


class FlakyConnector(WebhookConnector):
    """A signed JSON channel whose enrichment step raises on messages saying "poison" while `broken`."""

    kind = "flaky"
    display_name = "Flaky"
    settings_model = FlakySettings
    broken: ClassVar[bool] = True

    def verify(self, raw):
        if raw.header("x-signature") != "good":
            raise SignatureInvalid("bad signature")

    def parse(self, raw):
        try:
            body = json.loads(raw.body)
            return [
                InboundMessage(
                    channel_message_id=body["id"],
                    sender=IdentityRef(IdentityKind.PHONE, body["from"]),
                    sent_at=raw.received_at,
                    text=body["text"],
                )
            ]
        except (ValueError, KeyError) as error:
            raise MalformedPayload(str(error)) from None

    async def enrich(self, message, context):
        if self.broken and POISON in message.text:
            raise RuntimeError("the enrichment service is down")
        return message

    async def send(self, outbound, context):
        raise NotImplementedError


ON_POSTGRESQL = pytest.mark.production


def on_database(request: pytest.FixtureRequest, settings: Settings, database: str) -> Settings:
    """The test's settings on its fresh SQLite file, or on a fresh PostgreSQL database."""
    if database == "sqlite":
        return settings
    url = request.getfixturevalue("migrated_postgres_url")
    return settings.model_copy(update={"database_url": url})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=ON_POSTGRESQL)])
def database_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    return on_database(request, settings, request.param)


@pytest.fixture(autouse=True)
def flaky_is_broken() -> None:
    FlakyConnector.broken = True


def deliver(
    client: TestClient, inbox: dict[str, Any], text: str, message_id: str, sender: str = "+14155550100"
):
    return client.post(
        f"/webhooks/flaky/{inbox['id']}",
        headers={"x-signature": "good"},
        content=json.dumps({"id": message_id, "from": sender, "text": text}),
    )


def connect_flaky(client: TestClient, demo: dict[str, Any]) -> dict[str, Any]:
    client.app.state.hub.registry.register(FlakyConnector)
    created = client.post(
        "/api/v1/inboxes",
        headers=bearer(demo["api_token"]),
        json={"kind": "flaky", "name": "Flaky SMS", "settings": {}},
    )
    assert created.status_code == 201, created.text
    return created.json()


def stored_texts(client: TestClient, demo: dict[str, Any]) -> list[str]:
    api = bearer(demo["api_token"])
    return sorted(
        message["text"]
        for conversation in client.get("/api/v1/conversations", headers=api, params={"limit": 100}).json()[
            "items"
        ]
        for message in client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=api).json()[
            "items"
        ]
    )


def listed(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/inbound-events", headers=bearer(token), params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def metric(client: TestClient, name: str, channel: str) -> float:
    found = re.search(rf'^{name}{{channel="{channel}"}} (\S+)$', client.get("/metrics").text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


# --- the grouped accept (request path) ---


@pytest.mark.parametrize(
    ("database", "culprit"),
    [
        ("sqlite", "an inbox deleted meanwhile"),
        pytest.param("postgresql", "an inbox deleted meanwhile", marks=ON_POSTGRESQL),
        pytest.param("postgresql", "a NUL in the channel's id", marks=ON_POSTGRESQL),
    ],
)
def test_a_request_whose_rows_the_database_refuses_fails_alone_and_its_group_is_stored(
    database: str, culprit: str, settings: Settings, request: pytest.FixtureRequest
) -> None:
    """Concurrent accepts share one INSERT; the database refuses one request's row (a foreign key to an inbox
    that is gone, or on PostgreSQL a NUL byte); that request alone gets UnstorableMessage (422)."""
    settings = on_database(request, settings, database).model_copy(update={"embedded_worker": False})
    run(ensure_demo, settings)
    sent_at = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

    def message(channel_message_id: str) -> InboundMessage:
        return InboundMessage(
            channel_message_id=channel_message_id,
            sender=IdentityRef(IdentityKind.PHONE, "+8613800138000"),
            sent_at=sent_at,
            text=f"text of {channel_message_id}",
        )

    async def accept_together(hub):
        async with hub.database.session() as session:
            inbox = (await session.exec(select(Inbox).where(Inbox.kind == "webchat"))).one()
        culprit_inbox, culprit_message = inbox, message("bad\x00id")
        if culprit.startswith("an inbox"):
            culprit_inbox = Inbox(
                id=new_id(),
                workspace_id=inbox.workspace_id,
                kind=inbox.kind,
                name="Gone",
                public_token=new_id(),
            )
            culprit_message = message("orphan")
        outcomes = await asyncio.gather(
            inbound.accept(hub, inbox, [message("a")], "raw a"),
            inbound.accept(hub, inbox, [message("b"), message("c")], "raw b"),
            inbound.accept(hub, culprit_inbox, [culprit_message], "raw culprit"),
            inbound.accept(hub, inbox, [message("d")], "raw d"),
            return_exceptions=True,
        )
        async with hub.database.session() as session:
            stored = (await session.exec(select(InboundEvent.dedupe_key))).all()
        return inbox, outcomes, stored

    inbox, outcomes, stored = run(accept_together, settings)
    assert isinstance(outcomes[2], UnstorableMessage)
    assert (outcomes[2].status_code, outcomes[2].code) == (422, "unstorable_message")
    assert [len(outcome) for outcome in outcomes[:2] + outcomes[3:]] == [1, 2, 1]
    assert sorted(stored) == sorted(dedupe_key(inbox.id, key) for key in "abcd")


@pytest.mark.production
def test_a_channel_delivery_the_database_refuses_answers_422_and_stores_nothing(
    migrated_postgres_url: str, settings: Settings
) -> None:
    settings = settings.model_copy(update={"database_url": migrated_postgres_url})
    demo = run(ensure_demo, settings)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        inbox = connect_flaky(client, demo)
        refused = deliver(client, inbox, "hello", "m\x00")
        assert refused.status_code == 422
        assert refused.json()["code"] == "unstorable_message" and "NUL" in refused.json()["detail"]
        assert deliver(client, inbox, "hello", "m1").status_code == 200
        wait_for(lambda: stored_texts(client, demo) == ["hello"])
        assert listed(client, demo["api_token"], status="pending") == []


# --- the grouped processing transaction (worker) ---


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def _poison_beside(hub, culprit: str, good: int) -> tuple[list[str], str]:
    """`good` pending events of new senders on the web chat inbox and, in their middle, one whose storing fails."""
    async with hub.database.session() as session:
        inbox = (await session.exec(select(Inbox).where(Inbox.kind == "webchat"))).one()
    messages = [
        InboundMessage(
            channel_message_id=f"good-{number}",
            sender=IdentityRef(WEBCHAT_VISITOR, f"v{number}"),
            sent_at=hub.now(),
            text=f"good {number}",
        )
        for number in range(good)
    ]
    accepted = await inbound.accept(hub, inbox, messages, "{}")
    good_ids = [event.event_id for event in accepted]
    await inbound.process(hub, good_ids[0])
    async with hub.database.session() as session:
        first = await session.get(InboundEvent, good_ids[0])
        poison = InboundMessage(
            channel_message_id="poison",
            sender=IdentityRef(WEBCHAT_VISITOR, "mallory"),
            sent_at=hub.now(),
            text="poison",
            sender_name="Mallory",
        )
        message_id = new_id()
        if culprit == "a NUL in the sender's name":
            poison = replace(poison, sender_name="Mal\x00lory")
        else:
            message_id = first.message_id
        event = InboundEvent(
            workspace_id=inbox.workspace_id,
            inbox_id=inbox.id,
            dedupe_key=dedupe_key(inbox.id, "poison"),
            message_id=message_id,
            message=poison.to_json().decode(),
            raw='{"text": "poison"}',
            received_at=hub.now(),
        )
        session.add(event)
        await session.commit()
    return good_ids[1:], event.id


@pytest.mark.parametrize(
    ("database", "culprit"),
    [
        ("sqlite", "a message id stored already"),
        pytest.param("postgresql", "a message id stored already", marks=ON_POSTGRESQL),
        pytest.param("postgresql", "a NUL in the sender's name", marks=ON_POSTGRESQL),
    ],
)
def test_a_batch_stores_every_event_but_the_bad_one_which_is_retried_with_backoff_then_dead(
    database: str, culprit: str, settings: Settings, request: pytest.FixtureRequest
) -> None:
    """The bad event's storing fails (a message id stored already, as when events are replayed from a backup;
    or, on PostgreSQL, a NUL in the customer's name): the others of its batch are stored by the first
    attempt; the bad one waits 30 s, 60 s, 120 s, 240 s (each stretched by up to half at random) after its
    first four attempts (the sweeper leaves it alone until that retry is overdue), then is dead after the
    fifth and never enqueued again."""
    settings = on_database(request, settings, database).model_copy(update={"embedded_worker": False})
    run(ensure_demo, settings)
    clock = Clock()

    async def scenario(hub):
        hub.now = clock
        good_ids, poison_id = await _poison_beside(hub, culprit, good=7)
        await inbound.process(hub, *good_ids[:3], poison_id, *good_ids[3:])
        async with hub.database.session() as session:
            good = (await session.exec(select(InboundEvent).where(InboundEvent.id.in_(good_ids)))).all()
            texts = (await session.exec(select(Message.text))).all()
        attempts = []
        while True:
            attempted_at = clock.now
            async with hub.database.session() as session:
                poison = await session.get(InboundEvent, poison_id)
            if poison.status == "dead":
                break
            assert len(attempts) < settings.inbound_max_attempts, "the event is never parked dead"
            waited = (poison.next_attempt_at - attempted_at).total_seconds()
            clock.now = poison.next_attempt_at + timedelta(seconds=settings.stuck_after_seconds - 1)
            before_overdue = (await sweep(hub))["inbound"]
            clock.now += timedelta(seconds=2)
            overdue = (await sweep(hub))["inbound"]
            attempts.append((poison.status, poison.attempts, waited, before_overdue, overdue))
            await inbound.process(hub, poison_id)
        clock.now += timedelta(days=1)
        return good, texts, attempts, poison, (await sweep(hub))["inbound"]

    good, texts, attempts, dead, swept_after_death = run(scenario, settings)
    assert [event.status for event in good] == ["processed"] * 6 and {event.attempts for event in good} == {1}
    assert sorted(texts) == [f"good {number}" for number in range(7)]
    assert [(status, tried, before, after) for status, tried, _, before, after in attempts] == [
        ("pending", 1, 0, 1),
        ("pending", 2, 0, 1),
        ("pending", 3, 0, 1),
        ("pending", 4, 0, 1),
    ]
    for (_, _, waited, _, _), backoff in zip(attempts, (30.0, 60.0, 120.0, 240.0), strict=True):
        assert backoff <= waited < backoff * 1.5, (waited, backoff)
    assert (dead.status, dead.attempts, dead.next_attempt_at) == ("dead", 5, None)
    assert swept_after_death == 0
    expected = "duplicate key value|UNIQUE constraint failed" if culprit.startswith("a message") else "0x00"
    assert dead.error.startswith("storing the message failed: ") and re.search(expected, dead.error), (
        dead.error
    )
    assert "Mal" not in dead.error, "the reason quotes no value"


# --- dead events through the API, end to end with the embedded worker ---


@pytest.fixture
def fast_retries(database_settings: Settings) -> Settings:
    return database_settings.model_copy(update={"inbound_retry_seconds": 0.1, "inbound_max_attempts": 3})


@pytest.fixture
def hub_client(fast_retries: Settings) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    """The embedded hub (its worker retrying failed events after 0.1 s, then 0.2 s, dead after 3 attempts)."""
    demo = run(ensure_demo, fast_retries)
    with TestClient(app=create_app(fast_retries), base_url="http://testserver.local") as client:
        yield client, demo


def _dead(
    client: TestClient, demo: dict[str, Any], inbox: dict[str, Any], text: str, message_id: str, sender: str
) -> dict[str, Any]:
    """Deliver a poisoned message and wait until it is listed as dead."""
    assert deliver(client, inbox, text, message_id, sender).status_code == 200
    return wait_for(
        lambda: next(
            (
                event
                for event in listed(client, demo["api_token"])
                if json.loads(event["raw"])["id"] == message_id
            ),
            None,
        )
    )


def test_a_poisoned_delivery_is_parked_dead_listed_counted_and_stored_after_a_fixed_retry(
    hub_client: TestClient,
) -> None:
    client, demo = hub_client
    inbox = connect_flaky(client, demo)
    parked_before = metric(client, "omnihub_inbound_dead_events_total", "flaky")
    for number in range(2):
        assert (
            deliver(client, inbox, f"hello {number}", f"g{number}", sender=f"+1415555010{number}").status_code
            == 200
        )
    dead = _dead(client, demo, inbox, "poison pill", "p1", "+14155550199")
    wait_for(lambda: stored_texts(client, demo) == ["hello 0", "hello 1"])
    assert dead["status"] == "dead" and dead["attempts"] == 3 and dead["channel"] == "flaky"
    assert dead["inbox_id"] == inbox["id"] and dead["next_attempt_at"] is None
    assert dead["error"] == "the Flaky connector could not enrich the message: RuntimeError"
    assert json.loads(dead["raw"]) == {"id": "p1", "from": "+14155550199", "text": "poison pill"}
    assert metric(client, "omnihub_inbound_dead_events_total", "flaky") == parked_before + 1
    assert metric(client, "omnihub_inbound_dead_events_waiting", "flaky") == 1

    FlakyConnector.broken = False
    retried = client.post(f"/api/v1/inbound-events/{dead['id']}/retry", headers=bearer(demo["api_token"]))
    assert retried.status_code == 200, retried.text
    assert {key: retried.json()[key] for key in ("status", "attempts", "error")} == {
        "status": "pending",
        "attempts": 0,
        "error": None,
    }
    wait_for(lambda: stored_texts(client, demo) == ["hello 0", "hello 1", "poison pill"])
    processed = client.get(f"/api/v1/inbound-events/{dead['id']}", headers=bearer(demo["api_token"])).json()
    assert processed["status"] == "processed" and processed["attempts"] == 1
    assert [
        message["id"]
        for message in client.get(
            f"/api/v1/conversations/{_conversation_of(client, demo, '+14155550199')}/messages",
            headers=bearer(demo["api_token"]),
        ).json()["items"]
    ] == [dead["message_id"]]
    assert listed(client, demo["api_token"]) == []
    assert metric(client, "omnihub_inbound_dead_events_waiting", "flaky") == 0
    again = client.post(f"/api/v1/inbound-events/{dead['id']}/retry", headers=bearer(demo["api_token"]))
    assert again.status_code == 409 and again.json()["code"] == "inbound_event_not_dead"


def _conversation_of(client: TestClient, demo: dict[str, Any], phone: str) -> str:
    api = bearer(demo["api_token"])
    for conversation in client.get("/api/v1/conversations", headers=api).json()["items"]:
        if (
            client.get(f"/api/v1/conversations/{conversation['id']}", headers=api).json()["identity"]["value"]
            == phone
        ):
            return conversation["id"]
    raise AssertionError(f"no conversation with {phone}")


def test_a_discarded_event_is_kept_for_audit_and_out_of_the_dead_list(hub_client: TestClient) -> None:
    client, demo = hub_client
    api = bearer(demo["api_token"])
    inbox = connect_flaky(client, demo)
    dead = _dead(client, demo, inbox, "poison one", "p1", "+14155550101")
    discarded = client.post(f"/api/v1/inbound-events/{dead['id']}/discard", headers=api)
    assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"
    assert discarded.json()["error"] == dead["error"]
    assert listed(client, demo["api_token"]) == []
    assert [event["id"] for event in listed(client, demo["api_token"], status="discarded")] == [dead["id"]]
    assert metric(client, "omnihub_inbound_dead_events_waiting", "flaky") == 0
    for action in ("retry", "discard"):
        refused = client.post(f"/api/v1/inbound-events/{dead['id']}/{action}", headers=api)
        assert refused.status_code == 409 and refused.json()["code"] == "inbound_event_not_dead"
    FlakyConnector.broken = False
    assert "poison one" not in stored_texts(client, demo)


def test_dead_events_are_paged_newest_first(hub_client: TestClient) -> None:
    client, demo = hub_client
    inbox = connect_flaky(client, demo)
    older = _dead(client, demo, inbox, "poison one", "p1", "+14155550101")
    newer = _dead(client, demo, inbox, "poison two", "p2", "+14155550102")
    first = client.get(
        "/api/v1/inbound-events", headers=bearer(demo["api_token"]), params={"limit": 1}
    ).json()
    second = client.get(
        "/api/v1/inbound-events",
        headers=bearer(demo["api_token"]),
        params={"limit": 1, "cursor": first["next_cursor"]},
    ).json()
    assert [event["id"] for event in first["items"] + second["items"]] == [newer["id"], older["id"]]
    assert second["next_cursor"] is None
    for params in ({"cursor": "garbage\x00"}, {"status": "processed"}, {"limit": 1000}):
        answer = client.get("/api/v1/inbound-events", headers=bearer(demo["api_token"]), params=params)
        assert answer.status_code == 400 and answer.json()["status_code"] == 400, params


async def _tokens_for_others(hub, workspace_id: str) -> dict[str, str]:
    """A plain agent and an agentless integration token in the demo workspace, and an admin of a rival one."""
    tokens = {name: new_api_token() for name in ("agent", "integration", "rival admin")}
    async with hub.database.session() as session:
        rival = Workspace(name="Rival")
        session.add(rival)
        await session.flush()
        agent = Agent(
            workspace_id=workspace_id,
            email="agent@example.com",
            name="Agent",
            role="agent",
            password_hash=hash_password("x" * 12),
        )
        rival_admin = Agent(
            workspace_id=rival.id,
            email="boss@rival.example",
            name="Boss",
            role="admin",
            password_hash=hash_password("x" * 12),
        )
        session.add_all([agent, rival_admin])
        await session.flush()
        for name, workspace, agent_id in (
            ("agent", workspace_id, agent.id),
            ("integration", workspace_id, None),
            ("rival admin", rival.id, rival_admin.id),
        ):
            session.add(
                ApiToken(
                    workspace_id=workspace,
                    agent_id=agent_id,
                    name=name,
                    token_hash=hash_api_token(tokens[name]),
                )
            )
        await session.commit()
    return tokens


def test_only_admins_of_its_workspace_see_retry_or_discard_a_dead_event(
    hub_client: TestClient, fast_retries: Settings
) -> None:
    client, demo = hub_client
    inbox = connect_flaky(client, demo)
    dead = _dead(client, demo, inbox, "poison one", "p1", "+14155550101")
    tokens = run(lambda hub: _tokens_for_others(hub, demo["workspace_id"]), fast_retries)
    paths = [
        ("GET", "/api/v1/inbound-events"),
        ("GET", f"/api/v1/inbound-events/{dead['id']}"),
        ("POST", f"/api/v1/inbound-events/{dead['id']}/retry"),
        ("POST", f"/api/v1/inbound-events/{dead['id']}/discard"),
    ]
    for name in ("agent", "integration"):
        for method, path in paths:
            answer = client.request(method, path, headers=bearer(tokens[name]))
            assert answer.status_code == 403 and answer.json()["code"] == "admin_only", (name, path)
    for method, path in paths[1:]:
        answer = client.request(method, path, headers=bearer(tokens["rival admin"]))
        assert answer.status_code == 404 and answer.json()["code"] == "inbound_event_not_found", path
    assert listed(client, tokens["rival admin"]) == []
    for method, path in paths:
        assert client.request(method, path).status_code == 401
    for unknown in (new_id(), "not-an-id", "nul%00"):
        answer = client.post(f"/api/v1/inbound-events/{unknown}/retry", headers=bearer(demo["api_token"]))
        assert answer.status_code == 404, unknown
    assert listed(client, demo["api_token"])[0]["status"] == "dead"
