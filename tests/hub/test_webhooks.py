"""Outgoing webhooks end to end: subscriptions through the API, the outbox's events POSTed by the worker to a real
receiver on loopback that checks the Standard Webhooks signature as a CRM would, retries with the same
`webhook-id`, replays, secret rotation, auto-disable, and the egress policy at subscription and delivery time."""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import event
from sqlmodel import select

from hub import webhooks
from hub.app import create_app
from hub.demo import ensure_demo
from hub.models import AuditEntry, OutboxEvent, WebhookDelivery, WebhookSubscription
from hub.settings import Settings
from tests.conftest import assert_error_shape, bearer, inbox_of, migrated_postgres_settings, run, wait_for
from tests.hub.test_bot_conversations import Visitor
from tests.hub.test_egress_client import KeepAliveServer
from tests.hub.test_knowledge_base_api import other_token  # noqa: F401
from tests.hub.webhook_receiver import Receiver, standard_webhooks_valid
from tests.hub.workspaces import other_admin_token  # noqa: F401

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
EVENTS = ["conversation.created", "message.created"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def hooked_settings(settings: Settings) -> Settings:
    """The receiver's loopback network opened, as an operator would for an on-premises CRM; retries quick."""
    return settings.model_copy(
        update={
            "allowed_private_networks": (LOOPBACK,),
            "webhook_retry_seconds": 0.05,
            "webhook_dispatch_interval_seconds": 0.05,
        }
    )


@pytest.fixture
def hooked(hooked_settings: Settings, demo: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(app=create_app(hooked_settings), base_url="http://testserver.local") as test_client:
        yield test_client


def subscribe(client: TestClient, token: str, url: str, events: list[str] = EVENTS) -> dict[str, Any]:
    answer = client.post("/api/v1/webhooks", json={"url": url, "events": events}, headers=bearer(token))
    assert answer.status_code == 201, answer.text
    return answer.json()


def deliveries(client: TestClient, token: str, subscription_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/webhooks/{subscription_id}/deliveries", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def chat(client: TestClient, demo: dict[str, Any], text: str = "Where is my parcel?") -> dict[str, Any]:
    return Visitor(client, inbox_of(demo, "webchat")["widget_token"]).say(text)


def test_a_subscription_is_created_with_its_secret_shown_once_changed_and_deleted(client, demo, settings):
    token = demo["api_token"]
    created = subscribe(client, token, "https://crm.example.com/hooks/omnihub")
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["events"] == EVENTS and created["enabled"] is True and created["disabled_reason"] is None
    path = f"/api/v1/webhooks/{created['id']}"
    shown = client.get(path, headers=bearer(token)).json()
    assert "secret" not in shown and shown == {
        key: value for key, value in created.items() if key != "secret"
    }
    listed = client.get("/api/v1/webhooks", headers=bearer(token)).json()
    assert listed == {"items": [shown], "next_cursor": None}

    async def stored(hub) -> str:
        async with hub.database.session() as session:
            return (await session.get_one(WebhookSubscription, created["id"])).secret

    assert created["secret"] not in run(stored, settings)

    changed = client.patch(
        path, json={"events": ["message.created"], "enabled": False}, headers=bearer(token)
    )
    assert changed.status_code == 200 and changed.json()["events"] == ["message.created"]
    assert changed.json()["enabled"] is False
    assert client.delete(path, headers=bearer(token)).status_code == 204
    gone = client.get(path, headers=bearer(token))
    assert gone.status_code == 404 and gone.json()["code"] == "webhook_not_found"


def test_subscriptions_are_paged_with_a_cursor(client, demo):
    token = demo["api_token"]
    made = [subscribe(client, token, f"https://crm.example.com/{number}")["id"] for number in range(3)]
    first = client.get("/api/v1/webhooks?limit=2", headers=bearer(token)).json()
    assert [item["id"] for item in first["items"]] == made[:2] and first["next_cursor"]
    rest = client.get(f"/api/v1/webhooks?limit=2&cursor={first['next_cursor']}", headers=bearer(token)).json()
    assert [item["id"] for item in rest["items"]] == made[2:] and rest["next_cursor"] is None
    bad = client.get("/api/v1/webhooks?cursor=nope", headers=bearer(token))
    assert bad.status_code == 400
    assert_error_shape(bad)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"url": "https://crm.example.com/h", "events": ["order.shipped"]}, 422, "events[0]"),
        ({"url": "https://crm.example.com/h", "events": []}, 400, "events"),
        ({"url": "ftp://crm.example.com/h", "events": EVENTS}, 400, "url"),
        ({"url": "https://crm.example.com/a\x00b", "events": EVENTS}, 400, "url"),
        ({"url": "http://127.0.0.1:8080/h", "events": EVENTS}, 422, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data", "events": EVENTS}, 422, "url"),
        ({"url": "http://[::1]/h", "events": EVENTS}, 422, "url"),
        ({"url": "http://10.1.2.3/h", "events": EVENTS}, 422, "url"),
    ],
    ids=[
        "unknown event",
        "no events",
        "not http",
        "control character",
        "loopback",
        "metadata",
        "ipv6 loopback",
        "private",
    ],
)
def test_bad_subscriptions_are_refused_naming_the_field(client, demo, body, status, field):
    answer = client.post("/api/v1/webhooks", json=body, headers=bearer(demo["api_token"]))
    assert answer.status_code == status, answer.text
    assert_error_shape(answer)
    assert field in [error["field"] for error in answer.json()["errors"]]
    assert client.get("/api/v1/webhooks", headers=bearer(demo["api_token"])).json()["items"] == []


