"""Every error answers JSON `{"status_code", "code", "detail"}` (+ `errors`), Litestar's own ones included."""

from __future__ import annotations

import pytest
from litestar import Litestar, get
from litestar.exceptions import ClientException
from litestar.testing import TestClient

from hub.errors import error_handlers
from tests.conftest import assert_error_shape, bearer

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "arguments", "status", "code"),
    [
        ("GET", "/no/such/route", {"headers": {"Accept": "text/html"}}, 404, "not_found"),
        ("GET", "/api/v1/no-such-resource", {}, 404, "not_found"),
        ("DELETE", "/api/v1/inboxes", {}, 405, "method_not_allowed"),
        ("PUT", "/widget/abc/messages", {}, 405, "method_not_allowed"),
        (
            "POST",
            "/api/v1/auth/login",
            {"content": b'{"email": "a@b.c", "password": "' + b"x" * 1_100_000 + b'"}', "headers": JSON},
            413,
            "payload_too_large",
        ),
        ("POST", "/api/v1/auth/login", {"content": b"{", "headers": JSON}, 400, "invalid_json"),
        (
            "POST",
            "/api/v1/auth/login",
            {"content": b"{}", "headers": {"Content-Type": "text/plain"}},
            415,
            "unsupported_media_type",
        ),
        ("POST", "/api/v1/auth/login", {"json": {"email": 5, "password": "x"}}, 400, "invalid_request"),
        ("POST", "/api/v1/auth/login", {"json": ["a@b.c", "x"]}, 400, "invalid_request"),
        (
            "POST",
            "/api/v1/attachments",
            {"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
            400,
            "bad_request",
        ),
        ("GET", "/api/v1/conversations", {"params": {"limit": 1000}}, 400, "invalid_request"),
    ],
)
def test_litestar_errors_answer_the_one_shape(client, demo, method, path, arguments, status, code):
    headers = {**bearer(demo["api_token"]), **arguments.pop("headers", {})}
    answer = client.request(method, path, headers=headers, **arguments)
    assert answer.status_code == status, answer.text
    assert_error_shape(answer)
    assert answer.json()["code"] == code


def test_a_field_that_breaks_its_declared_type_is_named(client, demo):
    answer = client.post("/api/v1/auth/login", json={"email": "a@b.c"})
    assert answer.status_code == 400
    assert answer.json()["errors"] == [
        {"field": "body", "message": "Object missing required field `password`", "source": "body"}
    ]
    answer = client.get("/api/v1/conversations", headers=bearer(demo["api_token"]), params={"limit": 0})
    assert answer.json()["errors"] == [
        {"field": "limit", "message": "Expected `int` >= 1", "source": "query"}
    ]


def test_an_unsupported_media_type_and_an_unexpected_failure_answer_the_one_shape():
    @get("/unsupported")
    async def unsupported() -> None:
        raise ClientException(status_code=415, detail="Send JSON.")

    @get("/broken")
    async def broken() -> None:
        raise RuntimeError("secret internals")

    app = Litestar([unsupported, broken], exception_handlers=error_handlers)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/unsupported")
        assert answer.status_code == 415 and answer.json()["code"] == "unsupported_media_type"
        assert_error_shape(answer)
        answer = client.get("/broken", headers={"Accept": "text/html"})
        assert answer.status_code == 500
        assert answer.json() == {"status_code": 500, "code": "internal_error", "detail": "Internal error"}
        assert "secret internals" not in answer.text and "Traceback" not in answer.text
