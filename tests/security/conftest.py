"""One stack with AUTH_TOKEN set, shared by the security tests that need processes (starting stacks
is slow), and empty SQLite databases for those that run the API in process.

Whatever the tests do to the stack, its logs are scanned at the end: the token must never appear in them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import backends
from tests.e2e.chat_client import ChatClient
from tests.e2e.conftest import stack_settings
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.e2e


@dataclass
class AuthStack:
    """A running stack and the token it wants."""

    stack: Stack
    token: str

    @property
    def api_url(self) -> str:
        return self.stack.api_url

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.stack.api_port}"

    def http(self, *, authorised: bool = True) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, headers=self.bearer if authorised else {}, timeout=10)

    def new_thread(self) -> str:
        with self.http() as http:
            response = http.post("/threads", json={})
        response.raise_for_status()
        thread_id: str = response.json()["thread"]["id"]
        return thread_id

    def messages(self, thread_id: str) -> list[dict[str, object]]:
        """The newest 200 messages: a burst's accepted ones and their replies fill more than one default page."""
        with self.http() as http:
            response = http.get(f"/threads/{thread_id}/messages", params={"limit": 200})
        response.raise_for_status()
        result: list[dict[str, object]] = response.json()["messages"]
        return result

    def ticket(self) -> str:
        with self.http() as http:
            response = http.post("/ws-ticket")
        assert response.status_code == 201, response.text
        ticket: str = response.json()["ticket"]
        return ticket

    async def client(self) -> ChatClient:
        """A CLI-style client: no Origin, the bearer token in the handshake."""
        return await ChatClient.open(self.stack.gateway_url(), additional_headers=self.bearer, max_size=None)

    def service_logs(self) -> str:
        return "\n".join(line for service in self.stack.services for line in service.log)


@pytest.fixture(scope="package")
def auth_stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[AuthStack]:
    tmp: Path = tmp_path_factory.mktemp("security")
    token = f"tok-{secrets.token_urlsafe(24)}"
    settings = stack_settings(tmp, redis_url, AUTH_TOKEN=token, SIMULATOR_DELAY_MS="5")
    with running_stack(workers=1, gateways=1, **settings) as stack:
        running = AuthStack(stack, token)
        yield running
    leaked = [line for line in running.service_logs().splitlines() if token in line]
    assert not leaked, f"the token appears in {len(leaked)} log lines, e.g. {leaked[0]!r}"


@pytest.fixture
def sqlite_url(migrated_sqlite: Path, tmp_path: Path) -> str:
    """An empty, migrated database of the test's own (a copy of the process's migrated one, tests/conftest.py)."""
    backends.copy_sqlite(migrated_sqlite, tmp_path / "sandchat.db")
    return f"sqlite+aiosqlite:///{tmp_path / 'sandchat.db'}"