def test_events_reach_the_receiver_signed_in_order_once_each(hooked, demo, receiver):
    token = demo["api_token"]
    subscription = subscribe(hooked, token, receiver.url("/crm"))
    sent = chat(hooked, demo)
    received = wait_for(lambda: len(receiver.at("/crm")) >= 2 and receiver.at("/crm"))
    for each in received:
        assert standard_webhooks_valid(subscription["secret"], each.headers, each.body, time.time())
        assert not standard_webhooks_valid("whsec_" + "A" * 44, each.headers, each.body, time.time())
        assert each.headers["webhook-id"] == each.event["id"]
        assert each.headers["content-type"] == "application/json"
    events = sorted((each.event for each in received), key=lambda event: event["sequence"])
    assert [event["type"] for event in events] == ["conversation.created", "message.created"]
    assert [event["sequence"] for event in events] == [1, 2]
    message_event = events[1]
    assert message_event["version"] == 1 and message_event["workspace_id"] == demo["workspace_id"]
    assert message_event["data"]["message"]["id"] == sent["id"]
    assert message_event["data"]["message"]["text"] == "Where is my parcel?"
    assert message_event["data"]["conversation"]["id"] == events[0]["data"]["conversation"]["id"]

    logged = wait_for(
        lambda: (
            (items := deliveries(hooked, token, subscription["id"]))
            and all(item["status"] == "delivered" for item in items)
            and items
        )
    )
    assert sorted(item["event_id"] for item in logged) == sorted(event["id"] for event in events)
    for item in logged:
        assert item["attempts"] == 1 and item["last_status_code"] == 200 and item["next_attempt_at"] is None
        assert item["log"][0]["response"] == '{"ok": true}' and item["log"][0]["duration_ms"] >= 0


def test_a_receiver_answering_500_gets_the_same_event_again_then_a_replay(hooked, demo, receiver):
    token = demo["api_token"]
    receiver.answer("/flaky", 500, 200)
    subscription = subscribe(hooked, token, receiver.url("/flaky"), ["message.created"])
    chat(hooked, demo)
    first, second = wait_for(lambda: len(receiver.at("/flaky")) >= 2 and receiver.at("/flaky"))
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    assert standard_webhooks_valid(subscription["secret"], second.headers, second.body, time.time())
    (delivery,) = wait_for(
        lambda: (
            (items := deliveries(hooked, token, subscription["id"]))
            and items[0]["status"] == "delivered"
            and items
        )
    )
    assert delivery["attempts"] == 2
    assert [attempt["status_code"] for attempt in delivery["log"]] == [500, 200]
    assert "receiver is down" in delivery["log"][0]["response"]

    replay = hooked.post(
        f"/api/v1/webhooks/{subscription['id']}/deliveries/{delivery['id']}/redeliver", headers=bearer(token)
    )
    assert replay.status_code == 202 and replay.json()["status"] == "pending"
    third = wait_for(lambda: len(receiver.at("/flaky")) >= 3 and receiver.at("/flaky")[2])
    assert third.headers["webhook-id"] == first.headers["webhook-id"] and third.body == first.body
    assert wait_for(lambda: deliveries(hooked, token, subscription["id"])[0]["attempts"] == 3)
    assert len(receiver.at("/flaky")) == 3
    one = hooked.get(
        f"/api/v1/webhooks/{subscription['id']}/deliveries/{delivery['id']}", headers=bearer(token)
    )
    assert one.status_code == 200 and one.json() == deliveries(hooked, token, subscription["id"])[0]
    assert [attempt["status_code"] for attempt in one.json()["log"]] == [500, 200, 200]


