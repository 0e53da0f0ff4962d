"""Settings from the environment and TOML, the `omnihub` commands, and the README that documents both."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from hub.cli import main
from hub.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
EXAMPLE_CONFIG = (ROOT / "config" / "omnihub.example.toml").read_text()


def test_toml_file_is_read_and_the_environment_wins(environment, monkeypatch):
    config = environment / "omnihub.toml"
    config.write_text('worker_threads = 3\nlog_level = "DEBUG"\npublic_url = "https://from-toml.example"\n')
    monkeypatch.setenv("OMNIHUB_CONFIG_FILE", str(config))
    monkeypatch.setenv("OMNIHUB_LOG_LEVEL", "WARNING")
    settings = Settings()
    assert settings.worker_threads == 3
    assert settings.log_level == "WARNING"
    assert settings.public_url == "http://hub.example.test"
    assert settings.database_url == f"sqlite+aiosqlite:///{(environment / 'var' / 'omnihub.db').resolve()}"


def test_config_file_argument_is_read_and_the_environment_wins(environment, monkeypatch):
    """`Settings(config_file=...)` is how an embedding program or a test names the file; it wins over the variable."""
    given = environment / "given.toml"
    given.write_text('worker_threads = 3\nlog_level = "DEBUG"\ntrusted_proxies = ["10.0.0.0/8"]\n')
    named_by_environment = environment / "other.toml"
    named_by_environment.write_text("worker_threads = 7\nport = 9001\n")
    monkeypatch.setenv("OMNIHUB_CONFIG_FILE", str(named_by_environment))
    monkeypatch.setenv("OMNIHUB_LOG_LEVEL", "WARNING")
    settings = Settings(config_file=given)
    assert settings.config_file == given
    assert settings.worker_threads == 3
    assert [str(network) for network in settings.trusted_proxies] == ["10.0.0.0/8"]
    assert settings.port == 8000
    assert settings.log_level == "WARNING"


def test_a_missing_config_file_is_refused(environment, monkeypatch):
    with pytest.raises(ValidationError, match="config_file"):
        Settings(config_file=environment / "absent.toml")
    monkeypatch.setenv("OMNIHUB_CONFIG_FILE", str(environment / "absent.toml"))
    with pytest.raises(ValidationError, match="config_file"):
        Settings()


def test_unknown_toml_keys_are_refused(environment, monkeypatch):
    config = environment / "omnihub.toml"
    config.write_text("wroker_threads = 3\n")
    monkeypatch.setenv("OMNIHUB_CONFIG_FILE", str(config))
    with pytest.raises(ValidationError, match="wroker_threads"):
        Settings()


def test_the_example_configuration_is_valid(environment, monkeypatch):
    monkeypatch.setenv("OMNIHUB_CONFIG_FILE", str(ROOT / "config" / "omnihub.example.toml"))
    assert Settings().port == 8000


def test_embedded_mode_generates_its_key_once_and_keeps_it_private(environment):
    first = Settings().secret_key_bytes()
    assert Settings().secret_key_bytes() == first
    key_file = environment / "var" / "secret_key"
    assert key_file.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name):
    assert f"OMNIHUB_{name.upper()}" in README, f"README does not document OMNIHUB_{name.upper()}"
    if name != "config_file":
        assert re.search(rf"^#? ?{name} = ", EXAMPLE_CONFIG, re.MULTILINE), f"config example lacks {name}"


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_is_documented(command):
    assert f"`omnihub {command}" in README


def test_demo_json_is_idempotent_and_has_the_documented_shape(environment):
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "--json"], catch_exceptions=False)
    second = runner.invoke(main, ["demo", "--json"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    demo, again = json.loads(first.stdout), json.loads(second.stdout)
    assert demo == again
    assert {"admin_email", "admin_password", "api_token", "workspace_id", "inboxes"} <= set(demo)
    from connectors import default_registry

    assert sorted(inbox["kind"] for inbox in demo["inboxes"]) == default_registry().kinds()
    for inbox in demo["inboxes"]:
        assert {"id", "kind", "name"} <= set(inbox)
        assert "settings" not in inbox
    webchat = next(inbox for inbox in demo["inboxes"] if inbox["kind"] == "webchat")
    assert webchat["widget_token"] and webchat["widget_token"] in webchat["embed_snippet"]


def test_demo_prints_how_to_log_in(environment):
    printed = CliRunner().invoke(main, ["demo"], catch_exceptions=False).stdout
    assert "http://hub.example.test/inbox" in printed
    assert re.search(r"login: +admin@demo\.omnihub\.local / \S+", printed)


def test_create_admin_makes_an_agent_who_can_log_in(environment):
    from litestar.testing import TestClient

    from hub.app import create_app

    runner = CliRunner()
    created = runner.invoke(
        main,
        [
            "create-admin",
            "--email",
            "Boss@Example.com",
            "--password",
            "correct horse battery",
            "--workspace",
            "Tea House",
        ],
        catch_exceptions=False,
    )
    assert created.exit_code == 0, created.output
    assert "admin boss@example.com created" in created.stdout
    twice = runner.invoke(
        main, ["create-admin", "--email", "boss@example.com", "--password", "another long one"]
    )
    assert twice.exit_code != 0 and "exists already" in twice.output
    short = runner.invoke(main, ["create-admin", "--email", "x@example.com", "--password", "short"])
    assert short.exit_code != 0 and "at least 10 characters" in short.output
    with TestClient(app=create_app(Settings(embedded_worker=False))) as client:
        login = client.post(
            "/api/v1/auth/login", json={"email": "boss@example.com", "password": "correct horse battery"}
        )
        assert login.status_code == 200, login.text
        assert login.json()["agent"]["role"] == "admin"


def test_worker_refuses_to_start_in_embedded_mode(environment):
    refused = CliRunner().invoke(main, ["worker"])
    assert refused.exit_code != 0 and "OMNIHUB_REDIS_URL" in refused.output


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://omnihub@db/omnihub",
        "postgresql+psycopg://omnihub@db/omnihub",
        "mysql+aiomysql://omnihub@db/omnihub",
        "sqlite:///var/omnihub.db",
    ],
)
def test_a_database_url_the_hub_cannot_use_is_refused_with_the_forms_it_can(environment, url):
    with pytest.raises(ValidationError, match=r"database_url[\s\S]*postgresql\+asyncpg://"):
        Settings(database_url=url)
