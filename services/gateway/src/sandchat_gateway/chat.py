"""The chat protocol's requests: start a turn, cancel it, resume it (DESIGN §6, §7)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Final

import msgspec
from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sandchat import events, threads, turn_queue
from sandchat.database import Database
from sandchat.transcript import Transcript
from sandchat.turn_end import CANCELLED_MESSAGE, finish_turn
from sandchat.turn_store import TurnInfo, TurnStore
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from sandchat_gateway.connection import ChatConnection

log = logging.getLogger(__name__)

MAX_THREAD_ID_CHARS: Final = 64
NO_SUCH_THREAD: Final = "No thread with this id."
BUSY: Final = "A reply is still streaming in this thread; wait for it or stop it."
EMPTY: Final = "The message is empty."
TOO_LARGE: Final = f"The message is longer than {events.MAX_CONTENT_CHARS:,} characters."
NUL: Final = "The message contains a NUL character."
# The longest frame worth decoding: 100,000 characters escaped as JSON, with room to spare.
MAX_REQUEST_CHARS: Final = 1 << 20
RATE_LIMITED: Final = "Too many messages: slow down and try again in a moment."
NOTHING_TO_RESUME: Final = "No reply is streaming in this thread, and none ended recently."
STORE_FAILED: Final = "Your message could not be stored (the database is unavailable); try again."
# Tries of the store transaction when SQLite stays busy past its timeout.
STORE_ATTEMPTS: Final = 3
QUEUE_FAILED: Final = "Your message was stored but could not be queued (Redis is unavailable); try again."


@dataclass(slots=True)
class Chat:
    """What request handlers need, shared by all connections of one gateway."""

    database: Database
    store: TurnStore
    queue: ArqRedis
    queue_name: str

    async def handle(self, connection: ChatConnection, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            connection.send_error(None, "invalid_message", "Frames must be text: one JSON object each.")
            return
        if not connection.allow_request():
            # Answer every refused request, so that a client never waits for a turn that will not start.
            connection.send_error(_thread_id_of(frame), "invalid_message", RATE_LIMITED)
            return
        if len(frame) > MAX_REQUEST_CHARS:
            connection.send_error(_thread_id_of(frame), "too_large", TOO_LARGE)
            return
        try:
            request = events.decode_request(frame)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            connection.send_error(_thread_id_of(frame), "invalid_message", f"Invalid message: {exc}.")
            return
        if len(request.thread_id) > MAX_THREAD_ID_CHARS:
            # Thread ids are UUIDs; a longer one names no thread and must not become a Redis key.
            connection.send_error(None, "thread_not_found", NO_SUCH_THREAD)
            return
        if isinstance(request, events.SendMessage):
            await self.start_turn(connection, request)
        elif isinstance(request, events.Cancel):
            await self.cancel(connection, request)
        else:
            await self.resume(connection, request)

    async def start_turn(self, connection: ChatConnection, request: events.SendMessage) -> None:
        thread_id, content = request.thread_id, request.content
        if not content.strip():
            connection.send_error(thread_id, "invalid_message", EMPTY)
            return
        if len(content) > events.MAX_CONTENT_CHARS:
            connection.send_error(thread_id, "too_large", TOO_LARGE)
            return
        if "\x00" in content:
            connection.send_error(thread_id, "invalid_message", NUL)
            return
        # The lock first: it is one Redis round trip, and a busy thread then costs no database work.
        turn_id = str(uuid.uuid4())
        if not await self.store.lock_thread(thread_id, turn_id):
            connection.send_error(thread_id, "thread_busy", BUSY)
            return
        try:
            exchange = await self._store_turn(thread_id, turn_id, content)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("thread %s: could not store the message: %s", thread_id, exc)
            await self.store.unlock_thread(thread_id, turn_id)
            connection.send_error(thread_id, "agent_error", STORE_FAILED)
            return
        if exchange is None:
            await self.store.unlock_thread(thread_id, turn_id)
            connection.send_error(thread_id, "thread_not_found", NO_SUCH_THREAD)
            return
        user, reply, title = exchange.user, exchange.reply, exchange.title

        info = TurnInfo(turn_id, thread_id, reply.id, user.id, "queued")
        try:
            await self.store.register(info)
            await connection.follow(turn_id)
            queued = await turn_queue.enqueue_turn(self.queue, self.queue_name, turn_id)
        except RedisError:
            log.exception("turn %s: could not be queued", turn_id)
            queued = False
        if not queued:
            await connection.unfollow(turn_id)
            await self._fail_unqueued(info)
            connection.send(events.Error(thread_id, "agent_error", QUEUE_FAILED, turn_id=turn_id, message_id=reply.id))
            return
        connection.send(events.Started(thread_id, turn_id, user.id, reply.id))
        if title:
            connection.send(events.Title(thread_id, title))
        log.info("thread %s: turn %s queued", thread_id, turn_id)

    async def _store_turn(self, thread_id: str, turn_id: str, content: str) -> threads.Exchange | None:
        """The user message and the streaming reply (``None``: no such thread).

        SQLite under heavy write load can exhaust its busy timeout; the transaction then wrote
        nothing, so it is simply tried again.
        """
        attempt = 1
        while True:
            try:
                async with self.database.transaction() as session:
                    return await threads.begin_exchange(session, thread_id, content, turn_id)
            except OperationalError as exc:
                if attempt >= STORE_ATTEMPTS or "locked" not in str(exc):
                    raise
                attempt += 1
                log.warning("thread %s: database busy, storing again (attempt %d)", thread_id, attempt)

    async def _fail_unqueued(self, info: TurnInfo) -> None:
        try:
            async with self.database.transaction() as session:
                await threads.update_message(session, info.message_id, status="error", error=QUEUE_FAILED)
        finally:
            try:
                await self.store.unlock_thread(info.thread_id, info.turn_id)
            except RedisError:
                log.warning("turn %s: lock not released; it stays until Redis is back", info.turn_id)

    async def cancel(self, connection: ChatConnection, request: events.Cancel) -> None:
        """Stop the thread's running turn, whichever worker runs it. Nothing running: nothing to do."""
        turn_id = await self.store.running_turn(request.thread_id)
        if turn_id is None:
            return
        await self.store.request_cancel(turn_id)
        info = await self.store.info(turn_id)
        if info is not None and info.state == "queued":
            # No worker has it yet: end it here; a worker that picks it up later sees it ended.
            await connection.follow(turn_id)
            await finish_turn(self.store, self.database, info, Transcript(), code="cancelled", error=CANCELLED_MESSAGE)

    async def resume(self, connection: ChatConnection, request: events.Resume) -> None:
        turn_id = await self.store.latest_turn(request.thread_id)
        if turn_id is None:
            async with self.database.reading() as session:
                exists = await threads.get_thread(session, request.thread_id) is not None
            code: events.ErrorCode = "invalid_message" if exists else "thread_not_found"
            connection.send_error(request.thread_id, code, NOTHING_TO_RESUME if exists else NO_SUCH_THREAD)
            return
        await connection.follow(turn_id, max(request.after_seq, 0), catch_up=True)


class _ThreadIdOnly(msgspec.Struct, rename="camel"):
    thread_id: str | None = None


def _thread_id_of(frame: str) -> str | None:
    """Best effort: name the thread in the error even when the rest of the request is wrong."""
    try:
        thread_id = msgspec.json.decode(frame, type=_ThreadIdOnly).thread_id
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return thread_id