def test_a_failing_subscriber_is_disabled_with_the_reason_and_holds_no_other(hooked_settings, demo, receiver):
    token = demo["api_token"]
    receiver.answer("/down", 503)
    settings = hooked_settings.model_copy(update={"webhook_give_up_seconds": 0.5})
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        down = subscribe(client, token, receiver.url("/down"), ["message.created"])
        up = subscribe(client, token, receiver.url("/up"), ["message.created"])
        chat(client, demo, "first")
        chat(client, demo, "second")
        assert wait_for(lambda: len(receiver.at("/up")) >= 2)
        disabled = wait_for(
            lambda: (
                (shown := client.get(f"/api/v1/webhooks/{down['id']}", headers=bearer(token)).json())
                and not shown["enabled"]
                and shown
            )
        )
        assert (
            "HTTP 503" in disabled["disabled_reason"] and "PATCH enabled=true" in disabled["disabled_reason"]
        )
        failed = deliveries(client, token, down["id"])
        assert failed and all(item["status"] in ("failed", "pending") for item in failed)
        given_up = [item for item in failed if item["status"] == "failed"]
        assert any(item["log"][-1]["status_code"] == 503 for item in given_up), "the one that gave up"
        assert all(item["next_attempt_at"] is None for item in given_up)
        assert all(
            item["log"][-1]["error"] == "The subscription is disabled"
            for item in given_up
            if item["log"][-1]["status_code"] is None
        ), "a delivery due after the subscription was disabled is not sent"
        assert client.get(f"/api/v1/webhooks/{up['id']}", headers=bearer(token)).json()["enabled"] is True
        assert wait_for(
            lambda: all(item["status"] == "delivered" for item in deliveries(client, token, up["id"]))
        )

        refused = client.post(
            f"/api/v1/webhooks/{down['id']}/deliveries/{failed[0]['id']}/redeliver", headers=bearer(token)
        )
        assert refused.status_code == 409 and refused.json()["code"] == "webhook_disabled"
        again = client.patch(f"/api/v1/webhooks/{down['id']}", json={"enabled": True}, headers=bearer(token))
        assert again.json()["enabled"] is True and again.json()["disabled_reason"] is None

    async def audited(hub) -> list[str]:
        async with hub.database.session() as session:
            rows = (await session.exec(select(AuditEntry).where(AuditEntry.subject_id == down["id"]))).all()
            return [row.action for row in rows]

    assert "webhook_subscription.disabled" in run(audited, settings)


def test_a_rotated_secret_signs_beside_the_old_one(hooked, demo, receiver):
    token = demo["api_token"]
    subscription = subscribe(hooked, token, receiver.url("/rotating"), ["message.created"])
    rotated = hooked.post(f"/api/v1/webhooks/{subscription['id']}/rotate-secret", headers=bearer(token))
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != subscription["secret"] and new_secret.startswith("whsec_")
    chat(hooked, demo)
    (received,) = wait_for(lambda: receiver.at("/rotating"))
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    assert standard_webhooks_valid(new_secret, received.headers, received.body, time.time())
    assert standard_webhooks_valid(subscription["secret"], received.headers, received.body, time.time())


def test_a_name_resolving_to_a_private_address_is_refused_at_delivery(settings, demo, receiver):
    """The name passed when saved (not resolved then); at delivery it resolves to loopback, which is not opened."""
    token = demo["api_token"]

    async def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    quick = settings.model_copy(
        update={"webhook_dispatch_interval_seconds": 0.05, "webhook_retry_seconds": 5}
    )
    with TestClient(
        app=create_app(quick, resolver=to_loopback), base_url="http://testserver.local"
    ) as client:
        subscription = subscribe(
            client, token, f"http://crm.example.com:{receiver.port}/rebound", ["message.created"]
        )
        chat(client, demo)
        (delivery,) = wait_for(
            lambda: (
                (items := deliveries(client, token, subscription["id"])) and items[0]["attempts"] and items
            )
        )
    assert delivery["status"] == "pending" and delivery["next_attempt_at"] is not None
    assert delivery["log"][0]["status_code"] is None and "loopback" in delivery["log"][0]["error"]
    assert receiver.at("/rebound") == []


