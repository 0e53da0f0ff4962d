"""The secret key: weak ones refused at start, older ones kept as fallbacks, stored secrets rotated by command."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from click.testing import CliRunner, Result
from litestar.testing import TestClient
from pydantic import ValidationError
from sqlmodel import select

from hub.app import create_app
from hub.cli import main
from hub.models import Inbox, SharedValue, WorkspaceBot
from hub.runtime import ENCRYPTED
from hub.settings import Settings
from tests.conftest import bearer, run

OLD_KEY = "old-key-" + secrets.token_urlsafe(32)
NEW_KEY = "new-key-" + secrets.token_urlsafe(32)


@pytest.mark.parametrize("key", ["", "short", "x" * 31])
@pytest.mark.parametrize("redis_url", [None, "redis://127.0.0.1:6379/0"], ids=["embedded", "production"])
def test_a_secret_key_under_32_characters_is_refused_in_every_mode(environment, monkeypatch, key, redis_url):
    monkeypatch.setenv("OMNIHUB_SECRET_KEY", key)
    with pytest.raises(ValidationError, match=r"secret_key[\s\S]*at least 32 characters"):
        Settings(redis_url=redis_url)
    refused = CliRunner().invoke(main, ["migrate"])
    assert refused.exit_code == 1
    assert "OMNIHUB_SECRET_KEY: must be at least 32 characters" in refused.output
    assert "Traceback" not in refused.output


def test_production_needs_a_secret_key(environment):
    with pytest.raises(ValidationError, match="OMNIHUB_SECRET_KEY must be set in production"):
        Settings(redis_url="redis://127.0.0.1:6379/0")
    assert Settings(redis_url="redis://127.0.0.1:6379/0", secret_key="k" * 32).production


def test_fallback_keys_and_trusted_proxies_are_comma_separated_in_the_environment(environment, monkeypatch):
    monkeypatch.setenv("OMNIHUB_SECRET_KEY_FALLBACKS", "first-older-key, second,")
    monkeypatch.setenv("OMNIHUB_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
    settings = Settings()
    assert settings.fallback_key_bytes() == [b"first-older-key", b"second"]
    assert [str(network) for network in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.7/32"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("secret_key_fallbacks", [""]),
        ("trusted_proxies", "10.0.0.1/8"),
        ("trusted_proxies", "proxy.internal"),
    ],
)
def test_bad_fallbacks_and_proxies_are_refused_naming_the_setting(environment, name, value):
    with pytest.raises(ValidationError, match=name):
        Settings(**{name: value})


def omnihub(*arguments: str) -> Result:
    return CliRunner().invoke(main, list(arguments), catch_exceptions=False)


def use_keys(monkeypatch: pytest.MonkeyPatch, current: str, *fallbacks: str) -> None:
    monkeypatch.setenv("OMNIHUB_SECRET_KEY", current)
    monkeypatch.setenv("OMNIHUB_SECRET_KEY_FALLBACKS", ",".join(fallbacks))


def start_chat(client: TestClient, widget_token: str) -> str:
    answer = client.post(f"/widget/{widget_token}/messages", json={"text": "hello", "client_id": "c1"})
    assert answer.status_code == 201, answer.text
    return answer.json()["visitor_token"]


def visitor_history(client: TestClient, widget_token: str, visitor_token: str) -> int:
    return client.get(f"/widget/{widget_token}/messages", headers=bearer(visitor_token)).status_code


def hub_client() -> TestClient:
    return TestClient(app=create_app(Settings(embedded_worker=False)), base_url="http://testserver.local")


def encrypted_inbox_settings(settings: Settings) -> dict[str, str]:
    async def read(hub) -> dict[str, str]:
        async with hub.database.session() as session:
            inboxes = (await session.exec(select(Inbox))).all()
        return {
            f"{inbox.id}.{name}": value[ENCRYPTED]
            for inbox in inboxes
            for name, value in inbox.settings.items()
            if isinstance(value, dict) and ENCRYPTED in value
        }

    return run(read, settings)


BOT_API_KEY = "sk-rotated-0123456789"
BOT_SIGNING_SECRET = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def bot_engine_secrets(settings: Settings) -> dict[str, str]:
    """The bot engines' sealed credentials, opened with the settings' keys."""

    async def read(hub) -> dict[str, str]:
        async with hub.database.session() as session:
            (bot,) = (await session.exec(select(WorkspaceBot))).all()
        return {
            "llm.api_key": hub.box.decrypt(bot.llm["api_key"][ENCRYPTED]),
            "webhook.secret": hub.box.decrypt(bot.webhook["secret"][ENCRYPTED]),
        }

    return run(read, settings)


def shared_values(settings: Settings) -> dict[str, str]:
    async def read(hub) -> dict[str, str]:
        async with hub.database.session() as session:
            return {row.key: row.value for row in (await session.exec(select(SharedValue))).all()}

    return run(read, settings)


def test_a_rotated_key_keeps_everything_working_and_rotate_secrets_moves_stored_secrets(
    environment, monkeypatch
):
    use_keys(monkeypatch, OLD_KEY)
    demo: dict[str, Any] = json.loads(omnihub("demo", "--json").stdout)
    widget = next(inbox["widget_token"] for inbox in demo["inboxes"] if inbox["kind"] == "webchat")
    with hub_client() as client:
        old_visitor = start_chat(client, widget)
        engines = client.put(
            "/api/v1/bot/engines",
            json={
                "llm": {"base_url": "https://llm.example.com/v1", "model": "m", "api_key": BOT_API_KEY},
                "webhook": {"url": "https://bot.example.com/hook", "secret": BOT_SIGNING_SECRET},
            },
            headers=bearer(demo["api_token"]),
        )
        assert engines.status_code == 200, engines.text
        hooked = client.post(
            "/api/v1/webhooks",
            json={"url": "https://crm.example.com/hook", "events": ["message.created"]},
            headers=bearer(demo["api_token"]),
        )
        assert hooked.status_code == 201, hooked.text
    under_old_key = encrypted_inbox_settings(Settings())
    assert under_old_key, "the demo has inboxes with secret settings"

    use_keys(monkeypatch, NEW_KEY, OLD_KEY)
    with hub_client() as client:
        assert visitor_history(client, widget, old_visitor) == 200, (
            "a token signed with a fallback key is accepted"
        )
        new_visitor = start_chat(client, widget)
        assert client.get("/api/v1/inboxes", headers=bearer(demo["api_token"])).status_code == 200

    rotated = omnihub("rotate-secrets")
    assert rotated.exit_code == 0, rotated.output
    stored = shared_values(Settings())
    assert (
        f"inbox secrets: {len(under_old_key)} re-encrypted under the current key, 0 already under it"
        in rotated.stdout
    )
    assert (
        f"shared values: {len(stored)} re-encrypted under the current key, 0 already under it"
        in rotated.stdout
    )
    assert "bot secrets: 2 re-encrypted under the current key, 0 already under it" in rotated.stdout
    assert "webhook secrets: 1 re-encrypted under the current key, 0 already under it" in rotated.stdout
    under_new_key = encrypted_inbox_settings(Settings())
    assert under_new_key.keys() == under_old_key.keys()
    assert not set(under_new_key.values()) & set(under_old_key.values())
    again = json.loads(omnihub("rotate-secrets", "--json").stdout)
    assert again == {
        "inbox_secrets": {"reencrypted": 0, "already_current": len(under_old_key)},
        "shared_values": {"reencrypted": 0, "already_current": len(stored)},
        "bot_secrets": {"reencrypted": 0, "already_current": 2},
        "webhook_secrets": {"reencrypted": 0, "already_current": 1},
        "unreadable": [],
    }

    use_keys(monkeypatch, NEW_KEY)
    assert json.loads(omnihub("demo", "--json").stdout) == demo, (
        "the remembered demo secrets decrypt under the new key"
    )
    assert bot_engine_secrets(Settings()) == {
        "llm.api_key": BOT_API_KEY,
        "webhook.secret": BOT_SIGNING_SECRET,
    }
    with hub_client() as client:
        assert client.get("/api/v1/inboxes", headers=bearer(demo["api_token"])).status_code == 200
        assert visitor_history(client, widget, new_visitor) == 200, (
            "new tokens are signed with the current key"
        )
        assert visitor_history(client, widget, old_visitor) == 401, (
            "without the fallback the old key signs nothing valid"
        )


def test_rotate_secrets_names_what_no_configured_key_opens_and_changes_nothing(environment, monkeypatch):
    use_keys(monkeypatch, OLD_KEY)
    omnihub("demo", "--json")
    before = encrypted_inbox_settings(Settings()), shared_values(Settings())
    use_keys(monkeypatch, NEW_KEY)
    refused = CliRunner().invoke(main, ["rotate-secrets"])
    assert refused.exit_code == 1
    unreadable = [
        line
        for line in refused.output.splitlines()
        if line.startswith("unreadable with every configured key")
    ]
    assert len(unreadable) == len(before[0]) + len(before[1])
    assert any(line.endswith(" setting app_secret") for line in unreadable)
    assert (encrypted_inbox_settings(Settings()), shared_values(Settings())) == before
