"""CSV import of contacts with identities through `POST /api/v1/contacts/import`: the export's columns, bad rows
reported by line with the reason while the good rows are imported, never a merge, never a formula."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from litestar.testing import TestClient

from hub.contact_import import MAX_IMPORT_BYTES
from tests.conftest import assert_error_shape, bearer, inbox_of
from tests.hub.test_contacts import api, visit


def import_csv(client: TestClient, demo: dict[str, Any], body: bytes | str) -> Any:
    return client.post(
        "/api/v1/contacts/import",
        content=body.encode() if isinstance(body, str) else body,
        headers={**bearer(demo["api_token"]), "content-type": "text/csv"},
    )


def csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=["id", "name", "vip_level", "tags", "identities", "attributes", "notes"]
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def identities(*pairs: tuple[str, str]) -> str:
    return json.dumps([{"kind": kind, "value": value, "verified": True} for kind, value in pairs])


def found(client: TestClient, demo: dict[str, Any], query: str) -> list[dict[str, Any]]:
    return api(client, demo, "GET", "/contacts", params={"q": query}).json()["items"]


def test_good_rows_are_imported_and_each_bad_row_is_reported_by_line(client, demo) -> None:
    widget = inbox_of(demo, "webchat")["widget_token"]
    _token, conversation = visit(client, demo, widget, "hello")
    known = api(client, demo, "GET", f"/conversations/{conversation['id']}").json()["contact_id"]
    visitor = api(client, demo, "GET", f"/contacts/{known}").json()["identities"][0]
    api(client, demo, "PUT", "/workspace", json={"default_region": "CN"})
    body = csv_text(
        [
            {
                "name": "Wang Fang",
                "vip_level": "2",
                "tags": "vip\nwechat",
                "identities": identities(("email", "Wang.Fang@Example.com"), ("phone", "138 0013 8000")),
                "attributes": json.dumps({"plan": "gold"}),
                "notes": "multi\nline note",
            },
            {"name": "No identity", "identities": "[]"},
            {"name": "Bad JSON", "identities": "[{kind: email}"},
            {"name": "Bad phone", "identities": identities(("phone", "12"))},
            {"name": "Someone else", "identities": json.dumps([visitor])},
            {"name": "Bad level", "vip_level": "high", "identities": identities(("email", "x@example.com"))},
            {"name": "Too high", "vip_level": "11", "identities": identities(("email", "y@example.com"))},
            {
                "name": '\'=HYPERLINK("http://evil.example")',
                "identities": identities(("email", "f@example.com")),
            },
        ]
    )
    answer = import_csv(client, demo, body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["created"], result["updated"]) == (2, 0), result
    refused = {row["line"]: row["reason"] for row in result["refused"]}
    assert sorted(refused) == [5, 6, 7, 8, 9, 10]
    assert "no identities" in refused[5]
    assert "identities" in refused[6]
    assert "phone" in refused[7]
    assert known in refused[8] and "merge" in refused[8]
    assert "vip_level" in refused[9]
    assert "vip_level" in refused[10]

    [wang] = found(client, demo, "+86 13800138000")
    assert found(client, demo, "wang.fang@example.COM") == [wang]
    detail = api(client, demo, "GET", f"/contacts/{wang['id']}").json()
    assert (detail["name"], detail["vip_level"], detail["tags"]) == ("Wang Fang", 2, ["vip", "wechat"])
    assert detail["attributes"] == {"plan": "gold"} and detail["notes"] == "multi\nline note"
    assert all(item["verified"] for item in detail["identities"])
    [formula] = found(client, demo, "f@example.com")
    assert formula["name"] == '=HYPERLINK("http://evil.example")'
    exported = api(client, demo, "GET", "/contacts/export").text
    assert "'=HYPERLINK" in exported
    assert [item["name"] for item in found(client, demo, "someone else")] == []
    assert api(client, demo, "GET", f"/contacts/{known}").json()["name"] != "Someone else"


def test_an_exported_file_imports_back_as_updates_of_the_same_contacts(client, demo) -> None:
    widget = inbox_of(demo, "webchat")["widget_token"]
    _token, conversation = visit(client, demo, widget, "hello")
    contact_id = api(client, demo, "GET", f"/conversations/{conversation['id']}").json()["contact_id"]
    api(client, demo, "PATCH", f"/contacts/{contact_id}", json={"name": "-Dash", "tags": ["a", "b"]})
    exported = api(client, demo, "GET", "/contacts/export").text
    edited = exported.replace("'-Dash", "'-Dash Renamed")
    answer = import_csv(client, demo, edited)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"created": 0, "updated": 1, "refused": []}
    detail = api(client, demo, "GET", f"/contacts/{contact_id}").json()
    assert detail["name"] == "-Dash Renamed" and detail["tags"] == ["a", "b"]


def test_a_file_that_cannot_be_read_is_refused_whole(client, demo) -> None:
    cases = [
        (import_csv(client, demo, "name,email\nLi,li@example.com\n"), 422),
        (import_csv(client, demo, "name\nLi\n"), 422),
        (import_csv(client, demo, ""), 422),
        (import_csv(client, demo, b"identities\n" + b"\xff\xfe[]\n"), 400),
        (import_csv(client, demo, b"identities\n" + b"x" * (MAX_IMPORT_BYTES + 1)), 413),
    ]
    for answer, status in cases:
        assert answer.status_code == status, answer.text[:300]
        assert_error_shape(answer)
    assert api(client, demo, "GET", "/contacts").json()["items"] == []