def test_webhooks_are_for_admins_of_their_own_workspace(client, demo, other_token, other_admin_token):  # noqa: F811
    token = demo["api_token"]
    subscription = subscribe(client, token, "https://crm.example.com/a")
    base = f"/api/v1/webhooks/{subscription['id']}"
    attempts = [
        ("GET", base),
        ("PATCH", base),
        ("DELETE", base),
        ("POST", f"{base}/rotate-secret"),
        ("GET", f"{base}/deliveries"),
        ("GET", f"{base}/deliveries/{subscription['id']}"),
        ("POST", f"{base}/deliveries/{subscription['id']}/redeliver"),
    ]
    for method, path in attempts:
        body = {} if method == "PATCH" else None
        foreign = client.request(method, path, json=body, headers=bearer(other_admin_token))
        assert foreign.status_code == 404, (method, path, foreign.status_code)
        assert_error_shape(foreign)
        not_admin = client.request(method, path, json=body, headers=bearer(other_token))
        assert not_admin.status_code == 403 and not_admin.json()["code"] == "admin_only"
    assert client.get("/api/v1/webhooks", headers=bearer(other_admin_token)).json()["items"] == []
    assert client.get(base, headers=bearer(token)).json()["url"] == "https://crm.example.com/a"


async def subscription_with_due_deliveries(
    hub, workspace_id: str, url: str, count: int
) -> WebhookSubscription:
    """A subscription to `url` with deliveries 1..count due at the hub's time."""
    async with hub.database.session() as session:
        subscription = WebhookSubscription(
            workspace_id=workspace_id,
            url=url,
            events=["message.created"],
            secret=hub.box.encrypt(webhooks.new_secret()),
            last_sequence=count,
        )
        session.add(subscription)
        await session.flush()
        session.add_all(
            WebhookDelivery(
                workspace_id=workspace_id,
                subscription_id=subscription.id,
                event_id=f"event-{sequence}",
                event_type="message.created",
                sequence=sequence,
                body=f'{{"sequence": {sequence}}}',
                next_attempt_at=hub.now(),
                give_up_at=hub.now() + timedelta(hours=1),
            )
            for sequence in range(1, count + 1)
        )
        await session.commit()
    return subscription


async def rows_of(hub, subscription_id: str) -> list[WebhookDelivery]:
    async with hub.database.session() as session:
        return list(
            (
                await session.exec(
                    select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
                )
            ).all()
        )


def test_a_job_sends_its_batches_over_no_more_connections_than_it_has_requests_in_flight(
    hooked_settings, demo
):
    """Each batch after the first reuses the job's kept-alive connections instead of opening new ones."""
    count = webhooks.DELIVERY_BATCH * 2 + 50

    async def deliver(hub) -> tuple[KeepAliveServer, list[WebhookDelivery]]:
        async with KeepAliveServer(together=webhooks.CONCURRENT_POSTS, patience=0.5) as server:
            subscription = await subscription_with_due_deliveries(
                hub, demo["workspace_id"], f"{server.url}crm", count
            )
            assert await webhooks.deliver_due(hub, subscription.id) is None
        async with hub.database.session() as session:
            rows = (
                await session.exec(
                    select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
                )
            ).all()
        return server, list(rows)

    server, rows = run(deliver, hooked_settings)
    assert server.answered == count
    assert all(row.status == "delivered" and row.attempts == 1 for row in rows) and len(rows) == count
    assert server.connections < 2 * webhooks.CONCURRENT_POSTS, (
        "the batches reuse the job's connections (one idle past the keep-alive expiry on a busy machine may be "
        "reopened; a pool keeping fewer alive than it has in flight reopens a dozen every batch)"
    )


def test_a_receiver_that_is_down_gets_one_request_per_retry_round_however_many_events_arrive(
    hooked, demo, receiver
):
    """While its receiver is down a subscription waits as a whole: events arriving meanwhile are written behind
    it, unsent, and each retry round tries one delivery. (Each dispatch of new events used to bring a job and a
    request of its own, and in the benchmark's outage those jobs held every worker thread the chat needed.)"""
    token = demo["api_token"]
    receiver.answer("/down", 503)
    down = subscribe(hooked, token, receiver.url("/down"), ["message.created"])
    started = time.monotonic()
    for number in range(30):
        chat(hooked, demo, f"Message {number}")
    waiting = wait_for(
        lambda: (
            receiver.at("/down")
            and len(items := deliveries_of(hooked, token, down["id"])) == 30
            and all(item["status"] == "pending" for item in items)
            and items
        )
    )
    elapsed = time.monotonic() - started
    requests = len(receiver.at("/down"))
    rounds = math.log2(elapsed / 0.05 + 1) + 1
    assert 1 <= requests <= rounds + 2, f"{requests} requests in {elapsed:.1f} s: one per retry round"
    assert sum(item["attempts"] for item in waiting) <= requests
    assert len([item for item in waiting if item["attempts"]]) <= 2, "one delivery tries the receiver"

    receiver.answer("/down", 200)
    replay = hooked.post(
        f"/api/v1/webhooks/{down['id']}/deliveries/{waiting[0]['id']}/redeliver", headers=bearer(token)
    )
    assert replay.status_code == 202
    assert wait_for(
        lambda: all(item["status"] == "delivered" for item in deliveries_of(hooked, token, down["id"]))
    )
    accepted = [each.event["sequence"] for each in receiver.at("/down")[requests:]]
    assert sorted(set(accepted)) == sorted(item["sequence"] for item in waiting), "the waiting ones follow"


