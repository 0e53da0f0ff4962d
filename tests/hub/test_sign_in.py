"""Agent sign-in as an attacker tries it: guessing, timing, cross-site bodies, stolen sessions, live sockets."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import argon2
import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from sqlmodel import select

from hub import auth
from hub.app import create_app
from hub.auth import issue_token
from hub.models import Agent, utcnow
from hub.settings import Settings
from tests.conftest import bearer, run

LOGIN = "/api/v1/auth/login"


@pytest.fixture
def strict_client(settings: Settings, demo: dict[str, Any]) -> Iterator[TestClient]:
    """Low sign-in limits: 3 attempts per email, 6 per address."""
    strict = settings.model_copy(update={"login_attempts_per_account": 3, "login_attempts_per_ip": 6})
    with TestClient(app=create_app(strict), base_url="http://testserver.local") as test_client:
        yield test_client


def sign_in(client: TestClient, email: str, password: str, **headers: str):
    return client.post(LOGIN, json={"email": email, "password": password}, headers=headers)


def session_of(client: TestClient, demo: dict[str, Any]) -> str:
    answer = sign_in(client, demo["admin_email"], demo["admin_password"])
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def test_guessing_one_accounts_password_is_stopped_with_retry_after(strict_client, demo):
    guesses = [
        sign_in(strict_client, demo["admin_email"].upper(), f"guess {n}").status_code for n in range(3)
    ]
    assert guesses == [401, 401, 401]
    blocked = sign_in(strict_client, demo["admin_email"], demo["admin_password"])
    assert blocked.status_code == 429, "the right password after the limit is refused too"
    assert blocked.json()["code"] == "rate_limited"
    assert 1 <= int(blocked.headers["retry-after"]) <= 900
    assert sign_in(strict_client, "someone.else@example.com", "guess").status_code == 401, (
        "other accounts are not locked"
    )


def test_unknown_emails_are_limited_like_known_ones(strict_client):
    answers = [sign_in(strict_client, "ghost@example.com", "guess").status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]


def test_a_successful_sign_in_clears_the_accounts_failures(strict_client, demo):
    assert [sign_in(strict_client, demo["admin_email"], "wrong").status_code for _ in range(2)] == [401, 401]
    assert sign_in(strict_client, demo["admin_email"], demo["admin_password"]).status_code == 200
    assert [sign_in(strict_client, demo["admin_email"], "wrong").status_code for _ in range(3)] == [
        401,
        401,
        401,
    ]


def test_one_address_trying_many_accounts_is_stopped(strict_client):
    answers = [sign_in(strict_client, f"user{n}@example.com", "guess").status_code for n in range(7)]
    assert answers == [401] * 6 + [429]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_sign_in_takes_json_bodies_only(client, demo, content_type):
    """A page on another site can post text/plain or a form without a preflight: such a body is refused unread."""
    body = f'{{"email": "{demo["admin_email"]}", "password": "{demo["admin_password"]}"}}'
    headers = {"Content-Type": content_type} if content_type else {}
    answer = client.post(LOGIN, content=body, headers=headers)
    assert answer.status_code == 415
    assert answer.json()["code"] == "unsupported_media_type"
    charset = client.post(LOGIN, content=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert charset.status_code == 200


def test_unknown_emails_take_as_long_as_wrong_passwords(client, demo):
    """Otherwise the answer's time tells which emails have accounts."""
    sign_in(client, "warm-up@example.com", "guess")
    wrong_password, unknown_email = [], []
    for attempt in range(5):
        for email, times in (
            (demo["admin_email"], wrong_password),
            (f"nobody{attempt}@example.com", unknown_email),
        ):
            started = time.perf_counter()
            assert sign_in(client, email, "not the password").status_code == 401
            times.append(time.perf_counter() - started)
    ratio = statistics.median(unknown_email) / statistics.median(wrong_password)
    assert 1 / 3 < ratio < 3, (
        f"unknown email {statistics.median(unknown_email):.3f}s, "
        f"wrong password {statistics.median(wrong_password):.3f}s"
    )


def test_passwords_are_verified_off_the_event_loop_with_a_real_hash_for_unknown_emails(
    client, demo, monkeypatch
):
    verified: list[tuple[str, str]] = []
    real_verify = auth.verify_password

    def recording_verify(password_hash: str, password: str) -> bool:
        verified.append((threading.current_thread().name, password_hash))
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", recording_verify)
    sign_in(client, demo["admin_email"], "wrong")
    sign_in(client, "nobody@example.com", "wrong")
    assert all(thread.startswith("omnihub-password") for thread, _ in verified), verified
    agent_hash, decoy_hash = verified[0][1], verified[1][1]
    assert argon2.extract_parameters(decoy_hash) == argon2.extract_parameters(agent_hash)


