"""The HTTP API in this process (Litestar's test client) on each database backend, with real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sandchat.settings import build_settings
from sandchat_api.app import create_app

from tests.api_client import ApiClient, api_client

Client = ApiClient


@pytest.fixture
def api_settings() -> dict[str, Any]:
    """Settings of the API under test beyond its database and Redis; a test module may override it."""
    return {}


@pytest.fixture
async def client(
    database_url: str, redis_url: str, redis_namespace: str, api_settings: dict[str, Any]
) -> AsyncIterator[Client]:
    settings = build_settings(
        database_url=database_url, redis_url=redis_url, redis_namespace=redis_namespace, **api_settings
    )
    async with api_client(create_app(settings)) as test_client:
        yield test_client
