"""A 30-second PostgreSQL outage under a stream of WeChat callbacks and web chat messages, with the web process
SIGKILLed while it spools: every acknowledged callback is stored exactly once, the outage answers 503 with
Retry-After (never 500), and /readyz follows the database down and back within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from benchmarks.cluster import Cluster, production_cluster
from connectors.base import RawRequest
from connectors.sms.testing import ACCOUNT_SID, AUTH_TOKEN, inbound_form, signed_request, valid_settings
from tests.conftest import POSTGRES_ADMIN_URL, TEST_REDIS_URL, assert_error_shape, bearer, wait_for
from tests.hub.openapi_support import Conformance
from tests.hub.wechat_support import signed_by, text_message
from tests.production.temporary_servers import TemporaryPostgres, temporary_postgres, temporary_redis

pytestmark = [pytest.mark.production, pytest.mark.serial]

OUTAGE_SECONDS = 30.0
READINESS_WITHIN_SECONDS = 5.0
RECOVERY_WITHIN_SECONDS = 10.0
"""/readyz is back within a fraction of a second when the machine is quiet; its cores are shared with other runs."""
WECHAT_ATTEMPTS = 4
"""WeChat's first try and its three retries; a delivery none of them got acknowledged is dropped."""
WECHAT_RETRY_SECONDS = 1.0


@dataclass
class Outcomes:
    """What one client saw: the deliveries acknowledged, and every answer that was not a success."""

    acknowledged: set[str] = field(default_factory=set)
    failures: list[httpx.Response] = field(default_factory=list)
    connection_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failed(self, answer: httpx.Response) -> None:
        with self.lock:
            self.failures.append(answer)

    def statuses(self) -> Counter[int]:
        with self.lock:
            return Counter(answer.status_code for answer in self.failures)


@contextlib.contextmanager
def cluster_over(
    postgres: TemporaryPostgres, env: dict[str, str], *, worker_processes: int = 0
) -> Iterator[Cluster]:
    """One web process on `postgres`, which the test takes down and brings back, and the tests' Redis."""
    redis_server, _, redis_db = TEST_REDIS_URL.rpartition("/")
    with production_cluster(
        web_processes=1,
        worker_processes=worker_processes,
        env=env,
        database_prefix="omnihub_outage",
        redis_db=int(redis_db),
        redis_server_url=redis_server,
        postgres_admin_url=postgres.admin_url,
    ) as running:
        yield running


@pytest.fixture
def outage_cluster(production_services: None) -> Iterator[tuple[TemporaryPostgres, Cluster]]:
    with (
        temporary_postgres() as postgres,
        cluster_over(
            postgres, {"OMNIHUB_VISITOR_RATE_PER_MINUTE": "100000", "OMNIHUB_IP_RATE_PER_MINUTE": "100000"}
        ) as running,
    ):
        yield postgres, running


def send_wechat_callbacks(running: Cluster, stop: threading.Event, outcomes: Outcomes) -> None:
    """WeChat's side: one callback after another, each retried while unacknowledged, then dropped."""
    inbox = running.inbox("wechat_oa")
    settings = {key: inbox[key] for key in ("app_id", "token", "mode", "encoding_aes_key")}
    url = f"{running.url}{urlsplit(inbox['callback_url']).path}"
    msg_id = 7_000_000
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            msg_id += 1
            raw = signed_by({**settings, "app_secret": "unknown-to-wechats-side"}).post(
                text_message(f"订单 {msg_id} 到哪了？", msg_id)
            )
            for _ in range(WECHAT_ATTEMPTS):
                try:
                    answer = client.post(url, params=dict(raw.query), content=raw.body)
                except httpx.TransportError:
                    with outcomes.lock:
                        outcomes.connection_errors += 1
                else:
                    if answer.status_code == 200 and answer.text == "success":
                        with outcomes.lock:
                            outcomes.acknowledged.add(str(msg_id))
                        break
                    outcomes.failed(answer)
                time.sleep(WECHAT_RETRY_SECONDS)
            time.sleep(0.02)


def send_web_chat_messages(running: Cluster, stop: threading.Event, outcomes: Outcomes) -> None:
    """The widget over HTTP: each message resent with its client_id until the hub accepts it."""
    url = f"{running.url}/widget/{running.inbox('webchat')['widget_token']}/messages"
    headers: dict[str, str] = {}
    number = 0
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            number += 1
            client_id = f"outage-{number}"
            while True:
                try:
                    answer = client.post(
                        url, headers=headers, json={"text": client_id, "client_id": client_id}
                    )
                except httpx.TransportError:
                    with outcomes.lock:
                        outcomes.connection_errors += 1
                    time.sleep(0.2)
                    continue
                if answer.status_code in (200, 201):
                    visitor_token = answer.json().get("visitor_token")
                    if visitor_token:
                        headers = {"Authorization": f"Bearer {visitor_token}"}
                    with outcomes.lock:
                        outcomes.acknowledged.add(client_id)
                    break
                outcomes.failed(answer)
                time.sleep(0.5)
            time.sleep(0.05)


