"""Property: whatever a client sends to an operation of the served OpenAPI document, with a valid token, a forged
one or none, the hub answers without a server error, and every error in the one shape; on SQLite and PostgreSQL.

Schemathesis draws the requests from the document (valid ones, and ones that break it); they go to the app
in-process through Litestar's TestClient, on the event loop that runs the app's lifespan. (Its own ASGI client
would run the lifespan on a loop of its own until the process exits.) The WebSockets are outside the document:
test_malformed_input sends them bad frames.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from schemathesis import APIOperation, Case, GenerationMode
from sqlmodel import select

from hub.app import create_app
from hub.auth import issue_token
from hub.demo import DEMO_ADMIN_EMAIL, ensure_demo
from hub.models import Agent
from hub.runtime import Hub
from hub.settings import Settings
from tests.conftest import assert_error_shape, bearer, inbox_of, run, wait_for
from tests.hub.openapi_support import Conformance

EXAMPLES_PER_OPERATION = 50
"""Some 120 operations: at most 6,000 requests per database, about 70 seconds on a quiet machine."""
FORGED_API_TOKEN = "omh_" + "A" * 43
FORGED_VISITOR_TOKEN = "v1.x.y.1.forged"
HOSTILE_TEXTS = ["a\x00b", "\x00\x1b[0m\r\n", "é订单😀\x00", "x" * 5000]
"""NUL (which PostgreSQL refuses in text), control characters, non-ASCII and length: what broke the hub before."""


def test_no_operation_answers_a_server_error_on_sqlite(settings: Settings) -> None:
    _fuzz(settings)


def test_no_operation_answers_a_server_error_on_postgresql(
    settings: Settings, migrated_postgres_url: str
) -> None:
    _fuzz(settings.model_copy(update={"database_url": migrated_postgres_url}))


def test_the_document_declares_the_input_limits(client: TestClient) -> None:
    """What the property run draws from: without the limits, it would not know an id from free text."""
    document = client.get("/schema/openapi.json").json()
    [conversation_id] = document["paths"]["/api/v1/conversations/{conversation_id}"]["get"]["parameters"]
    assert conversation_id["schema"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$"
    widget_message = document["paths"]["/widget/{widget_token}/messages"]["post"]["requestBody"]["content"]
    assert widget_message["application/json"]["schema"] == {"$ref": "#/components/schemas/WidgetMessage"}
    fields = document["components"]["schemas"]["WidgetMessage"]["properties"]
    assert fields["text"]["maxLength"] == 4000 and fields["client_id"]["maxLength"] == 100
    assert document["components"]["schemas"]["UploadForm"]["properties"]["file"]["format"] == "binary"


def _fuzz(settings: Settings) -> None:
    demo = run(ensure_demo, settings)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        known = _known_values(client, demo)
        document = client.get("/schema/openapi.json").json()
        conformance = Conformance(document)
        operations = [result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations()]
        api_tokens = run(lambda hub: _admin_tokens(hub, len(operations)), settings)
        for operation, api_token in zip(operations, api_tokens, strict=True):
            valid, other = (
                (known["visitor_token"], api_token)
                if operation.path.startswith("/widget/")
                else (api_token, known["visitor_token"])
            )
            _exercise(
                client,
                conformance,
                operation,
                known,
                bearer(valid),
                st.sampled_from(
                    [
                        None,
                        bearer(valid),
                        bearer(other),
                        bearer(FORGED_API_TOKEN),
                        bearer(FORGED_VISITOR_TOKEN),
                        {"Authorization": b"Bearer \xff\x00"},
                    ]
                ),
            )


def _exercise(
    client: TestClient,
    conformance: Conformance,
    operation: APIOperation,
    known: dict[str, str],
    valid: dict[str, str],
    authorizations: st.SearchStrategy[dict[str, Any] | None],
) -> None:
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(*(operation.as_strategy(mode) for mode in GenerationMode)), data=st.data())
    def no_server_error(case: Case, data: st.DataObject) -> None:
        hostile = data.draw(st.booleans())
        # A hostile text goes with what lets the handler use it: the operation's credential and rows that exist.
        if hostile or data.draw(st.booleans()):
            case.path_parameters = {
                **case.path_parameters,
                **{name: value for name, value in known.items() if name in case.path_parameters},
            }
        if hostile:
            _plant_hostile_text(case, data)
        if isinstance(case.query, dict) and case.query.get("wait") not in (None, 0):
            case.query["wait"] = 0  # a long poll would only wait: nothing else happens meanwhile
        request = _httpx_arguments(case.as_transport_kwargs(base_url=str(client.base_url)))
        request["headers"] = {
            **request["headers"],
            **((valid if hostile else data.draw(authorizations)) or {}),
        }
        answer = client.request(**request)
        assert answer.status_code < 500, f"{request!r:.2000} answered {answer.status_code}"
        if answer.status_code >= 400:
            assert_error_shape(answer)
        conformance.check(operation.path, operation.method, answer)

    no_server_error()


async def _admin_tokens(hub: Hub, count: int) -> list[str]:
    """A token of its own for each operation: one that logs out (revokes its token) leaves the others theirs."""
    async with hub.database.session() as session:
        admin = (await session.exec(select(Agent).where(Agent.email == DEMO_ADMIN_EMAIL))).one()
    return [await issue_token(hub, admin, "property run", None) for _ in range(count)]


def _known_values(client: TestClient, demo: dict[str, Any]) -> dict[str, str]:
    """Ids and tokens of rows that exist, so drawn requests reach the handlers' work and not only their 404s."""
    widget = inbox_of(demo, "webchat")
    first = client.post(
        f"/widget/{widget['widget_token']}/messages", json={"text": "hello", "client_id": "seed"}
    )
    assert first.status_code == 201, first.text
    api = bearer(demo["api_token"])
    [conversation] = wait_for(lambda: client.get("/api/v1/conversations", headers=api).json()["items"])
    return {
        "conversation_id": conversation["id"],
        "inbox_id": widget["id"],
        "widget_token": widget["widget_token"],
        "kind": widget["kind"],
        "visitor_token": first.json()["visitor_token"],
    }


