"""The text so far of this worker's streaming replies, written to the database together.

A long reply is written every few seconds while it streams, so that a reader of the thread (or a
reload) sees most of it before it ends; the replay log in Redis holds the rest. One transaction per
reply per write was most of a worker's database work at hundreds of concurrent turns (a write
transaction each, one SQLite file lock each), so the writes of every turn of the process are
gathered: at most one transaction per ``gap_s``, holding every reply that asked meanwhile.

A progress write never undoes a reply's end: it changes only a reply still ``streaming``
(:func:`sandchat.threads.write_progress`), so one that lands after the final write is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from sandchat import metrics, threads
from sandchat.database import Database

log = logging.getLogger(__name__)

# The shortest time between two progress transactions of one worker process.
WRITE_GAP_S: Final = 0.25


class ProgressWriter:
    def __init__(self, database: Database, *, gap_s: float = WRITE_GAP_S) -> None:
        self._database = database
        self._gap_s = gap_s
        self._pending: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    def put(self, message_id: str, text: str) -> None:
        """Write ``text`` as the reply's content soon (a later call before the write replaces it)."""
        self._pending[message_id] = text
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_all())

    def forget(self, message_id: str) -> None:
        """The reply ended (its final write has the whole text): nothing more to write for it."""
        self._pending.pop(message_id, None)

    async def written(self) -> None:
        """Return once every text put so far is written (or its write has failed and been logged)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                async with self._database.transaction() as session:
                    await threads.write_progress(session, batch)
            except Exception as exc:
                metrics.BACKEND_ERRORS.labels("database", "progress_write").inc()
                log.warning("progress write of %d replies failed: %s", len(batch), type(exc).__name__)
            await asyncio.sleep(self._gap_s)