def readiness(running: Cluster) -> httpx.Response:
    return httpx.get(f"{running.url}/readyz", timeout=10)


def stored_channel_message_ids(running: Cluster, kind: str) -> Counter[str]:
    """How often each channel message id of the demo inbox of `kind` is in the durable accept table."""

    async def query() -> list[str]:
        connection = await asyncpg.connect(running.database_url.replace("+asyncpg", ""))
        try:
            rows = await connection.fetch(
                "SELECT message FROM inbound_event WHERE inbox_id = $1", running.inbox(kind)["id"]
            )
        finally:
            await connection.close()
        return [json.loads(row["message"])["channel_message_id"] for row in rows]

    return Counter(asyncio.run(query()))


def spooled_segments(running: Cluster) -> list[Path]:
    return sorted((Path(running.env["OMNIHUB_DATA_DIR"]) / "spool").glob("*.spool"))


def test_a_database_outage_loses_no_acknowledged_callback_and_answers_503_meanwhile(
    outage_cluster: tuple[TemporaryPostgres, Cluster],
) -> None:
    postgres, running = outage_cluster
    wechat, web_chat, stop = Outcomes(), Outcomes(), threading.Event()
    streams = [
        threading.Thread(target=send_wechat_callbacks, args=(running, stop, wechat)),
        threading.Thread(target=send_web_chat_messages, args=(running, stop, web_chat)),
    ]
    for stream in streams:
        stream.start()
    sockets = contextlib.ExitStack()
    document = Conformance(httpx.get(f"{running.url}/schema/openapi.json", timeout=10).json())
    try:
        wait_for(lambda: len(wechat.acknowledged) >= 10 and len(web_chat.acknowledged) >= 10, timeout=20)
        assert readiness(running).status_code == 200
        widget_socket = sockets.enter_context(
            connect(
                f"ws://{urlsplit(running.url).netloc}/widget/{running.inbox('webchat')['widget_token']}/ws"
            )
        )
        widget_socket.send(json.dumps({}))
        assert json.loads(widget_socket.recv(timeout=10))["type"] == "ready"

        postgres.crash()
        crashed_at = time.monotonic()
        acknowledged_before_outage = len(wechat.acknowledged)
        down = wait_for(lambda: (answer := readiness(running)).status_code == 503 and answer, timeout=10)
        assert time.monotonic() - crashed_at < READINESS_WITHIN_SECONDS
        assert down.headers["retry-after"] == "5"
        assert down.json()["status"] == "unavailable" and down.json()["checks"]["database"].startswith(
            "error"
        )
        widget_socket.send(json.dumps({"type": "message", "text": "还在吗？", "client_id": "by-socket"}))
        refused = json.loads(widget_socket.recv(timeout=10))
        sockets.close()
        assert refused["type"] == "error" and refused["client_id"] == "by-socket"
        assert refused["code"] == "database_unavailable"
        api_answer = httpx.get(
            f"{running.url}/api/v1/conversations", headers=bearer(running.api_token), timeout=10
        )
        assert api_answer.status_code == 503 and api_answer.json()["code"] == "database_unavailable"
        document.check("/api/v1/conversations", "GET", api_answer)

        # The web process keeps acknowledging callbacks from its spool; then it dies without warning.
        wait_for(lambda: len(wechat.acknowledged) >= acknowledged_before_outage + 20, timeout=15)
        running.web[0].kill()
        assert spooled_segments(running), "the killed process left no spooled deliveries to recover"
        running.start_web(port=int(running.url.rsplit(":", 1)[1]), until_ready=False)
        assert readiness(running).status_code == 503

        time.sleep(max(0.0, crashed_at + OUTAGE_SECONDS - time.monotonic()))  # the outage lasts its 30 s
        postgres.start()
        recovered_at = time.monotonic()
        wait_for(lambda: readiness(running).status_code == 200, timeout=10)
        assert time.monotonic() - recovered_at < RECOVERY_WITHIN_SECONDS
        acknowledged_at_recovery = len(wechat.acknowledged)
        wait_for(lambda: len(wechat.acknowledged) >= acknowledged_at_recovery + 10, timeout=15)
    finally:
        sockets.close()
        stop.set()
        for stream in streams:
            stream.join(timeout=30)

    wait_for(lambda: not spooled_segments(running), timeout=15)
    stored_callbacks = stored_channel_message_ids(running, "wechat_oa")
    assert wechat.acknowledged <= set(stored_callbacks), "acknowledged callbacks are missing"
    assert set(stored_callbacks.values()) == {1}
    stored_chat = stored_channel_message_ids(running, "webchat")
    assert len(stored_chat) == len(web_chat.acknowledged) and set(stored_chat.values()) == {1}

    assert set(wechat.statuses()) <= {503} and set(web_chat.statuses()) <= {503}, (
        "an outage answered otherwise"
    )
    assert web_chat.failures, "the widget never saw the outage"
    for answer in [*web_chat.failures, *wechat.failures]:
        assert_error_shape(answer)
        assert answer.headers["retry-after"] == "5" and answer.json()["code"] == "database_unavailable"
    for answer in wechat.failures:
        document.check("/webhooks/{kind}/{inbox_id}", "POST", answer)


