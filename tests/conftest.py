"""Shared fixtures: an embedded hub on a fresh SQLite database per test, and the demo workspace."""

from __future__ import annotations

import asyncio
import filecmp
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import settings as hypothesis_settings
from litestar.testing import TestClient

from hub.app import create_app
from hub.db import migrate
from hub.settings import Settings

pytest_plugins = ["tests.stall_report"]

hypothesis_settings.register_profile("omnihub", deadline=None)
hypothesis_settings.load_profile("omnihub")
"""Property tests judge what code does, never how fast: a busy two-core CI machine must not fail them."""


TEST_SECRET_KEY = "test-secret-key-0123456789abcdefghijklmnop"
"""Long enough for the hub's minimum (32 characters)."""


LOCAL_NAMES = ("localhost", "ip6-localhost", "ip6-loopback")


@pytest.fixture(autouse=True, scope="session")
def name_lookups_stay_on_this_machine() -> Iterator[None]:
    """No test reaches the internet, and none waits on the machine's resolver to say so: a name other than
    localhost fails at once as it does offline (WeChat's API, the demo mailbox's server), while address literals
    and local names resolve as usual. Servers the tests start in other processes are not affected."""
    with offline_name_lookups():
        yield


@contextmanager
def offline_name_lookups() -> Iterator[None]:
    resolve = socket.getaddrinfo

    def offline(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name.lower().rstrip(".") in LOCAL_NAMES or name.lower().endswith(".localhost"):
            return resolve(host, *args, **kwargs)
        try:
            resolve(host, None, flags=socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return resolve(host, *args, **kwargs)

    with mock.patch("socket.getaddrinfo", offline):
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The deletion check first: it is the longest test by far, and when it starts last (as it is collected) a parallel
    run waits for it alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("deletions") is None)


PREBUILT_MIGRATED_TEMPLATE = "DELETION_CHECK_MIGRATED_TEMPLATE"
PREBUILT_DEMO_TEMPLATE = "DELETION_CHECK_DEMO_TEMPLATE"
"""Templates scripts/deletion_check.py built once from the unchanged tree, set only for a deletion whose function
never ran while they were built (so they are what this session would build)."""


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test copies the file (migrations themselves are tested separately)."""
    prebuilt = os.environ.get(PREBUILT_MIGRATED_TEMPLATE)
    return Path(prebuilt) if prebuilt else build_migrated_template(tmp_path_factory.mktemp("template"))


def build_migrated_template(directory: Path) -> Path:
    path = directory / "omnihub.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_template: Path) -> Settings:
    return _test_settings(tmp_path, migrated_template)


def _test_settings(directory: Path, template: Path) -> Settings:
    """Settings over a copy of `template` in `directory`/var, as every test's hub has them."""
    data_dir = directory / "var"
    data_dir.mkdir()
    shutil.copy(template, data_dir / "omnihub.db")
    return Settings(
        data_dir=data_dir,
        secret_key=TEST_SECRET_KEY,
        sweep_interval_seconds=3600,
        public_url="http://testserver.local",
        worker_threads=2,
    )


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> Path:
    """The migrated database with the demo workspace made once: hashing its password and sealing every inbox's
    secrets is most of a test's setup. Each test's `demo` starts from a copy and runs the demo command again on it,
    which finds everything made and answers with the same facts."""
    prebuilt = os.environ.get(PREBUILT_DEMO_TEMPLATE)
    if prebuilt:
        return Path(prebuilt)
    return build_demo_template(tmp_path_factory.mktemp("demo-template"), migrated_template)


def build_demo_template(directory: Path, migrated_template: Path) -> Path:
    from hub.demo import ensure_demo

    settings = _test_settings(directory, migrated_template)
    run(ensure_demo, settings)
    return settings.data_dir / "omnihub.db"


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean OMNIHUB_* environment with its own data dir, for commands that read their settings from it."""
    for name in list(os.environ):
        if name.startswith("OMNIHUB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OMNIHUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OMNIHUB_PUBLIC_URL", "http://hub.example.test/")
    return tmp_path


def run(coroutine_function: Callable[..., Any], settings: Settings) -> Any:
    """Run `coroutine_function(hub)` on a Hub of its own (as the CLI does)."""
    from hub.cli import _with_hub

    return asyncio.run(_with_hub(settings, coroutine_function))


@pytest.fixture
def demo(settings: Settings, migrated_template: Path, demo_template: Path) -> dict[str, Any]:
    from hub.demo import ensure_demo

    if _untouched_test_database(settings, migrated_template):
        shutil.copy(demo_template, settings.data_dir / "omnihub.db")
    return run(ensure_demo, settings)


def _untouched_test_database(settings: Settings, migrated_template: Path) -> bool:
    """Whether the test's hub still reads its own unchanged copy of the migrated template, under the test key: only
    then may the demo template replace it (a test on PostgreSQL, with another key, or with rows written before
    the demo gets the demo made in its own database)."""
    database = settings.data_dir / "omnihub.db"
    return (
        settings.database_url == f"sqlite+aiosqlite:///{database.resolve()}"
        and settings.secret_key is not None
        and settings.secret_key.get_secret_value() == TEST_SECRET_KEY
        and filecmp.cmp(database, migrated_template, shallow=False)
    )


@pytest.fixture
def client(settings: Settings, demo: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as test_client:
        yield test_client


WAIT_SECONDS = float(os.environ.get("OMNIHUB_TEST_WAIT_SECONDS", "30"))
"""How long `wait_for` waits by default. It bounds a hang, not a speed: a passing test returns as soon as its
condition holds. The deletion check, which expects most waits to fail, sets it shorter."""

FROZEN_AFTER_SECONDS = 1.0
"""A poll that comes back this much later than it slept for means the process did not run meanwhile (a shared CI
machine has been seen to freeze a test for minutes); `wait_for` does not count such a gap against its timeout."""


def wait_for(condition: Callable[[], Any], timeout: float = WAIT_SECONDS, interval: float = 0.02) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds of the process running
    (a freeze of the whole process stops the clock, up to ten times the timeout in all)."""
    started = last = time.monotonic()
    running = 0.0
    while True:
        result = condition()
        if result:
            return result
        now = time.monotonic()
        gap = now - last
        running += gap if gap < interval + FROZEN_AFTER_SECONDS else interval
        last = now
        if running > timeout or now - started > 10 * timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def inbox_of(demo: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(inbox for inbox in demo["inboxes"] if inbox["kind"] == kind)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error_shape(answer: Any) -> None:
    """`{"status_code", "code", "detail"}` (+ `errors`, each naming a field) as JSON, whatever failed."""
    assert answer.headers["content-type"].startswith("application/json"), answer.text[:200]
    body = answer.json()
    assert body["status_code"] == answer.status_code
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert set(body) <= {"status_code", "code", "detail", "errors"}
    for error in body.get("errors", []):
        assert isinstance(error["field"], str) and error["field"] and isinstance(error["message"], str)


POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
"""A database the tests may connect to in order to create and drop databases of their own."""


def _redis_url_of_this_process(url: str, xdist_worker: str | None) -> str:
    """`url` itself, or under pytest-xdist the database `url`'s plus the worker's number (gw1 of
    redis://host/3 owns redis://host/4): each worker flushes its own. A process a test starts inherits
    PYTEST_XDIST_WORKER and TEST_REDIS_URL, so it works in its worker's database too."""
    if not xdist_worker:
        return url
    server, _, database = url.rpartition("/")
    return f"{server}/{int(database or 0) + int(xdist_worker.removeprefix('gw'))}"


TEST_REDIS_URL = _redis_url_of_this_process(
    os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/3"), os.environ.get("PYTEST_XDIST_WORKER")
)
"""A Redis database the tests own: flushed before each production-mode test."""


def _unreachable_services() -> str | None:
    import asyncpg
    import redis

    async def postgres_answers() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
        await connection.close()

    try:
        asyncio.run(postgres_answers())
    except Exception as error:
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} does not answer ({type(error).__name__}: {error})"
    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_timeout=3).ping()
    except Exception as error:
        return f"Redis at {TEST_REDIS_URL} does not answer ({type(error).__name__}: {error})"
    return None


