"""The widget socket: the visitor's typing relayed to the agents of the inbox's workspace only, throttled and not
counted against the visitor's messages; a refused message's error frame names it and, when limited, the wait."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from hub.settings import Settings
from tests.conftest import inbox_of
from tests.hub.workspaces import other_admin_token  # noqa: F401


def frames_until(socket: Any, done: Any) -> list[dict[str, Any]]:
    """The frames a socket receives up to and including the first one `done` accepts."""
    frames = [socket.receive_json(timeout=10)]
    while not done(frames[-1]):
        frames.append(socket.receive_json(timeout=10))
    return frames


def is_message(frame: dict[str, Any], text: str) -> bool:
    return frame["type"] == "message.created" and frame["message"]["text"] == text


def test_typing_reaches_the_workspaces_agents_once_per_interval_and_no_other_workspace(
    client: TestClient,
    demo: dict[str, Any],
    settings: Settings,
    other_admin_token: str,  # noqa: F811
) -> None:
    keystrokes = settings.visitor_rate_per_minute + 5  # more than the visitor may send messages in a minute
    widget = inbox_of(demo, "webchat")["widget_token"]
    with (
        client.websocket_connect(f"/api/v1/agent/ws?token={demo['api_token']}") as agent,
        client.websocket_connect(f"/api/v1/agent/ws?token={other_admin_token}") as rival,
    ):
        assert agent.receive_json()["type"] == "ready"
        assert rival.receive_json()["type"] == "ready"
        with client.websocket_connect(f"/widget/{widget}/ws") as visitor:
            visitor.send_json({"visitor_token": None})
            assert visitor.receive_json()["type"] == "ready"
            visitor.send_json({"type": "message", "text": "first", "client_id": "c1"})
            frames_until(visitor, lambda frame: frame["type"] == "ack")
            [first] = [
                frame["message"]
                for frame in frames_until(agent, lambda frame: is_message(frame, "first"))
                if is_message(frame, "first")
            ]
            for _ in range(keystrokes):
                visitor.send_json({"type": "typing"})
            visitor.send_json({"type": "message", "text": "second", "client_id": "c2"})
            answers = frames_until(visitor, lambda frame: frame["type"] == "ack")
            assert all(frame["type"] != "error" for frame in answers)  # typing: no answer, no rate_limited

        seen = frames_until(agent, lambda frame: is_message(frame, "second"))
        typing = [frame for frame in seen if frame["type"] == "conversation.customer_typing"]
        # the keystrokes came within one TYPING_RELAY_SECONDS: one event
        assert typing == [
            {"type": "conversation.customer_typing", "conversation_id": first["conversation_id"]}
        ]

        rival.send_json({"type": "ping"})
        rival_frames = frames_until(rival, lambda frame: frame["type"] == "pong")
        assert all(frame["type"] != "conversation.customer_typing" for frame in rival_frames)


def test_a_refused_message_is_named_in_its_error_frame_with_the_wait_when_limited(
    client: TestClient, demo: dict[str, Any], settings: Settings
) -> None:
    widget = inbox_of(demo, "webchat")["widget_token"]
    with client.websocket_connect(f"/widget/{widget}/ws") as visitor:
        visitor.send_json({"visitor_token": None})
        assert visitor.receive_json()["type"] == "ready"
        visitor.send_json({"type": "message", "text": "x" * 4001, "client_id": "too-long"})
        invalid = frames_until(visitor, lambda frame: frame["type"] == "error")[-1]
        assert (invalid["code"], invalid["client_id"]) == ("invalid_message", "too-long")
        assert "4000" in invalid["detail"]
        for number in range(settings.visitor_rate_per_minute + 1):
            visitor.send_json({"type": "message", "text": str(number), "client_id": f"c{number}"})
        limited = frames_until(
            visitor, lambda frame: frame["type"] == "error" and frame["code"] == "rate_limited"
        )[-1]
    assert limited["client_id"].startswith("c")
    assert 1 <= limited["retry_after"] <= 60
    assert "Too many messages" in limited["detail"]