def test_a_full_spool_refuses_the_callback_with_503_and_what_it_kept_is_stored_as_soon_as_the_database_returns(
    production_services: None,
) -> None:
    """Callbacks are spooled until the spool reaches OMNIHUB_SPOOL_MAX_BYTES; the next one is left to WeChat's retry.
    The running process moves what it kept into the database within seconds of the database's return."""
    with (
        temporary_postgres() as postgres,
        cluster_over(postgres, {"OMNIHUB_SPOOL_MAX_BYTES": "8192"}) as running,
    ):
        inbox = running.inbox("wechat_oa")
        settings = {key: inbox[key] for key in ("app_id", "token", "mode", "encoding_aes_key")}
        callback_url = f"{running.url}{urlsplit(inbox['callback_url']).path}"

        def signed(msg_id: int) -> RawRequest:
            return signed_by({**settings, "app_secret": "unknown-to-wechats-side"}).post(
                text_message(f"第 {msg_id} 条", msg_id)
            )

        def deliver(raw: RawRequest) -> httpx.Response:
            return httpx.post(callback_url, params=dict(raw.query), content=raw.body, timeout=10)

        assert deliver(signed(880000)).text == "success"
        postgres.crash()
        retried_by_wechat = signed(880001)  # its answer was lost on the way: WeChat sends it again
        assert [deliver(retried_by_wechat).text, deliver(retried_by_wechat).text] == ["success", "success"]
        kept, msg_id = ["880001"], 880001
        while True:
            msg_id += 1
            raw = signed(msg_id)
            answer = deliver(raw)
            if answer.status_code != 200:
                break
            assert answer.text == "success"
            kept.append(str(msg_id))
        assert kept, "nothing was spooled before the spool was full"
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert_error_shape(answer)
        assert answer.json()["code"] == "database_unavailable"

        postgres.start()
        recovered_at = time.monotonic()
        wait_for(lambda: not spooled_segments(running), timeout=RECOVERY_WITHIN_SECONDS)
        assert time.monotonic() - recovered_at < RECOVERY_WITHIN_SECONDS
        assert wait_for(lambda: (retried := deliver(raw)).status_code == 200 and retried).text == "success"
        assert stored_channel_message_ids(running, "wechat_oa") == Counter(["880000", *kept, str(msg_id)])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_redis_outage_answers_503_naming_redis_and_the_hub_recovers_without_a_restart(
    production_services: None,
) -> None:
    with (
        temporary_redis() as redis_server,
        production_cluster(
            web_processes=1,
            worker_processes=0,
            database_prefix="omnihub_outage",
            redis_db=0,
            redis_server_url=redis_server.url,
            postgres_admin_url=POSTGRES_ADMIN_URL,
        ) as running,
    ):
        web = running.web[0]
        widget_url = f"{running.url}/widget/{running.inbox('webchat')['widget_token']}/messages"
        message = {"text": "Redis 挂了吗？", "client_id": "through-redis-outage"}
        assert readiness(running).status_code == 200

        redis_server.crash()
        crashed_at = time.monotonic()
        down = wait_for(lambda: (answer := readiness(running)).status_code == 503 and answer, timeout=10)
        assert time.monotonic() - crashed_at < READINESS_WITHIN_SECONDS
        assert down.headers["retry-after"] == "5" and down.json()["checks"]["broker"].startswith("error")
        refused = httpx.post(widget_url, json=message, timeout=10)
        assert refused.status_code == 503, refused.text
        assert_error_shape(refused)
        assert refused.headers["retry-after"] == "5" and refused.json()["code"] == "redis_unavailable"
        with connect(
            f"ws://{urlsplit(running.url).netloc}/widget/{running.inbox('webchat')['widget_token']}/ws"
        ) as socket:
            socket.send(json.dumps({}))
            assert json.loads(socket.recv(timeout=10))["code"] == "redis_unavailable"
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013, (
            "not closed as try again later"
        )

        spent_before = cpu_seconds(web.pid)
        time.sleep(3)  # an idle web process during the outage
        assert cpu_seconds(web.pid) - spent_before < 1.0, "the web process spins while Redis is away"
        assert web.alive

        redis_server.start()
        recovered_at = time.monotonic()
        wait_for(lambda: readiness(running).status_code == 200, timeout=RECOVERY_WITHIN_SECONDS)
        assert time.monotonic() - recovered_at < RECOVERY_WITHIN_SECONDS
        accepted = wait_for(
            lambda: (answer := httpx.post(widget_url, json=message, timeout=10)).status_code == 201 and answer
        )
        assert accepted.json()["duplicate"] is False
        assert stored_channel_message_ids(running, "webchat").total() == 1