def deliveries_of(client: TestClient, token: str, subscription_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/webhooks/{subscription_id}/deliveries?limit=100", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_a_delivery_job_takes_the_deliveries_another_job_holds_no_longer_than_it_takes_its_own(
    migrated_postgres_url, tmp_path
):
    """Jobs of one subscription share its deliveries without queueing on each other's row locks: a claim skips
    the rows another transaction holds. (Claims waiting on each other held every worker thread in the
    benchmark's outage.)"""
    settings = migrated_postgres_settings(migrated_postgres_url, tmp_path).model_copy(
        update={"allowed_private_networks": (LOOPBACK,)}
    )
    workspace_id = run(ensure_demo, settings)["workspace_id"]
    count = webhooks.DELIVERY_BATCH + 20

    async def deliver_beside_a_held_batch(hub) -> tuple[list[WebhookDelivery], int]:
        with Receiver() as crm:
            subscription = await subscription_with_due_deliveries(hub, workspace_id, crm.url("/crm"), count)
            async with hub.database.session() as holder:
                await holder.exec(
                    select(WebhookDelivery).where(WebhookDelivery.sequence <= 10).with_for_update()
                )
                await asyncio.wait_for(webhooks.deliver_due(hub, subscription.id), timeout=30)
                await holder.rollback()
            async with hub.database.session() as session:
                rows = (
                    await session.exec(
                        select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
                    )
                ).all()
            return list(rows), sorted(each.event["sequence"] for each in crm.at("/crm"))

    rows, received = run(deliver_beside_a_held_batch, settings)
    assert sorted(row.sequence for row in rows if row.attempts == 1) == list(range(11, count + 1))
    assert len(set(received)) == len(received) and set(received) <= set(range(11, count + 1)), (
        "each sent once, none of those held elsewhere"
    )
    assert all(row.status == "pending" and row.attempts == 0 for row in rows if row.sequence <= 10)


def test_a_retry_round_of_a_receiver_that_is_down_sends_one_request_and_rewrites_no_waiting_row(
    hooked_settings, demo, receiver
):
    """A failed round costs one request and the rows it tried, however many deliveries wait; deliveries dispatched
    meanwhile wait behind the subscription, and a job arriving before its retry time sends nothing. (Before, every
    failed round pushed back each waiting row that was due, and each dispatch of new events brought a request.)"""
    receiver.answer("/down", 503)
    waiting = webhooks.DELIVERY_BATCH * 3

    async def outage(hub) -> dict[str, Any]:
        clock = [hub.now()]
        hub.now = lambda: clock[0]
        rows_updated = [0]

        def count_updates(conn, cursor, statement, parameters, context, executemany) -> None:
            if statement.lstrip().upper().startswith("UPDATE WEBHOOK_DELIVERY"):
                rows_updated[0] += max(cursor.rowcount, 0)

        event.listen(hub.database.engine.sync_engine, "after_cursor_execute", count_updates)
        subscription = await subscription_with_due_deliveries(
            hub, demo["workspace_id"], receiver.url("/down"), waiting
        )
        seen: dict[str, Any] = {"first_wait": await webhooks.deliver_due(hub, subscription.id)}
        seen["first_requests"] = len(receiver.at("/down"))

        async with hub.database.session() as session:
            session.add_all(
                OutboxEvent(
                    workspace_id=demo["workspace_id"],
                    event_type="message.created",
                    subject_id=f"message-{number}",
                    payload={"type": "message.created", "message": {"id": f"message-{number}"}},
                )
                for number in range(20)
            )
            await session.commit()
        assert await webhooks.dispatch(hub) == 20
        rows_updated[0] = 0
        seen["early_wait"] = await webhooks.deliver_due(hub, subscription.id)
        seen["early"] = (len(receiver.at("/down")) - seen["first_requests"], rows_updated[0])

        async with hub.database.session() as session:
            waits_until = (await session.get(WebhookSubscription, subscription.id)).retry_at
            dispatched = (
                await session.exec(
                    select(WebhookDelivery.next_attempt_at).where(WebhookDelivery.sequence > waiting)
                )
            ).all()
        seen["dispatched_wait"] = set(dispatched) == {waits_until}

        for _round in range(3):
            clock[0] += seen["first_wait"] * 8
            before = len(receiver.at("/down"))
            rows_updated[0] = 0
            assert await webhooks.deliver_due(hub, subscription.id) is not None
            seen.setdefault("rounds", []).append((len(receiver.at("/down")) - before, rows_updated[0]))
        rows_updated[0] = 0
        assert await webhooks.deliver_due(hub, subscription.id) is None
        seen["late"] = (len(receiver.at("/down")) - 4, rows_updated[0])
        async with hub.database.session() as session:
            rows = (
                await session.exec(
                    select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
                )
            ).all()
        seen["attempted"] = sorted(row.sequence for row in rows if row.attempts)
        seen["pending"] = len([row for row in rows if row.status == "pending"])
        return seen

    seen = run(outage, hooked_settings)
    assert seen["first_wait"] is not None and seen["first_requests"] == 1
    assert seen["early_wait"] is None and seen["early"] == (0, 0), "nothing sent or rewritten before its time"
    assert seen["dispatched_wait"], "deliveries dispatched meanwhile are due with the subscription's next try"
    assert seen["late"] == (0, 0), "nor in a later wait, when those dispatched in an earlier one are past due"
    assert seen["rounds"] == [(1, 2)] * 3, "one request a round; the delivery it tried claimed and recorded"
    assert seen["attempted"] == [1] and seen["pending"] == waiting + 20


