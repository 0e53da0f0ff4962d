"""Shared fixtures: an embedded hub on a fresh SQLite database per test, and the demo workspace."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from hub.app import create_app
from hub.db import migrate
from hub.settings import Settings


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test copies the file (migrations themselves are tested separately)."""
    path = tmp_path_factory.mktemp("template") / "omnihub.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_template: Path) -> Settings:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    shutil.copy(migrated_template, data_dir / "omnihub.db")
    return Settings(data_dir=data_dir, secret_key="test-secret-key-0123456789", sweep_interval_seconds=3600,
                    public_url="http://testserver.local", worker_threads=2)


def run(coroutine_function: Callable[..., Any], settings: Settings) -> Any:
    """Run `coroutine_function(hub)` on a Hub of its own (as the CLI does)."""
    from hub.cli import _with_hub

    return asyncio.run(_with_hub(settings, coroutine_function))


@pytest.fixture
def demo(settings: Settings) -> dict[str, Any]:
    from hub.demo import ensure_demo

    return run(ensure_demo, settings)


@pytest.fixture
def client(settings: Settings, demo: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as test_client:
        yield test_client


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def inbox_of(demo: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(inbox for inbox in demo["inboxes"] if inbox["kind"] == kind)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
