"""Storing turn starts on SQLite: the starts that arrive while one is being written go in the next write, together.

SQLite has one write lock per file. 200 turns started at the same instant, each in its own write
transaction, queue for it one by one — and whenever another process (a worker finishing a turn) holds
it, each waits in SQLite's busy handler, which sleeps in steps of up to 100 ms. Here one writer per
process and database stores every start waiting at that moment in one transaction: the lock is
taken once per batch, and a batch costs the statements of one start (one read, one flush). Alone, a
start is written at once, as before. PostgreSQL stores each start in its own transaction, as before.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Final

from sandchat import threads
from sandchat.database import Database
from sandchat.threads import Exchange, ExchangeStart

# At most this many starts in one transaction (bounds how long it holds the write lock).
MAX_BATCH: Final = 100


async def store_start(database: Database, start: ExchangeStart) -> Exchange | None:
    """Store one turn's start (``None``: no such thread); database errors propagate to the caller."""
    if not database.serializes_writes:
        async with database.transaction() as session:
            return (await threads.begin_exchanges(session, [start]))[0]
    return await _writer(database).store(start)


_WRITERS: weakref.WeakKeyDictionary[Database, _StartWriter] = weakref.WeakKeyDictionary()


def _writer(database: Database) -> _StartWriter:
    loop = asyncio.get_running_loop()
    writer = _WRITERS.get(database)
    if writer is None or writer.loop is not loop:  # tests run one event loop after another
        writer = _WRITERS[database] = _StartWriter(database, loop)
    return writer


class _StartWriter:
    def __init__(self, database: Database, loop: asyncio.AbstractEventLoop) -> None:
        self.database = database
        self.loop = loop
        self.pending: list[tuple[ExchangeStart, asyncio.Future[Exchange | None]]] = []
        self.writing: asyncio.Task[None] | None = None

    async def store(self, start: ExchangeStart) -> Exchange | None:
        stored: asyncio.Future[Exchange | None] = self.loop.create_future()
        self.pending.append((start, stored))
        if self.writing is None or self.writing.done():
            self.writing = asyncio.create_task(self._write_all())
        return await stored

    async def _write_all(self) -> None:
        while self.pending:
            batch = [(start, stored) for start, stored in self.pending[:MAX_BATCH] if not stored.done()]
            del self.pending[:MAX_BATCH]
            try:
                if batch:
                    await self._write(batch)
            finally:
                for _, stored in batch:  # the writer itself was cancelled (shutdown)
                    if not stored.done():
                        stored.cancel()

    async def _write(self, batch: list[tuple[ExchangeStart, asyncio.Future[Exchange | None]]]) -> None:
        try:
            async with self.database.transaction() as session:
                exchanges = await threads.begin_exchanges(session, [start for start, _ in batch])
        except Exception as exc:
            for _, stored in batch:
                if not stored.done():
                    stored.set_exception(exc)
            return
        for (_, stored), exchange in zip(batch, exchanges, strict=True):
            if not stored.done():
                stored.set_result(exchange)