def test_a_delivery_falling_due_while_its_subscription_waits_is_held_by_the_wait_too(
    hooked_settings, demo, receiver
):
    """A delivery can fall due before its subscription's retry (a batch's failure got a shorter backoff than the
    probe that made the subscription wait): no job sends it, or anything else, before that retry."""
    receiver.answer("/down", 503)

    async def round_before_the_retry(hub) -> tuple[int, list[int]]:
        subscription = await subscription_with_due_deliveries(
            hub, demo["workspace_id"], receiver.url("/down"), 3
        )
        async with hub.database.session() as session:
            waiting = await session.get_one(WebhookSubscription, subscription.id)
            waiting.retry_at = hub.now() + timedelta(hours=1)
            session.add(waiting)
            await session.commit()
        assert await webhooks.deliver_due(hub, subscription.id) is None
        async with hub.database.session() as session:
            rows = (
                await session.exec(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.subscription_id == subscription.id)
                    .order_by(WebhookDelivery.sequence)
                )
            ).all()
        return len(receiver.at("/down")), [row.attempts for row in rows]

    assert run(round_before_the_retry, hooked_settings) == (0, [0, 0, 0])


def test_the_retry_a_job_asks_for_finds_every_delivery_it_failed_due(hooked_settings, demo, receiver):
    """Deliveries failing in one batch each get a jittered backoff; the job's retry comes when the last of them is
    due. (It came at the first: the others then waited, with no job, for a new event or the sweeper a minute
    later; at the end of a burst that is a delay of 60-75 s, like the 78 s P99 of one delay run of the benchmark.)"""
    receiver.answer("/flaky", 200, 500, 500, 500, 200)
    settings = hooked_settings.model_copy(update={"webhook_retry_seconds": 60.0})

    async def flaky(hub) -> tuple[list[str], list[str]]:
        clock = [hub.now()]
        hub.now = lambda: clock[0]
        subscription = await subscription_with_due_deliveries(
            hub, demo["workspace_id"], receiver.url("/flaky"), 10
        )
        retry_in = await webhooks.deliver_due(hub, subscription.id)
        assert retry_in is not None
        after_failures = sorted(row.status for row in await rows_of(hub, subscription.id))
        clock[0] += retry_in
        assert await webhooks.deliver_due(hub, subscription.id) is None
        return after_failures, sorted(row.status for row in await rows_of(hub, subscription.id))

    after_failures, after_retry = run(flaky, settings)
    assert after_failures == ["delivered"] * 7 + ["pending"] * 3
    assert after_retry == ["delivered"] * 10, "the retry sends every delivery that failed"