@pytest.fixture(scope="session")
def production_services() -> None:
    """Production-mode tests need the real PostgreSQL and Redis: required under CI=true, skipped (saying why) elsewhere."""
    reason = _unreachable_services()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"production-mode tests are required under CI=true, but {reason}")
    pytest.skip(f"production-mode test skipped: {reason}")


async def _postgres_admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def _postgres_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (a copy of `template` when given, else empty), dropped afterwards: its URL."""
    name = f"omnihub_test_{uuid.uuid4().hex[:12]}"
    copying = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"{copying}'))
    server = POSTGRES_ADMIN_URL.split("://", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{server}/{name}"
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(production_services: None) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with _postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def migrated_postgres_template(production_services: None) -> Iterator[str]:
    """Migrate PostgreSQL once per session; each test's database is a copy (about 0.4 s against 1.4 s more to
    migrate it). Migrations themselves are tested on an empty database (`postgres_url`)."""
    with _postgres_database() as url:
        migrate(url)
        yield url


@pytest.fixture
def migrated_postgres_url(migrated_postgres_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database with the schema at head, for one test, dropped afterwards."""
    with _postgres_database(migrated_postgres_template) as url:
        yield url


@pytest.fixture(scope="session")
def demo_postgres_template(
    migrated_postgres_template: str, tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[str]:
    """The PostgreSQL twin of `demo_template`: the demo workspace made once, under the test settings."""
    from hub.demo import ensure_demo

    with _postgres_database(migrated_postgres_template) as url:
        directory = tmp_path_factory.mktemp("demo-postgres-template")
        run(
            ensure_demo, _test_settings(directory, migrated_template).model_copy(update={"database_url": url})
        )
        yield url


@pytest.fixture
def demo_postgres_url(demo_postgres_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database holding the demo workspace (as `demo` makes it), for one test's hub that runs
    under the test settings; the `demo` fixture then finds everything made."""
    with _postgres_database(demo_postgres_template) as url:
        yield url


def migrated_postgres_settings(migrated_postgres_url: str, data_dir: Path) -> Settings:
    """Settings on a migrated PostgreSQL database, without a worker: what a test of the database layer needs."""
    return Settings(
        database_url=migrated_postgres_url,
        data_dir=data_dir,
        secret_key=TEST_SECRET_KEY,
        public_url="http://testserver.local",
        embedded_worker=False,
    )


@pytest.fixture
def redis_url(production_services: None) -> str:
    import redis

    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    return TEST_REDIS_URL
