"""A message starts a turn, or waits in its thread's queue until the turns before it have ended.

Order of a turn's start (invariant 1: stored before queued): register the turn and take the thread's
lock in one atomic step, store the user message and the empty reply, tell the sender (``started``),
then dispatch the turn to a worker. A message sent while the thread is busy is stored as
``queued``; whoever ends the running turn starts the next queued message under the same lock.

The one race — the running turn ends just as a message is queued — is closed from both sides: the
sender stores its message and then looks at the lock; the finisher frees the lock and then looks for
queued messages. At least one of them sees the other's write and starts the message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError

from sandchat import threads, wire
from sandchat.logs import turn_context
from sandchat.models import new_id
from sandchat.transcript import Transcript
from sandchat.turns import Turns
from sandchat.turns.ending import finish_turn
from sandchat.turns.outcomes import failed
from sandchat.turns.start_writer import store_start
from sandchat.turns.store import TurnInfo, TurnStart
from sandchat.turns.thread_queue import announce, begin_next, dispatch, new_turn, thread_owner

log = logging.getLogger(__name__)

# Tries of the store transaction when SQLite stays busy past its timeout.
STORE_ATTEMPTS: Final = 3


@dataclass(frozen=True, slots=True)
class TurnBegun:
    info: TurnInfo
    title: str | None


@dataclass(frozen=True, slots=True)
class MessageQueued:
    message_id: str
    position: int


@dataclass(frozen=True, slots=True)
class MessageRefused:
    code: wire.ErrorCode
    message: str


Submitted = TurnBegun | MessageQueued | MessageRefused

# The sentences of the refusals, and each refusal's code and sentence, paired once.
STORE_FAILED: Final = "Your message could not be stored (the database is unavailable); try again."
NO_SUCH_THREAD: Final = "No thread with this id."
NOTHING_TO_RETRY: Final = "Nothing to retry: the last reply in this thread did not end in an error or a stop."
BUSY_RETRY: Final = "A reply is running in this thread; stop it first, or wait for it to end."
_UNSTORED: Final = MessageRefused("agent_error", STORE_FAILED)
_NO_THREAD: Final = MessageRefused("thread_not_found", NO_SUCH_THREAD)
_BUSY: Final = MessageRefused("thread_busy", BUSY_RETRY)
_NO_RETRY: Final = MessageRefused("invalid_message", NOTHING_TO_RETRY)

# Called once the message is stored, before anyone else hears of it: the sender is answered first
# (and, for a turn, follows it before it is dispatched, so it misses none of its events).
OnAccepted = Callable[[TurnBegun | MessageQueued], Awaitable[None]]


async def submit(
    turns: Turns, thread_id: str, content: str, on_accepted: OnAccepted, *, user_id: str | None = None
) -> Submitted:
    """Start a turn of ``user_id`` (None: the thread's owner) for ``content``, or queue it behind the running
    one. Redis errors propagate."""
    if user_id is None:
        try:
            user_id = await thread_owner(turns, thread_id)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("thread %s: could not read its owner: %s", thread_id, type(exc).__name__)
            return _UNSTORED
    info = new_turn(thread_id, new_id(), user_id)
    if not await turns.store.begin(info):
        return await _queue(turns, thread_id, content, info.user_message_id, on_accepted)
    with turn_context(info.turn_id, thread_id):
        return await _start(turns, info, content, on_accepted)


async def submit_retry(turns: Turns, thread_id: str, on_accepted: OnAccepted, *, user_id: str) -> Submitted:
    """Run ``user_id``'s thread's last message again after its reply failed or was stopped (a new reply)."""
    async with turns.database.reading() as session:
        if await threads.get_thread(session, thread_id, owner_id=user_id) is None:
            return _NO_THREAD
        target = await threads.retryable_message(session, thread_id)
    if target is None:
        if await turns.store.running_turn(thread_id) is not None:
            return _BUSY
        return _NO_RETRY
    info = new_turn(thread_id, target.id, user_id)
    if not await turns.store.begin(info):
        return _BUSY
    with turn_context(info.turn_id, thread_id):
        try:
            async with turns.database.transaction() as session:
                stored = await threads.begin_retry(session, thread_id, target.id, info.turn_id, info.message_id)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("thread %s: could not store the retry: %s", thread_id, type(exc).__name__)
            await _end_unstored(turns, info)
            return _UNSTORED
        if not stored:  # another tab retried or sent first
            await turns.store.end(thread_id, info.turn_id, happened=False)
            return _NO_RETRY
        begun = TurnBegun(info, None)
        await on_accepted(begun)
        await announce(turns, info, None)
        await dispatch(turns, info)
        return begun


async def _start(turns: Turns, info: TurnInfo, content: str, on_accepted: OnAccepted) -> Submitted:
    thread_id = info.thread_id
    try:
        exchange = await _store_exchange(turns, info, content)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("thread %s: could not store the message: %s", thread_id, type(exc).__name__)
        # The write may have happened after all (a commit whose answer was lost): end the turn
        # properly, so that a reply stored after all gets its final status.
        await _end_unstored(turns, info)
        return _UNSTORED
    if exchange is None:
        await turns.store.end(thread_id, info.turn_id, happened=False)
        return _NO_THREAD
    begun = TurnBegun(info, exchange.title)
    await on_accepted(begun)
    # The worker needs nothing else to start the agent; the watchers' `started` goes out meanwhile.
    start = TurnStart.of(exchange.thread, exchange.user.content)
    await asyncio.gather(announce(turns, info, exchange.title), dispatch(turns, info, start))
    return begun


async def _end_unstored(turns: Turns, info: TurnInfo) -> None:
    try:
        await finish_turn(turns, info, Transcript(), failed(STORE_FAILED), retry_in_background=True)
    except RedisError as exc:
        log.warning("turn %s: not ended now (%s); a reaper ends it once Redis is back", info.turn_id, exc)


async def _store_exchange(turns: Turns, info: TurnInfo, content: str) -> threads.Exchange | None:
    """The user message and the streaming reply, in one transaction (``None``: no such thread).

    SQLite under heavy write load can exhaust its busy timeout; the transaction then wrote
    nothing, so it is simply tried again.
    """
    start = threads.ExchangeStart(info.thread_id, content, info.turn_id, info.user_message_id, info.message_id)
    attempt = 1
    while True:
        try:
            return await store_start(turns.database, start)
        except (IntegrityError, StaleDataError):
            # The thread was deleted between the read and the write (PostgreSQL reports it there).
            return None
        except OperationalError as exc:
            if attempt >= STORE_ATTEMPTS or "locked" not in str(exc):
                raise
            attempt += 1
            log.warning("thread %s: database busy, storing again (attempt %d)", info.thread_id, attempt)


async def _queue(turns: Turns, thread_id: str, content: str, message_id: str, on_accepted: OnAccepted) -> Submitted:
    try:
        async with turns.database.transaction() as session:
            message = await threads.queue_message(session, thread_id, content, message_id)
            position = await threads.queue_position(session, message) if message is not None else 0
    except (IntegrityError, StaleDataError):
        message = None  # the thread was deleted meanwhile
    except (SQLAlchemyError, OSError) as exc:
        log.warning("thread %s: could not queue the message: %s", thread_id, type(exc).__name__)
        return _UNSTORED
    if message is None:
        return _NO_THREAD
    queued = MessageQueued(message_id, position)
    await on_accepted(queued)
    try:
        await turns.store.publish_thread(thread_id, wire.encode(wire.Queued(thread_id, message_id, position)))
        # The running turn may have ended while this was stored: then nobody else would start it.
        await begin_next(turns, thread_id)
    except (RedisError, SQLAlchemyError, OSError) as exc:
        # The message is stored and its sender answered; the reapers start stranded messages.
        log.warning("thread %s: queued message %s not passed on now (%s)", thread_id, message_id, type(exc).__name__)
    return queued
