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
from sandchat.models import new_id
from sandchat.transcript import Transcript
from sandchat.turn_end import CANCELLED_MESSAGE, NOT_STARTED_MESSAGE, finish_turn
from sandchat.turn_store import TurnInfo, TurnStore
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError

from sandchat_gateway.connection import ChatConnection

log = logging.getLogger(__name__)

NO_SUCH_THREAD: Final = "No thread with this id."
BUSY: Final = "A reply is still streaming in this thread; wait for it or stop it."
EMPTY: Final = "The message is empty."
TOO_LARGE: Final = f"The message is longer than {events.MAX_CONTENT_CHARS:,} characters."
NUL: Final = "The message contains a NUL character."
TOO_DEEP: Final = "Invalid message: it is nested too deeply."
# The longest frame worth decoding: 100,000 characters escaped as JSON, with room to spare.
MAX_REQUEST_CHARS: Final = 1 << 20
# An error quotes at most this much of what the client sent.
MAX_QUOTE_CHARS: Final = 200
RATE_LIMITED: Final = "Too many messages: slow down and try again in a moment."
NOTHING_TO_RESUME: Final = "No reply is streaming in this thread, and none ended recently."
STORE_FAILED: Final = "Your message could not be stored (the database is unavailable); try again."
# Tries of the store transaction when SQLite stays busy past its timeout.
STORE_ATTEMPTS: Final = 3
QUEUE_FAILED: Final = "Your message was stored but could not be queued (Redis is unavailable); try again."
REDIS_UNAVAILABLE: Final = "Redis is unavailable; try again in a moment."
DATABASE_UNAVAILABLE: Final = "The database is unavailable; try again in a moment."


@dataclass(slots=True)
class Chat:
    """What request handlers need, shared by all connections of one gateway."""

    database: Database
    store: TurnStore
    queue: ArqRedis
    queue_name: str

    async def handle(self, connection: ChatConnection, frame: str | bytes) -> None:
        """Answer one frame of a client. Never raises: whatever fails, the client hears one error."""
        try:
            await self._handle(connection, frame)
        except RedisError as exc:
            log.warning("request failed, Redis unavailable: %s", type(exc).__name__)
            connection.send_error(_thread_id_of(frame), "agent_error", REDIS_UNAVAILABLE)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("request failed, database unavailable: %s", type(exc).__name__)
            connection.send_error(_thread_id_of(frame), "agent_error", DATABASE_UNAVAILABLE)
        except Exception:
            log.exception("request failed")
            connection.send_error(_thread_id_of(frame), "agent_error", "Something went wrong on our side; try again.")

    async def _handle(self, connection: ChatConnection, frame: str | bytes) -> None:
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
            connection.send_error(_thread_id_of(frame), "invalid_message", f"Invalid message: {_quote(str(exc))}.")
            return
        except RecursionError:
            connection.send_error(None, "invalid_message", TOO_DEEP)
            return
        if not threads.is_plausible_id(request.thread_id):
            # Such an id names no thread and must not become a Redis key or reach the database.
            connection.send_error(None, "thread_not_found", NO_SUCH_THREAD)
            return
        if isinstance(request, events.SendMessage):
            await self.start_turn(connection, request)
        elif isinstance(request, events.Cancel):
            await self.cancel(connection, request)
        else:
            await self.resume(connection, request)

    async def start_turn(self, connection: ChatConnection, request: events.SendMessage) -> None:
        """Store the message and queue its turn; the client hears `started` or one error.

        The thread's lock is taken and the turn registered in one Redis step. From then on, whatever
        fails, the turn ends: here when possible, else (Redis away, the gateway gone) its lock
        expires and a reaper ends it.
        """
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
        info = TurnInfo(str(uuid.uuid4()), thread_id, new_id(), new_id(), "starting")
        # The lock first: it is one Redis round trip, and a busy thread then costs no database work.
        if not await self.store.begin(info):
            connection.send_error(thread_id, "thread_busy", BUSY)
            return
        try:
            exchange = await self._store_turn(info, content)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("thread %s: could not store the message: %s", thread_id, type(exc).__name__)
            # The write may have happened after all (a commit whose answer was lost): end the turn properly.
            await self._end_unqueued(info, STORE_FAILED)
            connection.send_error(thread_id, "agent_error", STORE_FAILED)
            return
        if exchange is None:
            await self.store.unlock_thread(thread_id, info.turn_id)
            connection.send_error(thread_id, "thread_not_found", NO_SUCH_THREAD)
            return
        failure: str | None = None
        try:
            await connection.follow(info.turn_id)
            if not await self.store.hand_to_queue(info):
                failure = NOT_STARTED_MESSAGE  # its lock expired meanwhile, or a reaper ended it
            elif not await turn_queue.enqueue_turn(self.queue, self.queue_name, info.turn_id):
                failure = QUEUE_FAILED
        except RedisError as exc:
            log.warning("turn %s: could not be queued: %s", info.turn_id, type(exc).__name__)
            failure = QUEUE_FAILED
        if failure is not None:
            await connection.unfollow(info.turn_id)
            await self._end_unqueued(info, failure)
            connection.send(
                events.Error(thread_id, "agent_error", failure, turn_id=info.turn_id, message_id=info.message_id)
            )
            return
        connection.send(events.Started(thread_id, info.turn_id, info.user_message_id, info.message_id))
        if exchange.title:
            connection.send(events.Title(thread_id, exchange.title))
        log.info("thread %s: turn %s queued", thread_id, info.turn_id)

    async def _store_turn(self, info: TurnInfo, content: str) -> threads.Exchange | None:
        """The user message and the streaming reply (``None``: no such thread).

        SQLite under heavy write load can exhaust its busy timeout; the transaction then wrote
        nothing, so it is simply tried again.
        """
        attempt = 1
        while True:
            try:
                async with self.database.transaction() as session:
                    return await threads.begin_exchange(
                        session,
                        info.thread_id,
                        content,
                        info.turn_id,
                        user_id=info.user_message_id,
                        reply_id=info.message_id,
                    )
            except (IntegrityError, StaleDataError):
                # The thread was deleted between the read and the write (PostgreSQL reports it there).
                return None
            except OperationalError as exc:
                if attempt >= STORE_ATTEMPTS or "locked" not in str(exc):
                    raise
                attempt += 1
                log.warning("thread %s: database busy, storing again (attempt %d)", info.thread_id, attempt)

    async def _end_unqueued(self, info: TurnInfo, reason: str) -> None:
        """End a turn that never reached the queue: its reply (if stored) gets a final status, the thread is free."""
        try:
            await finish_turn(
                self.store,
                self.database,
                info,
                Transcript(),
                code="agent_error",
                error=reason,
                retry_in_background=True,
            )
        except RedisError as exc:
            log.warning("turn %s: not ended now (%s); its lock expires and a reaper ends it", info.turn_id, exc)

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
            await finish_turn(
                self.store,
                self.database,
                info,
                Transcript(),
                code="cancelled",
                error=CANCELLED_MESSAGE,
                retry_in_background=True,
            )

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


def _thread_id_of(frame: str | bytes) -> str | None:
    """Best effort: name the thread in the error even when the rest of the request is wrong."""
    if isinstance(frame, bytes):
        return None
    try:
        thread_id = msgspec.json.decode(frame, type=_ThreadIdOnly).thread_id
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    return thread_id if thread_id is not None and threads.is_plausible_id(thread_id) else None


def _quote(text: str) -> str:
    """At most MAX_QUOTE_CHARS of a text that may quote the client's input."""
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1] + "…"
