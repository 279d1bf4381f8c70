"""The one engine and session factory. SQLite runs in WAL mode with a busy timeout and foreign keys.

On SQLite a process's write transactions also take turns on an in-process lock before they ask for
the file's write lock: many at once (200 turns started together) then queue in order in the
process instead of sleeping in SQLite's busy handler, where the last of them could wait out the
busy timeout. Only the other processes' writers (a gateway, the workers, the API) contend for the
file lock, one each at most. PostgreSQL writers run concurrently, as before.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Final

import aiosqlite
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger("sandchat.database")

SQLITE_BUSY_TIMEOUT_MS: Final = 10_000
# Execution option marking a read-only transaction (SQLite then begins it DEFERRED).
READ_ONLY: Final = "sandchat_read_only"


class _SqliteConnection(aiosqlite.Connection):
    """aiosqlite's connection, whose worker thread is told to stop once only.

    SQLAlchemy drops a connection whose task was cancelled mid-statement: it closes it in a shielded
    task and, if that wait is cancelled too (a service stopping, every task cancelled at once), stops
    it. aiosqlite's ``close()`` then stops it again in its ``finally``, after the thread has already
    exited on the first stop, and waits for an answer that never comes: the event loop can never
    finish, and the process hangs on its way out. Here a second stop waits for the first one's
    answer, so the close also ends only once the thread has finished its queue.
    """

    _stop_queued = False
    _stopped: asyncio.Future[Any] | None = None

    def stop(self) -> asyncio.Future[Any] | None:
        if not self._stop_queued:
            self._stop_queued = True
            self._stopped = super().stop()
        return self._stopped


async def _connect_sqlite(*args: Any, **kwargs: Any) -> aiosqlite.Connection:
    """A connection as aiosqlite's own ``connect`` makes it (``sqlite3.connect``'s arguments), stopped once only."""
    connection = _SqliteConnection(partial(sqlite3.connect, *args, **kwargs), 64)
    connection._thread.daemon = True  # as SQLAlchemy's own aiosqlite connect does: never keep a process alive
    return await connection


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below start transactions, instead of the driver's own lazy
    # BEGIN (which would make a read-then-write transaction fail with "database is locked"
    # instead of waiting for the lock).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        mode = cursor.fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("SQLite could not switch to WAL mode (journal_mode=%s); concurrent writers will block", mode)
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    # A writer takes SQLite's write lock up front (waiting up to the busy timeout for it): two
    # writers then queue up instead of one failing. Readers stay deferred and never block.
    mode = "DEFERRED" if connection.get_execution_options().get(READ_ONLY) else "IMMEDIATE"
    connection.exec_driver_sql(f"BEGIN {mode}")


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets its pragmas on every new connection."""
    if url.startswith("sqlite"):
        # The file and flags exactly as SQLAlchemy reads them from the URL (absolute path, uri=true…);
        # the file's folder is made here, the file by SQLite.
        sqlite_url = make_url(url)
        args, kwargs = sqlite_url.get_dialect()().create_connect_args(sqlite_url)
        kwargs["timeout"] = SQLITE_BUSY_TIMEOUT_MS / 1000
        if args[0] != ":memory:" and not kwargs.get("uri"):
            Path(args[0]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, async_creator=partial(_connect_sqlite, *args, **kwargs), **options)
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
        return engine
    options.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **options)


class Database:
    """An engine plus the session factory every service uses."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **options)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # The same pool, for statements that only read (a ping, the startup line): never the write lock.
        self._reader = self.engine.execution_options(**{READ_ONLY: True})
        self._serialize_writes = make_url(url).drivername.startswith("sqlite")
        self._write_lock: asyncio.Lock | None = None
        self._write_lock_loop: asyncio.AbstractEventLoop | None = None

    @property
    def serializes_writes(self) -> bool:
        """SQLite: this process's write transactions run one at a time."""
        return self._serialize_writes

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that may write: committed on success, rolled back on error.

        Never nest one in another on the same database: on SQLite the inner one would wait for the outer.
        """
        if not self._serialize_writes:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._writer(), self.sessions() as session, session.begin():
            yield session

    def _writer(self) -> asyncio.Lock:
        """This process's turn at writing (one lock per event loop: tests run several loops in turn)."""
        loop = asyncio.get_running_loop()
        if self._write_lock is None or self._write_lock_loop is not loop:
            self._write_lock, self._write_lock_loop = asyncio.Lock(), loop
        return self._write_lock

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only; on SQLite it never waits for, nor holds, the write lock."""
        async with self.sessions() as session, session.begin():
            await session.connection(execution_options={READ_ONLY: True})
            yield session

    async def ping(self) -> None:
        """Raise if the database does not answer (it does even while another connection writes)."""
        async with self._reader.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def describe(self) -> str:
        """One startup log line: which backend, and for SQLite whether WAL is on."""
        url = make_url(self.url)
        if url.drivername.startswith("sqlite"):
            async with self._reader.connect() as connection:
                mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
                busy = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
                keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
            return f"database: SQLite {url.database} (journal_mode={mode}, busy_timeout={busy}ms, foreign_keys={keys})"
        return f"database: {url.get_backend_name()} at {url.host}:{url.port or ''}/{url.database}"

    async def log_startup(self) -> None:
        line = await self.describe()
        log.info("%s", line)
        if "journal_mode=" in line and "journal_mode=wal" not in line:
            log.warning("SQLite is not in WAL mode; concurrent readers and writers will block each other")

    async def close(self) -> None:
        await self.engine.dispose()