class TwilioStandIn(ThreadingHTTPServer):
    """Twilio's REST API as the SMS inbox reaches it: the account check, and every send accepted as `REPLY_SID`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TwilioAnswers)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _TwilioAnswers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._answer(200, {"sid": ACCOUNT_SID, "status": "active"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self._answer(201, {"sid": REPLY_SID, "status": "queued"})

    def _answer(self, status: int, body: dict[str, str]) -> None:
        """HTTP/1.0: the body ends where the connection closes."""
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, format: str, *args: object) -> None:
        return


REPLY_SID = "SM" + "9" * 32


def message_events(running: Cluster, message_id: str) -> Counter[str]:
    async def query() -> list[str]:
        connection = await asyncpg.connect(running.database_url.replace("+asyncpg", ""))
        try:
            rows = await connection.fetch(
                "SELECT event_type FROM outbox_event WHERE subject_id = $1", message_id
            )
        finally:
            await connection.close()
        return [row["event_type"] for row in rows]

    return Counter(asyncio.run(query()))


def test_a_status_callback_during_a_database_outage_is_acknowledged_and_applied_once_the_database_returns(
    production_services: None,
) -> None:
    """Twilio never retries a status callback. During the outage the verified report is kept and answered 200, a
    forged one is refused with 403 and not kept; on the database's return the reply moves to failed once."""
    twilio = TwilioStandIn()
    threading.Thread(target=twilio.serve_forever, daemon=True).start()
    try:
        with (
            temporary_postgres() as postgres,
            cluster_over(
                postgres, {"OMNIHUB_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8"}, worker_processes=1
            ) as running,
        ):
            api = httpx.Client(base_url=running.url, headers=bearer(running.api_token), timeout=10)
            created = api.post(
                "/api/v1/inboxes",
                json={
                    "kind": "twilio_sms",
                    "name": "SMS",
                    "settings": {**valid_settings(), "api_base_url": twilio.url},
                },
            )
            assert created.status_code == 201, created.text
            sms_inbox = created.json()

            def post_signed(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> httpx.Response:
                raw = signed_request(url, form, token=token)
                return httpx.post(
                    f"{running.url}{urlsplit(url).path}?{urlsplit(url).query}",
                    content=raw.body,
                    headers=dict(raw.headers),
                    timeout=10,
                )

            assert post_signed(
                sms_inbox["inbound_webhook_url"], inbound_form("SM" + "1" * 32, "hi")
            ).is_success
            [conversation] = wait_for(
                lambda: api.get("/api/v1/conversations", params={"inbox_id": sms_inbox["id"]}).json()["items"]
            )
            sent = api.post(
                f"/api/v1/conversations/{conversation['id']}/messages", json={"text": "On its way"}
            )
            message_id = sent.json()["id"]

            def reply_status() -> str:
                rows = api.get(f"/api/v1/conversations/{conversation['id']}/messages").json()["items"]
                return next(row["status"] for row in rows if row["id"] == message_id)

            wait_for(lambda: reply_status() == "sent")
            before = message_events(running, message_id)
            status_url = f"{sms_inbox['status_callback_url']}?{urlencode({'message_id': message_id})}"
            undelivered = {"MessageSid": REPLY_SID, "MessageStatus": "undelivered", "ErrorCode": "30003"}

            postgres.crash()
            wait_for(lambda: readiness(running).status_code == 503, timeout=10)
            forged = post_signed(status_url, {**undelivered, "MessageStatus": "delivered"}, token="0" * 32)
            assert forged.status_code == 403 and forged.json()["code"] == "signature_invalid"
            assert spooled_segments(running) == []
            answer = post_signed(status_url, undelivered)
            assert answer.status_code == 200, answer.text
            assert spooled_segments(running), "the report was not kept"

            postgres.start()
            wait_for(lambda: not spooled_segments(running), timeout=RECOVERY_WITHIN_SECONDS)
            wait_for(lambda: readiness(running).status_code == 200, timeout=RECOVERY_WITHIN_SECONDS)
            assert reply_status() == "failed"
            after = message_events(running, message_id)
            assert after - before == Counter({"message.updated": 1, "message.failed": 1})
    finally:
        twilio.shutdown()
        twilio.server_close()
