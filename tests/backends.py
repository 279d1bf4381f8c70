"""Real Redis and real databases for the tests (docs/testing.md), never mocks.

Redis: TEST_REDIS_URL, else a testcontainers Redis when a Docker engine answers, else a private
redis-server on a free port, else a failure saying what to install.
PostgreSQL: TEST_DATABASE_URL, else a testcontainers PostgreSQL, else a failure. SQLite needs nothing.
Every test gets its own database (a file for SQLite, a fresh database for PostgreSQL).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import asyncpg
from sandchat_dev.stack import free_port, migrate
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]


class BackendUnavailableError(RuntimeError):
    """A real service the tests need is missing; the message says what to install or set."""


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise BackendUnavailableError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@contextmanager
def redis_server() -> Iterator[tuple[str, str]]:
    """A Redis URL and where it came from."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url, f"TEST_REDIS_URL ({make_url(url).host}:{make_url(url).port})"
        return
    if docker_answers():
        from testcontainers.redis import RedisContainer  # noqa: PLC0415 - only with a Docker engine

        with RedisContainer("redis:7-alpine") as container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0", "testcontainers redis:7-alpine"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise BackendUnavailableError(
            "Tests need Redis: set TEST_REDIS_URL, start a Docker engine, or install redis-server "
            "(apt-get install redis-server)."
        )
    with private_redis(binary) as url:
        yield url, f"private redis-server ({url})"


@contextmanager
def private_redis(binary: str = "redis-server", port: int | None = None) -> Iterator[str]:
    """A throwaway redis-server on a free port (also used by tests that restart Redis)."""
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="sandchat-redis-") as workdir:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


@contextmanager
def postgres_server() -> Iterator[tuple[str, str]]:
    """An admin URL (asyncpg driver) of a PostgreSQL server, and where it came from."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield asyncpg_url(url), f"TEST_DATABASE_URL ({make_url(url).host}:{make_url(url).port})"
        return
    if docker_answers():
        from testcontainers.postgres import PostgresContainer  # noqa: PLC0415 - only with a Docker engine

        with PostgresContainer("postgres:16-alpine", driver="asyncpg") as container:
            yield container.get_connection_url(), "testcontainers postgres:16-alpine"
        return
    raise BackendUnavailableError(
        "PostgreSQL tests need a server: set TEST_DATABASE_URL=postgresql://user@host:5432/db "
        "or start a Docker engine for testcontainers."
    )


def asyncpg_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def _plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(_plain_dsn(url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def fresh_postgres_database(admin_url: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database for one test (empty, or a copy of ``template``), dropped afterwards."""
    name = f"sandchat_test_{uuid.uuid4().hex[:12]}"
    copy_of = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"{copy_of}'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def migrated_postgres_template(admin_url: str) -> Iterator[str]:
    """A database migrated to head once, for the tests of one process to copy (``CREATE DATABASE … TEMPLATE``
    copies files: much faster than running every migration again per test)."""
    with fresh_postgres_database(admin_url) as url:
        migrate(url)
        yield str(make_url(url).database)


def migrated_sqlite_template(folder: Path) -> Path:
    """A SQLite file migrated to head once, for the tests of one process to copy."""
    path = folder / "migrated.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


def copy_sqlite(template: Path, destination: Path) -> None:
    """A consistent copy of a SQLite database (the backup API: whatever its WAL still holds comes along)."""
    source, target = sqlite3.connect(template), sqlite3.connect(destination)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