def _plant_hostile_text(case: Case, data: st.DataObject) -> None:
    """Put a hostile text in one parameter (drawn or not) or top-level body field: the document's own strategies
    rarely draw a NUL or a 5,000-character id. (Schemathesis keeps path parameters URL-encoded.)"""
    if case.query is None:
        case.query = {}
    fields: list[tuple[dict[str, Any], str]] = [
        *((case.path_parameters, name) for name in case.path_parameters),
        *((case.query, parameter.name) for parameter in case.operation.query),
        *((case.body, name) for name in (case.body if isinstance(case.body, dict) else ())),
    ]
    if not fields:
        return
    container, name = data.draw(st.sampled_from(fields))
    text = data.draw(st.sampled_from(HOSTILE_TEXTS))
    if container is case.path_parameters:
        text = quote(text, safe="")
    elif container is case.query and data.draw(st.booleans()):
        case.query.clear()  # alone, so that no other parameter's refusal hides what this one does
    container[name] = text


def _httpx_arguments(transport_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Schemathesis prepares `requests` arguments; the TestClient is httpx, which takes raw bodies as `content` and
    multipart values only as text or bytes (requests writes a number as its digits)."""
    arguments = {name: value for name, value in transport_kwargs.items() if name != "cookies"}
    if isinstance(arguments.get("data"), bytes | str):
        arguments["content"] = arguments.pop("data")
    if arguments.get("files"):
        arguments["files"] = [
            (name, (part[0], _multipart_value(part[1]), *part[2:])) for name, part in arguments["files"]
        ]
    return arguments


def _multipart_value(value: Any) -> bytes | str:
    return value if isinstance(value, bytes | str) else str(value)