def test_a_batch_failing_while_another_job_made_its_subscription_wait_is_held_to_that_wait(
    hooked_settings, demo, receiver
):
    """Two jobs of a subscription whose receiver goes down: the one whose probe fails second finds the subscription
    waiting already, and leaves its batch due when the first one's retry comes (put back to its own later backoff,
    the batch had no job to send it after the receiver came back)."""
    receiver.answer("/down", 503)
    settings = hooked_settings.model_copy(update={"webhook_retry_seconds": 60.0})

    async def down(hub) -> tuple[timedelta | None, Any, list[Any]]:
        clock = [hub.now()]
        hub.now = lambda: clock[0]
        loop = asyncio.get_running_loop()
        subscription = await subscription_with_due_deliveries(
            hub, demo["workspace_id"], receiver.url("/down"), 5
        )
        other_job_waits_until = clock[0] + timedelta(seconds=1)

        async def other_job_waits() -> None:
            async with hub.database.session() as session:
                row = await session.get(WebhookSubscription, subscription.id)
                row.retry_at = other_job_waits_until
                await session.commit()

        def meanwhile(path: str) -> None:
            receiver.before_answer = None
            asyncio.run_coroutine_threadsafe(other_job_waits(), loop).result(timeout=10)

        receiver.before_answer = meanwhile
        retry_in = await webhooks.deliver_due(hub, subscription.id)
        async with hub.database.session() as session:
            retry_at = (await session.get(WebhookSubscription, subscription.id)).retry_at
        return retry_in, retry_at, [row.next_attempt_at for row in await rows_of(hub, subscription.id)]

    retry_in, retry_at, next_attempts = run(down, settings)
    assert retry_in is None, "the job that made the subscription wait follows it, not this one"
    assert next_attempts and all(each <= retry_at for each in next_attempts), (
        f"every delivery of the batch is due when the wait ends ({retry_at}): {next_attempts}"
    )


async def write_outbox_events(hub, workspace_id: str, count: int, first: int = 0) -> None:
    async with hub.database.session() as session:
        session.add_all(
            OutboxEvent(
                workspace_id=workspace_id,
                event_type="message.created",
                subject_id=f"message-{number}",
                payload={"type": "message.created", "message": {"id": f"message-{number}"}},
            )
            for number in range(first, first + count)
        )
        await session.commit()


def jobs_sent_to(hub) -> list[tuple[str, tuple[str, ...], timedelta | None]]:
    """The jobs the hub sends from now on, recorded instead of reaching the broker."""
    sent: list[tuple[str, tuple[str, ...], timedelta | None]] = []

    async def record(actor, *args: str, delay: timedelta | None = None) -> None:
        sent.append((actor.actor_name, args, delay))

    hub.jobs.send = record
    return sent


async def runs_over(deliverers: webhooks.Deliverers, subscription_id: str) -> None:
    deadline = time.monotonic() + 30
    while not deliverers.idle(subscription_id):
        assert time.monotonic() < deadline, "the dispatcher's run of the subscription never ended"
        await asyncio.sleep(0.01)


def test_the_dispatcher_posts_what_it_dispatched_at_once_with_no_job_and_no_claim(
    hooked_settings, demo, receiver
):
    """A dispatch on the dispatcher's loop writes a ready subscription's deliveries already claimed and POSTs them
    there: no job through the broker (a worker's poll of Redis and a free thread away), and no claim to read them
    back. What a dispatch leases while that run is under way is sent by the run next, still unclaimed."""
    receiver.before_answer = lambda path: time.sleep(0.05)

    async def dispatched(hub) -> dict[str, Any]:
        sent = jobs_sent_to(hub)
        statements: list[str] = []

        def note(conn, cursor, statement, parameters, context, executemany) -> None:
            if "webhook_delivery" in statement.lower():
                statements.append(statement.lstrip().split()[0].upper())

        subscription = await subscription_with_due_deliveries(
            hub, demo["workspace_id"], receiver.url("/crm"), 0
        )
        await write_outbox_events(hub, demo["workspace_id"], 5)
        deliverers = webhooks.Deliverers(hub)
        event.listen(hub.database.engine.sync_engine, "after_cursor_execute", note)
        assert await webhooks.dispatch(hub, deliverers) == 5
        assert not deliverers.idle(subscription.id)
        await runs_over(deliverers, subscription.id)
        seen: dict[str, Any] = {"first": list(statements), "jobs": list(sent)}
        await write_outbox_events(hub, demo["workspace_id"], 5, first=5)
        assert await webhooks.dispatch(hub, deliverers) == 5
        await asyncio.sleep(0.02)
        await write_outbox_events(hub, demo["workspace_id"], 5, first=10)
        assert await webhooks.dispatch(hub, deliverers) == 5
        await runs_over(deliverers, subscription.id)
        seen["later_jobs"] = list(sent)
        seen["statements"] = list(statements)
        seen["rows"] = await rows_of(hub, subscription.id)
        await deliverers.close()
        return seen

    seen = run(dispatched, hooked_settings)
    assert seen["first"] == ["INSERT", "UPDATE"], "written claimed, then recorded: never claimed again"
    assert sorted(seen["statements"]) == ["INSERT"] * 3 + ["UPDATE"] * 3, "nor the batch queued for the run"
    assert seen["jobs"] == [] and seen["later_jobs"] == []
    assert sorted(each.event["sequence"] for each in receiver.at("/crm")) == list(range(1, 16))
    assert all(row.status == "delivered" and row.attempts == 1 for row in seen["rows"])
    assert len(seen["rows"]) == 15