def test_an_expired_session_is_refused_from_the_moment_it_ends(client, demo, monkeypatch):
    hub = client.app.state.hub
    signed_in_at = utcnow()
    monkeypatch.setattr(hub, "now", lambda: signed_in_at)
    session = session_of(client, demo)
    monkeypatch.setattr(hub, "now", lambda: signed_in_at + auth.SESSION_TOKEN_LIFETIME - timedelta(seconds=1))
    assert client.get("/api/v1/me", headers=bearer(session)).status_code == 200
    monkeypatch.setattr(hub, "now", lambda: signed_in_at + auth.SESSION_TOKEN_LIFETIME)
    refused = client.get("/api/v1/me", headers=bearer(session))
    assert refused.status_code == 401 and refused.json()["code"] == "expired_token"
    assert client.get("/api/v1/me", headers=bearer(demo["api_token"])).status_code == 200, (
        "a token without an end never expires"
    )


def test_logout_revokes_the_token_it_is_called_with_and_no_other(client, demo):
    session = session_of(client, demo)
    other = session_of(client, demo)
    assert client.post("/api/v1/auth/logout", headers=bearer(session)).status_code == 204
    refused = client.get("/api/v1/me", headers=bearer(session))
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_token"
    assert client.post("/api/v1/auth/logout", headers=bearer(session)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(other)).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(demo["api_token"])).status_code == 200
    assert client.post("/api/v1/auth/logout").status_code == 401


def change_password(client: TestClient, token: str, current: str, new: str, **headers: str):
    return client.post(
        "/api/v1/auth/password",
        headers={**bearer(token), **headers},
        json={"current_password": current, "new_password": new},
    )


def test_a_password_change_revokes_the_agents_other_sessions(client, demo):
    kept, stolen = session_of(client, demo), session_of(client, demo)
    changed = change_password(client, kept, demo["admin_password"], "a much better passphrase")
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"revoked_sessions": 1}
    assert client.get("/api/v1/me", headers=bearer(stolen)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(kept)).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(demo["api_token"])).status_code == 200, (
        "API tokens are not sessions"
    )
    assert sign_in(client, demo["admin_email"], demo["admin_password"]).status_code == 401
    assert sign_in(client, demo["admin_email"], "a much better passphrase").status_code == 200


def test_a_password_change_needs_the_current_password_and_a_long_new_one(client, demo):
    session = session_of(client, demo)
    wrong = change_password(client, session, "not it", "a much better passphrase")
    assert wrong.status_code == 422 and wrong.json()["code"] == "wrong_password"
    assert wrong.json()["errors"][0]["field"] == "current_password"
    short = change_password(client, session, demo["admin_password"], "short")
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "new_password"
    as_text = client.post(
        "/api/v1/auth/password",
        headers={**bearer(session), "Content-Type": "text/plain"},
        content='{"current_password": "x", "new_password": "yyyyyyyyyyyy"}',
    )
    assert as_text.status_code == 415
    assert (
        client.post(
            "/api/v1/auth/password", json={"current_password": "x", "new_password": "y" * 12}
        ).status_code
        == 401
    )
    assert sign_in(client, demo["admin_email"], demo["admin_password"]).status_code == 200, "nothing changed"


def test_guessing_the_current_password_counts_against_the_sign_in_limit(strict_client, demo):
    session = session_of(strict_client, demo)
    answers = [
        change_password(strict_client, session, f"guess {n}", "a much better passphrase").status_code
        for n in range(4)
    ]
    assert answers == [422, 422, 422, 429]


def agent_socket(client: TestClient, token: str):
    return client.websocket_connect(f"/api/v1/agent/ws?token={token}")


def assert_closed_for(socket, code: str) -> None:
    ended = socket.receive_json(timeout=10)
    assert ended == {"type": "error", "code": code, "detail": ended["detail"]}
    with pytest.raises(WebSocketDisconnect) as closed:
        socket.receive_json(timeout=10)
    assert closed.value.code == 4401


def test_logout_closes_the_sockets_opened_with_that_token(client, demo):
    session, other = session_of(client, demo), session_of(client, demo)
    with agent_socket(client, session) as revoked, agent_socket(client, other) as kept:
        assert revoked.receive_json(timeout=10)["type"] == "ready"
        assert kept.receive_json(timeout=10)["type"] == "ready"
        assert client.post("/api/v1/auth/logout", headers=bearer(session)).status_code == 204
        assert_closed_for(revoked, "revoked_token")
        kept.send_json({"type": "ping"})
        assert kept.receive_json(timeout=10) == {"type": "pong"}


def test_a_password_change_closes_the_other_sessions_sockets(client, demo):
    kept, stolen = session_of(client, demo), session_of(client, demo)
    with agent_socket(client, stolen) as socket:
        assert socket.receive_json(timeout=10)["type"] == "ready"
        assert (
            change_password(client, kept, demo["admin_password"], "a much better passphrase").status_code
            == 200
        )
        assert_closed_for(socket, "revoked_token")


