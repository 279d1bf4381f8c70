"""Shared fixtures: a real Redis, and a migrated database per test on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis
from sandchat import tracing
from sandchat.database import Database
from sandchat.redis_keys import RedisKeys

from tests import backends

BACKENDS = ("sqlite", "postgresql")
_used: dict[str, str] = {}


def pytest_report_header() -> list[str]:
    return ["real services: Redis and PostgreSQL are chosen by tests/backends.py (see the summary at the end)"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist (`make test`), each process reports the backends it used to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["backends"] = dict(_used)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    _used.update(getattr(node, "workeroutput", {}).get("backends", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _used:
        terminalreporter.section("backends used")
        for name, origin in sorted(_used.items()):
            terminalreporter.write_line(f"{name}: {origin}")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with backends.redis_server() as (url, origin):
        _used["redis"] = origin
        yield url


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with backends.postgres_server() as (url, origin):
        _used["postgresql"] = origin
        yield url


@pytest.fixture
def redis_namespace() -> str:
    """Keys of one test never meet another's, even on a shared Redis."""
    return f"sandchat-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_keys(redis_namespace: str) -> RedisKeys:
    return RedisKeys(redis_namespace)


@pytest.fixture
async def redis(redis_url: str, redis_namespace: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{redis_namespace}:*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This process's SQLite database migrated to head, which each test copies."""
    return backends.migrated_sqlite_template(tmp_path_factory.mktemp("migrated"))


@pytest.fixture(scope="session")
def migrated_postgres(postgres_admin_url: str) -> Iterator[str]:
    """The name of this process's PostgreSQL database migrated to head, which each test copies."""
    with backends.migrated_postgres_template(postgres_admin_url) as name:
        yield name


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each backend (the test runs once per backend): a copy of one
    migrated once per process (tests/foundation/test_migrations.py runs the migrations themselves)."""
    if request.param == "sqlite":
        _used.setdefault("sqlite", "a file per test under pytest's tmp_path")
        path = tmp_path / "sandchat.db"
        backends.copy_sqlite(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    with backends.fresh_postgres_database(admin_url, template=request.getfixturevalue("migrated_postgres")) as url:
        yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.close()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, into memory: the spans it ended (then tracing is off again)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.install(None)
