"""SQLite busy: a writer that finds the write lock taken waits for it instead of failing."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from sandchat import threads
from sandchat.database import Database, _connect_sqlite
from sandchat_dev.stack import migrate

HOLD_S = 1.5


def _hold_write_lock(path: Path, held: threading.Event, released: threading.Event) -> None:
    """Another process's long write: it takes SQLite's write lock and keeps it for a while."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(HOLD_S)
        released.set()
        connection.execute("COMMIT")
    finally:
        connection.close()


async def test_writers_wait_for_a_held_write_lock_and_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(migrate, url)
    databases = [Database(url) for _ in range(3)]  # like the gateway, worker and API processes
    async with databases[0].transaction() as session:
        thread_id = (await threads.create_thread(session)).id

    held, released = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, held, released))
    holder.start()
    await asyncio.to_thread(held.wait, 5)

    async def write(database: Database, index: int) -> None:
        async with database.transaction() as session:
            await threads.list_messages(session, thread_id)  # read, then write in one transaction
            await threads.add_message(session, thread_id, "user", f"message {index}")

    async def read(database: Database) -> int:
        async with database.reading() as session:
            return len(await threads.list_messages(session, thread_id))

    # Readers are not blocked by a writer (WAL): they finish while the lock is still held.
    assert await asyncio.gather(*(read(databases[index % 3]) for index in range(10))) == [0] * 10
    assert not released.is_set()
    # Writers wait for the lock (busy timeout) rather than failing, and finish only after it is released.
    await asyncio.gather(*(write(databases[index % 3], index) for index in range(30)))
    assert released.is_set()
    holder.join()
    async with databases[1].reading() as session:
        stored = await threads.list_messages(session, thread_id)
    for database in databases:
        await database.close()
    assert sorted(message.content for message in stored) == sorted(f"message {index}" for index in range(30))


async def test_a_ping_and_the_startup_line_answer_while_another_connection_writes(tmp_path: Path) -> None:
    """A service starting (or a health check) while another holds the write lock answers at once."""
    path = tmp_path / "busy.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(migrate, url)
    database = Database(url)
    held, released = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, held, released))
    holder.start()
    try:
        await asyncio.to_thread(held.wait, 5)
        await database.ping()
        line = await database.describe()
        assert not released.is_set(), "the ping and the startup line waited for the writer"
    finally:
        await asyncio.to_thread(holder.join)
        await database.close()
    assert "journal_mode=wal" in line


async def test_a_connection_stopped_while_its_close_waits_still_closes(tmp_path: Path) -> None:
    """SQLAlchemy drops a connection cancelled mid-statement by closing it and, when that is cancelled
    too (a service stopping), stopping it: the close must still end, or the event loop never finishes."""
    path = tmp_path / "busy.db"
    sqlite3.connect(path).close()
    connection = await _connect_sqlite(str(path))
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    busy = asyncio.ensure_future(connection.execute("BEGIN IMMEDIATE"))  # its thread waits for the lock
    closing = asyncio.ensure_future(connection.close())  # queued behind it
    await asyncio.sleep(0)  # both tasks take their first step: the statement and the close are queued
    stopped = connection.stop()
    closing.cancel()
    await asyncio.sleep(0)  # the close takes its cancel, and stops the connection a second time
    blocker.execute("COMMIT")
    blocker.close()
    done, _ = await asyncio.wait({closing}, timeout=10)
    assert stopped is not None
    await stopped  # the thread has finished its queue
    await asyncio.gather(busy, return_exceptions=True)
    assert done, "the close waits for a thread that has already stopped"
