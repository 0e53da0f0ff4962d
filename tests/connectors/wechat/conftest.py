"""Fixtures for the WeChat connector tests: an injected httpx client and WeChat's API mocked with respx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx

from connectors.base import ConnectorContext
from connectors.testing import MemorySharedStore
from connectors.wechat.common.settings import DEFAULT_API_BASE_URL
from tests.connectors.wechat.support import SavedAttachments, connector_context

ACCESS_TOKEN = "ACCESS_TOKEN_1"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def wechat_api() -> Iterator[respx.Router]:
    """WeChat's API: access tokens are handed out; each test mocks the calls it expects. Anything else fails."""
    with respx.mock(base_url=DEFAULT_API_BASE_URL, assert_all_called=False) as router:
        router.post("/cgi-bin/stable_token", name="token").respond(
            json={"access_token": ACCESS_TOKEN, "expires_in": 7200}
        )
        yield router


@pytest.fixture
def store() -> MemorySharedStore:
    return MemorySharedStore()


@pytest.fixture
def saved() -> SavedAttachments:
    return SavedAttachments()


@pytest.fixture
def context(http: httpx.AsyncClient, store: MemorySharedStore, saved: SavedAttachments) -> ConnectorContext:
    return connector_context(http, store, saved)