def test_the_dispatcher_leaves_a_retry_and_a_backlog_to_the_workers_jobs(hooked_settings, demo, receiver):
    """A delivery the receiver refuses is retried by a job the broker holds until it is due (the dispatcher's loop
    waits for nobody); a full batch of events is a backlog, whose jobs every worker shares."""
    receiver.answer("/down", 503)

    async def dispatched(hub) -> dict[str, Any]:
        sent = jobs_sent_to(hub)
        subscription = await subscription_with_due_deliveries(
            hub, demo["workspace_id"], receiver.url("/down"), 0
        )
        await write_outbox_events(hub, demo["workspace_id"], 3)
        deliverers = webhooks.Deliverers(hub)
        await webhooks.dispatch(hub, deliverers)
        await runs_over(deliverers, subscription.id)
        seen: dict[str, Any] = {
            "retry": list(sent),
            "requests": len(receiver.at("/down")),
            "subscription": subscription.id,
        }
        async with hub.database.session() as session:
            seen["retry_at"] = (await session.get_one(WebhookSubscription, subscription.id)).retry_at
        await subscription_with_due_deliveries(hub, demo["workspace_id"], receiver.url("/crm"), 0)
        sent.clear()
        await write_outbox_events(hub, demo["workspace_id"], webhooks.DISPATCH_BATCH, first=3)
        assert await webhooks.dispatch(hub, deliverers) == webhooks.DISPATCH_BATCH
        seen["backlog"] = list(sent)
        await deliverers.close()
        return seen

    seen = run(dispatched, hooked_settings.model_copy(update={"webhook_retry_seconds": 60.0}))
    assert seen["requests"] == 1, "the first delivery went alone and was refused: the rest wait with it"
    assert seen["retry_at"] is not None
    [(actor, args, delay)] = seen["retry"]
    assert actor == "deliver_webhooks" and args == (seen["subscription"],)
    assert delay is not None and delay >= timedelta(seconds=60)
    assert [(each[0], each[2]) for each in seen["backlog"]] == [("deliver_webhooks", None)]
    assert seen["backlog"][0][1] != (seen["subscription"],), (
        "the waiting subscription's deliveries wait with it"
    )


def test_a_batch_queued_for_a_run_that_ends_in_a_retry_is_left_due_for_the_job(
    hooked_settings, demo, receiver
):
    """Deliveries a dispatch leased to a run under way are the run's alone; when that run ends waiting for a retry,
    they are made due again for the job that follows it, not left claimed until the sweeper finds them."""
    receiver.answer("/flaky", 200, 500)
    receiver.before_answer = lambda path: time.sleep(0.1)

    async def dispatched(hub) -> dict[str, Any]:
        sent = jobs_sent_to(hub)
        subscription = await subscription_with_due_deliveries(
            hub, demo["workspace_id"], receiver.url("/flaky"), 0
        )
        deliverers = webhooks.Deliverers(hub)
        await write_outbox_events(hub, demo["workspace_id"], 3)
        await webhooks.dispatch(hub, deliverers)
        await asyncio.sleep(0.02)
        await write_outbox_events(hub, demo["workspace_id"], 3, first=3)
        await webhooks.dispatch(hub, deliverers)
        await runs_over(deliverers, subscription.id)
        queued = [row for row in await rows_of(hub, subscription.id) if row.sequence > 3]
        now = hub.now().replace(tzinfo=None)
        return {
            "jobs": list(sent),
            "subscription": subscription.id,
            "queued": [(row.status, row.attempts) for row in queued],
            "due": all(row.next_attempt_at.replace(tzinfo=None) <= now for row in queued),
        }

    seen = run(dispatched, hooked_settings.model_copy(update={"webhook_retry_seconds": 60.0}))
    assert sorted(each.event["sequence"] for each in receiver.at("/flaky")) == [1, 2, 3]
    assert seen["queued"] == [("pending", 0)] * 3 and seen["due"]
    [(actor, args, delay)] = seen["jobs"]
    assert actor == "deliver_webhooks" and args == (seen["subscription"],)
    assert delay is not None and delay >= timedelta(seconds=60)
