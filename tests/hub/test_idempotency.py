"""`Idempotency-Key` on the API's POSTs: a repeat answers the first answer and creates nothing new; the key with
another request is refused; a key still being answered gets 409; answers kept sealed; keys belong to their token."""

from __future__ import annotations

import hashlib
import json

from sqlmodel import select

from hub.crypto import hash_api_token
from hub.models import IdempotentRequest
from tests.conftest import assert_error_shape, bearer, run
from tests.hub.test_knowledge_base_api import RETURNS, SHIPPING, other_token  # noqa: F401


def post(client, token: str, key: str, body: dict, path: str = "/api/v1/kb/articles"):
    return client.post(path, json=body, headers={**bearer(token), "Idempotency-Key": key})


def articles(client, token: str) -> list[dict]:
    return client.get("/api/v1/kb/articles", headers=bearer(token)).json()["items"]


def test_a_repeated_post_answers_the_first_answer_and_creates_nothing(client, demo):
    token = demo["api_token"]
    first = post(client, token, "create-returns-1", RETURNS)
    again = post(client, token, "create-returns-1", RETURNS)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert [article["id"] for article in articles(client, token)] == [first.json()["id"]]
    assert post(client, token, "create-returns-2", RETURNS).json()["id"] != first.json()["id"]


def test_the_key_with_another_body_is_refused(client, demo):
    token = demo["api_token"]
    assert post(client, token, "k-1", RETURNS).status_code == 201
    reused = post(client, token, "k-1", SHIPPING)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert_error_shape(reused)
    assert len(articles(client, token)) == 1


def test_a_refusal_is_answered_again_and_other_tokens_keys_are_their_own(client, demo, other_token):  # noqa: F811
    token = demo["api_token"]
    bad = {**RETURNS, "title": ""}
    assert post(client, token, "k-bad", bad).status_code == 400
    assert post(client, token, "k-bad", bad).headers["idempotent-replayed"] == "true"
    mine = post(client, token, "shared-key", RETURNS)
    theirs = post(client, other_token, "shared-key", RETURNS)
    assert mine.status_code == theirs.status_code == 201 and mine.json()["id"] != theirs.json()["id"]


def test_a_key_still_being_answered_gets_409_and_bad_keys_400(client, demo, settings):
    token = demo["api_token"]
    body = json.dumps(RETURNS).encode()
    fingerprint = hashlib.sha256(b"\0".join([b"POST", b"/api/v1/kb/articles", b"", body])).hexdigest()

    async def under_way(hub) -> None:
        async with hub.database.session() as session:
            session.add(
                IdempotentRequest(token_hash=hash_api_token(token), key="busy", fingerprint=fingerprint)
            )
            await session.commit()

    run(under_way, settings)
    headers = {**bearer(token), "Idempotency-Key": "busy", "content-type": "application/json"}
    busy = client.post("/api/v1/kb/articles", content=body, headers=headers)
    assert busy.status_code == 409 and busy.json()["code"] == "idempotency_key_in_use"
    assert busy.headers["retry-after"] == "1"
    too_long = post(client, token, "k" * 256, RETURNS)
    assert too_long.status_code == 400 and too_long.json()["code"] == "invalid_idempotency_key"
    assert articles(client, token) == []


def test_kept_answers_are_sealed_so_a_secret_shown_once_is_not_stored(client, demo, settings):
    token = demo["api_token"]
    made = post(
        client,
        token,
        "hook-1",
        {"url": "https://crm.example.com/h", "events": ["message.created"]},
        "/api/v1/webhooks",
    )
    assert made.status_code == 201

    async def kept(hub) -> list[bytes]:
        async with hub.database.session() as session:
            return [row.body for row in (await session.exec(select(IdempotentRequest))).all()]

    (stored,) = run(kept, settings)
    assert made.json()["secret"].encode() not in stored and b"whsec_" not in stored