def test_a_socket_closes_when_its_token_expires(client, demo, settings):
    async def short_lived_token(hub) -> str:
        async with hub.database.session() as session:
            agent = (await session.exec(select(Agent).where(Agent.email == demo["admin_email"]))).one()
        return await issue_token(hub, agent, "short", timedelta(seconds=4))

    token = run(short_lived_token, settings)
    with agent_socket(client, token) as socket:
        assert socket.receive_json(timeout=10)["type"] == "ready"
        assert_closed_for(socket, "expired_token")


SESSION = "/api/v1/auth/session"


def open_inbox_session(client: TestClient, demo: dict[str, Any]) -> str:
    """Sign in as the inbox does; the client keeps the cookie. Answers the session's CSRF token."""
    answer = client.post(SESSION, json={"email": demo["admin_email"], "password": demo["admin_password"]})
    assert answer.status_code == 200, answer.text
    return answer.json()["csrf_token"]


def set_presence(client: TestClient, presence: str, **headers: str):
    return client.put("/api/v1/me/presence", json={"presence": presence}, headers=headers)


def test_the_inbox_session_lives_in_an_httponly_strict_cookie_that_no_script_reads(client, demo):
    answer = client.post(SESSION, json={"email": demo["admin_email"], "password": demo["admin_password"]})
    assert answer.status_code == 200, answer.text
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("omnihub_session=")
    assert {"httponly", "samesite=strict", "path=/"} <= {part.strip().lower() for part in cookie.split(";")}
    assert "Max-Age=43200" in cookie
    assert "access_token" not in answer.json() and answer.json()["agent"]["email"] == demo["admin_email"]
    token = client.cookies["omnihub_session"]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200, (
        "an agent's token, as a login's"
    )

    again = client.get(SESSION)
    assert again.status_code == 200, "a reload or a new tab finds the session by its cookie"
    assert again.json()["csrf_token"] == answer.json()["csrf_token"]
    assert client.get("/api/v1/conversations").status_code == 200, "reads need the cookie alone"


def test_a_change_by_session_cookie_needs_the_sessions_own_csrf_token(client, demo):
    first_csrf = open_inbox_session(client, demo)
    second_csrf = open_inbox_session(client, demo)
    assert first_csrf != second_csrf, "each session has its own"

    refused = set_presence(client, "away")
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    assert "X-CSRF-Token" in refused.json()["detail"]
    assert set_presence(client, "away", **{"X-CSRF-Token": "0" * 64}).status_code == 403
    assert set_presence(client, "away", **{"X-CSRF-Token": first_csrf}).status_code == 403, (
        "another session's token does not vouch for this cookie"
    )
    [me] = [agent for agent in client.get("/api/v1/agents").json() if agent["email"] == demo["admin_email"]]
    assert me["presence"] != "away", "nothing changed"
    accepted = set_presence(client, "away", **{"X-CSRF-Token": second_csrf})
    assert accepted.status_code == 200, accepted.text

    token = client.cookies["omnihub_session"]
    client.cookies.clear()
    assert set_presence(client, "online", **bearer(token)).status_code == 200, (
        "a Bearer header, which no other site can make a browser send, needs no CSRF token"
    )


def test_signing_the_inbox_out_revokes_the_session_and_clears_the_cookie(client, demo):
    csrf = open_inbox_session(client, demo)
    token = client.cookies["omnihub_session"]
    assert client.delete(SESSION).status_code == 403, "another site cannot sign the agent out either"
    assert client.get(SESSION).status_code == 200

    signed_out = client.delete(SESSION, headers={"X-CSRF-Token": csrf})
    assert signed_out.status_code == 204
    assert "Max-Age=0" in signed_out.headers["set-cookie"]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    client.cookies.set("omnihub_session", token)
    assert client.get(SESSION).status_code == 401, "a copy of the old cookie is worth nothing"


def test_the_inbox_session_is_refused_to_integration_tokens_and_wrong_passwords(client, demo):
    made = client.post(
        "/api/v1/tokens", json={"name": "CRM", "scopes": ["read"]}, headers=bearer(demo["api_token"])
    )
    assert made.status_code == 201, made.text
    integration = client.get(SESSION, headers=bearer(made.json()["token"]))
    assert integration.status_code == 403 and integration.json()["code"] == "agent_only"
    wrong = client.post(SESSION, json={"email": demo["admin_email"], "password": "not the password"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert client.post(SESSION, data={"email": demo["admin_email"]}).status_code == 415


def test_the_inbox_socket_opens_by_session_cookie_with_the_csrf_token_in_its_first_frame(client, demo):
    csrf = open_inbox_session(client, demo)
    with client.websocket_connect("/api/v1/agent/ws") as socket:
        socket.send_json({"csrf_token": csrf})
        assert socket.receive_json(timeout=10)["type"] == "ready"
    with client.websocket_connect("/api/v1/agent/ws") as forged:
        forged.send_json({"type": "ping"})
        assert_closed_for(forged, "csrf_failed")
