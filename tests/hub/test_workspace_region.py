"""The workspace's default region: set by an admin through `/api/v1/workspace`, and then the region every phone
number written without its country code is read in, by search, by identify and by inbound messages."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from litestar.testing import TestClient
from pydantic import BaseModel

from connectors import PermanentSendError
from tests.conftest import assert_error_shape, bearer, inbox_of, wait_for
from tests.hub.signed_json_channel import SignedJsonChannel
from tests.hub.test_contacts import api, contact, identify, signed, visit

NATIONAL_MOBILE = "139 0013 9000"
"""A mainland China mobile written as a Chinese customer writes it: no country code."""


class NationalPhoneSettings(BaseModel):
    """A test channel that needs no settings."""


class NationalPhoneChannel(SignedJsonChannel):
    """A phone channel that gives the sender's number in its national form, as some SMS gateways do."""

    kind = "national_phone"
    display_name = "National phone"
    settings_model = NationalPhoneSettings
    customer_phone: ClassVar[str] = NATIONAL_MOBILE

    async def send(self, outbound, context):
        raise PermanentSendError("this test channel never sends")


def set_region(client: TestClient, demo: dict[str, Any], region: str) -> Any:
    return api(client, demo, "PUT", "/workspace", json={"default_region": region})


def test_an_admin_sets_the_region_and_bad_regions_are_refused(client, demo) -> None:
    workspace = api(client, demo, "GET", "/workspace").json()
    assert (workspace["id"], workspace["default_region"]) == (demo["workspace_id"], "US")
    for region, status in (("ZZ", 422), ("UK", 422), ("USA", 400), ("", 400), ("0", 400)):
        refused = set_region(client, demo, region)
        assert refused.status_code == status, (region, refused.text)
        assert_error_shape(refused)
    assert api(client, demo, "GET", "/workspace").json()["default_region"] == "US"
    reader = api(client, demo, "POST", "/tokens", json={"name": "reader", "scopes": ["read"]}).json()["token"]
    forbidden = client.put("/api/v1/workspace", json={"default_region": "CN"}, headers=bearer(reader))
    assert forbidden.status_code == 403
    assert_error_shape(forbidden)
    changed = set_region(client, demo, "cn")
    assert changed.status_code == 200, changed.text
    assert changed.json()["default_region"] == "CN"
    assert client.get("/api/v1/workspace", headers=bearer(reader)).json()["default_region"] == "CN"


def test_identify_and_search_read_national_numbers_in_the_workspace_region(
    client,
    demo,
) -> None:
    webchat = inbox_of(demo, "webchat")
    widget, secret = webchat["widget_token"], webchat["identity_secret"]
    token, conversation = visit(client, demo, widget, "hello")
    claims = {"user_id": "u-cn", "phone": NATIONAL_MOBILE, "identifier_hash": signed(secret, "u-cn")}
    in_us = identify(client, widget, token, **claims)
    assert in_us.status_code == 422, in_us.text
    assert set_region(client, demo, "CN").status_code == 200
    assert identify(client, widget, token, **claims).json() == {"verified": True}
    contact_id = api(client, demo, "GET", f"/conversations/{conversation['id']}").json()["contact_id"]
    assert ("phone", "+8613900139000") in {
        (item["kind"], item["value"]) for item in contact(client, demo, contact_id)["identities"]
    }
    for query in ("13900139000", "139-0013-9000", "+86 139 0013 9000"):
        found = api(client, demo, "GET", "/contacts", params={"q": query}).json()["items"]
        assert [item["id"] for item in found] == [contact_id], query


def test_an_inbound_message_from_a_national_number_joins_the_contact_the_region_names(client, demo) -> None:
    client.app.state.hub.registry.register(NationalPhoneChannel)
    assert set_region(client, demo, "CN").status_code == 200
    inbox = api(
        client, demo, "POST", "/inboxes", json={"kind": "national_phone", "name": "SMS", "settings": {}}
    ).json()
    delivered = client.post(
        f"/webhooks/national_phone/{inbox['id']}",
        headers={"x-signature": "good"},
        content=json.dumps({"id": "sms-1", "text": "hello"}),
    )
    assert delivered.status_code == 200, delivered.text
    conversation = wait_for(
        lambda: next(
            (
                item
                for item in api(client, demo, "GET", "/conversations").json()["items"]
                if item["inbox_id"] == inbox["id"]
            ),
            None,
        )
    )
    found = contact(client, demo, conversation["contact_id"])
    assert [(item["kind"], item["value"]) for item in found["identities"]] == [("phone", "+8613900139000")]
