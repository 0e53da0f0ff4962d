"""Health, readiness, metrics, and the WebSockets' refusals."""

from __future__ import annotations

import pytest
from litestar.exceptions import WebSocketDisconnect

from tests.conftest import bearer, inbox_of, wait_for


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["checks"] == {"database": "ok", "broker": "ok"}


def test_metrics_expose_latency_counters_queue_depth_and_lag(client, demo):
    widget = inbox_of(demo, "webchat")["widget_token"]
    client.post(f"/widget/{widget}/messages", json={"text": "count me", "client_id": "m"})
    wait_for(lambda: client.get("/api/v1/conversations", headers=bearer(demo["api_token"])).json()["items"])
    text = wait_for(
        lambda: (
            (body := client.get("/metrics").text) and "omnihub_processing_lag_seconds_count" in body and body
        )
    )
    assert 'omnihub_inbound_events_total{channel="webchat"}' in text
    assert 'omnihub_messages_total{channel="webchat",direction="in"}' in text
    assert 'omnihub_queue_depth{queue="inbound_events"}' in text
    assert "omnihub_http_request_duration_seconds_bucket" in text
    assert 'path="/widget/{widget_token' in text, "latency is labelled by route template, not by token"
    assert "omnihub_outbound_failures_total" in text


def test_agent_socket_refuses_a_bad_token(client):
    with client.websocket_connect("/api/v1/agent/ws?token=omh_forged") as socket:
        error = socket.receive_json()
        assert error["type"] == "error" and error["code"] == "invalid_token"
        with pytest.raises(WebSocketDisconnect):
            socket.receive_json()


def test_widget_socket_refuses_disallowed_origins_and_forged_tokens(client, demo):
    created = client.post(
        "/api/v1/inboxes",
        headers=bearer(demo["api_token"]),
        json={"kind": "webchat", "name": "Shop", "settings": {"allowed_origins": ["https://shop.example"]}},
    ).json()
    token = created["widget_token"]
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(f"/widget/{token}/ws", headers={"Origin": "https://evil.example"}) as socket,
    ):
        socket.receive_json()
    with client.websocket_connect(
        f"/widget/{token}/ws?visitor_token=v1.x.y.1.forged", headers={"Origin": "https://shop.example"}
    ) as socket:
        error = socket.receive_json()
        assert error["type"] == "error" and error["code"] == "invalid_visitor_token"


def test_widget_socket_sends_acks_and_errors_per_frame(client, demo):
    widget = inbox_of(demo, "webchat")["widget_token"]
    with client.websocket_connect(f"/widget/{widget}/ws") as socket:
        socket.send_json({"visitor_token": None})
        ready = socket.receive_json()
        assert ready["type"] == "ready" and ready["visitor_token"] and ready["messages"] == []
        socket.send_text("not json")
        assert socket.receive_json()["code"] == "invalid_json"
        socket.send_json({"type": "message", "text": "", "client_id": "e"})
        assert socket.receive_json()["code"] == "invalid_message"
        socket.send_json({"type": "message", "text": "你好", "client_id": "c1"})
        frames = [socket.receive_json(), socket.receive_json()]
        ack = next(frame for frame in frames if frame["type"] == "ack")
        assert ack["client_id"] == "c1"
        echoed = next(frame for frame in frames if frame["type"] == "message.created")
        assert echoed["message"]["text"] == "你好" and echoed["message"]["id"] == ack["id"]


def test_a_widget_socket_opened_without_a_visitor_token_is_limited_per_visitor(settings, demo):
    """The socket keeps the visitor it was issued: its frames count against that visitor from the first one."""
    from litestar.testing import TestClient

    from hub.app import create_app

    limits = settings.model_copy(update={"visitor_rate_per_minute": 3, "ip_rate_per_minute": 100})
    widget = inbox_of(demo, "webchat")["widget_token"]
    with (
        TestClient(app=create_app(limits), base_url="http://testserver.local") as client,
        client.websocket_connect(f"/widget/{widget}/ws") as socket,
    ):
        socket.send_json({"visitor_token": None})
        assert socket.receive_json()["type"] == "ready"
        answers = []
        for number in range(3):
            socket.send_json({"type": "message", "text": f"spam {number}", "client_id": f"s{number}"})
            answer = socket.receive_json()
            while answer["type"] == "message.created":
                answer = socket.receive_json()
            answers.append(answer)
        assert [answer["type"] for answer in answers] == ["ack", "ack", "error"]
        assert answers[-1]["code"] == "rate_limited"
