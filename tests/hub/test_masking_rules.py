"""A workspace's masking rules (`masking` in `/api/v1/workspace`) where customers' text is shown: the agent's
message view, the agents' live socket, webhook payloads of subscriptions that ask for it; and the built-in kinds
in log lines whatever the workspace."""

from __future__ import annotations

import logging
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hub.logs import configure_logging
from normalizer.masking import MaskingRules, template_pattern
from tests.conftest import assert_error_shape, bearer, inbox_of, wait_for
from tests.hub.test_bot_conversations import Visitor
from tests.hub.test_contacts import api
from tests.hub.test_logs import root_logging  # noqa: F401
from tests.hub.test_webhooks import deliveries, hooked, hooked_settings, receiver  # noqa: F401

SAID = "order ORD-12345678, card 4111 1111 1111 1111, ID 11010519491231002X"
ORDERS_ONLY = "order ***-****5678, card 4111 1111 1111 1111, ID 11010519491231002X"


def set_masking(client, demo: dict[str, Any], **masking: Any) -> Any:
    return api(client, demo, "PUT", "/workspace", json={"masking": masking})


def test_masking_rules_are_set_by_admins_and_bad_templates_refused(client, demo) -> None:
    assert api(client, demo, "GET", "/workspace").json()["masking"] == {
        "card_numbers": True,
        "china_resident_ids": True,
        "templates": [],
    }
    for templates in (["ORD"], ["ORD-NUMBER"], ['ORD-"####'], ["#" * 41]):
        refused = set_masking(client, demo, templates=templates)
        assert refused.status_code in (400, 422), refused.text
        assert_error_shape(refused)
    reader = api(client, demo, "POST", "/tokens", json={"name": "r", "scopes": ["read", "write"]}).json()
    forbidden = client.put("/api/v1/workspace", json={"masking": {}}, headers=bearer(reader["token"]))
    assert forbidden.status_code == 403
    changed = set_masking(
        client, demo, card_numbers=False, china_resident_ids=False, templates=["ORD-########"]
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["masking"]["templates"] == ["ORD-########"]
    assert changed.json()["default_region"] == "US", "a field left out stays as it was"


def test_agents_see_the_workspace_rules_in_the_api_and_live(client, demo) -> None:
    set_masking(client, demo, card_numbers=False, china_resident_ids=False, templates=["ORD-########"])
    with client.websocket_connect(f"/api/v1/agent/ws?token={demo['api_token']}") as socket:
        assert socket.receive_json()["type"] == "ready"
        Visitor(client, inbox_of(demo, "webchat")["widget_token"]).say(SAID)
        event = socket.receive_json(timeout=10)
        while event["type"] != "message.created":
            event = socket.receive_json(timeout=10)
    assert event["message"]["text"] == ORDERS_ONLY
    conversation = api(client, demo, "GET", "/conversations").json()["items"][0]
    [message] = api(client, demo, "GET", f"/conversations/{conversation['id']}/messages").json()["items"]
    assert message["text"] == ORDERS_ONLY


def test_the_live_socket_masks_cards_and_ids_by_default(client, demo) -> None:
    with client.websocket_connect(f"/api/v1/agent/ws?token={demo['api_token']}") as socket:
        assert socket.receive_json()["type"] == "ready"
        Visitor(client, inbox_of(demo, "webchat")["widget_token"]).say(SAID)
        event = socket.receive_json(timeout=10)
        while event["type"] != "message.created":
            event = socket.receive_json(timeout=10)
    assert event["message"]["text"] == ("order ORD-12345678, card **** **** **** 1111, ID **************002X")


def test_a_subscription_asking_for_masked_payloads_gets_them_and_another_does_not(
    hooked,  # noqa: F811
    demo,
    receiver,  # noqa: F811
) -> None:
    token = demo["api_token"]
    masked = hooked.post(
        "/api/v1/webhooks",
        json={"url": receiver.url("/masked"), "events": ["message.created"], "mask_sensitive": True},
        headers=bearer(token),
    ).json()
    assert masked["mask_sensitive"] is True
    plain = hooked.post(
        "/api/v1/webhooks",
        json={"url": receiver.url("/plain"), "events": ["message.created"]},
        headers=bearer(token),
    ).json()
    assert plain["mask_sensitive"] is False
    Visitor(hooked, inbox_of(demo, "webchat")["widget_token"]).say(SAID)
    [masked_event] = wait_for(lambda: receiver.at("/masked"))
    [plain_event] = wait_for(lambda: receiver.at("/plain"))
    assert masked_event.event["data"]["message"]["text"] == (
        "order ORD-12345678, card **** **** **** 1111, ID **************002X"
    )
    assert plain_event.event["data"]["message"]["text"] == SAID
    changed = hooked.patch(
        f"/api/v1/webhooks/{plain['id']}", json={"mask_sensitive": True}, headers=bearer(token)
    )
    assert changed.json()["mask_sensitive"] is True
    assert deliveries(hooked, token, masked["id"])


def test_log_lines_mask_card_and_resident_id_numbers(root_logging, capsys) -> None:  # noqa: F811
    configure_logging("INFO", False)
    logging.getLogger("omnihub.test").info("customer wrote %s", SAID)
    text = capsys.readouterr().err
    assert "4111 1111 1111 1111" not in text and "11010519491231002X" not in text
    assert "1111" in text and "002X" in text


@given(st.text(alphabet="0123456789ORD- x", max_size=60))
def test_a_template_masks_only_its_shape_and_keeps_the_text_length(text: str) -> None:
    rules = MaskingRules(card_numbers=False, china_resident_ids=False, templates=("ORD-########",))
    masked = rules.mask(text)
    assert len(masked) == len(text)
    assert template_pattern("ORD-########").search(masked) is None or masked == text
