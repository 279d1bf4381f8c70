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

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from sandchat import events, threads
from sandchat.models import Message, new_id
from sandchat.turns import Turns
from sandchat.turns.store import TurnInfo

log = logging.getLogger(__name__)

STORE_FAILED: Final = "Your message could not be stored (the database is unavailable); try again."
DISPATCH_FAILED: Final = "Your message was stored but could not be sent to a worker; try again."
NO_SUCH_THREAD: Final = "No thread with this id."
# Tries of the store transaction when SQLite stays busy past its timeout.
STORE_ATTEMPTS: Final = 3
# A queued message removed while it was being started: look for the next one this many times.
LAUNCH_ATTEMPTS: Final = 3


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
    code: events.ErrorCode
    message: str


Submitted = TurnBegun | MessageQueued | MessageRefused
# Called once the message is stored, before anyone else hears of it: the sender is answered first
# (and, for a turn, follows it before it is dispatched, so it misses none of its events).
OnAccepted = Callable[[TurnBegun | MessageQueued], Awaitable[None]]


def _new_turn(thread_id: str, user_message_id: str) -> TurnInfo:
    return TurnInfo(turn_id=new_id(), thread_id=thread_id, message_id=new_id(), user_message_id=user_message_id)


async def submit(turns: Turns, thread_id: str, content: str, on_accepted: OnAccepted) -> Submitted:
    """Start a turn for ``content``, or queue it behind the running one. Redis errors propagate."""
    info = _new_turn(thread_id, new_id())
    if not await turns.store.begin(info):
        return await _queue(turns, thread_id, content, info.user_message_id, on_accepted)
    try:
        exchange = await _store_exchange(turns, info, content)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("thread %s: could not store the message: %s", thread_id, type(exc).__name__)
        await turns.store.end(thread_id, info.turn_id, happened=False)
        return MessageRefused("agent_error", STORE_FAILED)
    if exchange is None:
        await turns.store.end(thread_id, info.turn_id, happened=False)
        return MessageRefused("thread_not_found", NO_SUCH_THREAD)
    begun = TurnBegun(info, exchange.title)
    await on_accepted(begun)
    await _announce(turns, info, exchange.title)
    await _dispatch(turns, info)
    return begun


async def _store_exchange(turns: Turns, info: TurnInfo, content: str) -> threads.Exchange | None:
    """The user message and the streaming reply, in one transaction (``None``: no such thread).

    SQLite under heavy write load can exhaust its busy timeout; the transaction then wrote
    nothing, so it is simply tried again.
    """
    attempt = 1
    while True:
        try:
            async with turns.database.transaction() as session:
                return await threads.begin_exchange(
                    session,
                    info.thread_id,
                    content,
                    info.turn_id,
                    user_message_id=info.user_message_id,
                    reply_id=info.message_id,
                )
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
    except (SQLAlchemyError, OSError) as exc:
        log.warning("thread %s: could not queue the message: %s", thread_id, type(exc).__name__)
        return MessageRefused("agent_error", STORE_FAILED)
    if message is None:
        return MessageRefused("thread_not_found", NO_SUCH_THREAD)
    queued = MessageQueued(message_id, position)
    await on_accepted(queued)
    await turns.store.publish_thread(thread_id, events.encode(events.Queued(thread_id, message_id, position)))
    # The running turn may have ended while this was stored: then nobody else would start it.
    await begin_next(turns, thread_id)
    return queued


@dataclass(frozen=True, slots=True)
class NextTurn:
    """The thread's next queued message, holding the thread's lock, not yet started."""

    info: TurnInfo
    waiting: Message


async def reserve_next(turns: Turns, thread_id: str, *, after: TurnInfo | None = None) -> NextTurn | None:
    """Take the thread's lock for its oldest queued message, if any.

    ``after`` is the turn that just ended and still holds the lock (it hands the lock over); without
    it the lock must be free, else the turn holding it will start the message when it ends.
    """
    async with turns.database.reading() as session:
        waiting = await threads.next_queued(session, thread_id)
    if waiting is None:
        return None
    info = _new_turn(thread_id, waiting.id)
    if not await turns.store.begin(info, after=after.turn_id if after else None):
        return None
    return NextTurn(info, waiting)


async def launch(turns: Turns, reserved: NextTurn) -> bool:
    """Start a reserved turn: store its start, announce it, dispatch it; ``False`` if its message was removed."""
    info = reserved.info
    async with turns.database.transaction() as session:
        reply = await threads.start_queued(session, reserved.waiting, info.turn_id, info.message_id)
    if reply is None:  # removed by its sender meanwhile
        await turns.store.end(info.thread_id, info.turn_id, happened=False)
        return False
    await _announce(turns, info, None)
    await _dispatch(turns, info)
    return True


async def begin_next(turns: Turns, thread_id: str) -> TurnInfo | None:
    """Start the thread's oldest queued message if the thread is free: its next turn."""
    for _ in range(LAUNCH_ATTEMPTS):
        reserved = await reserve_next(turns, thread_id)
        if reserved is None:
            return None
        if await launch(turns, reserved):
            return reserved.info
    return None


async def _announce(turns: Turns, info: TurnInfo, title: str | None) -> None:
    """Tell every watcher of the thread that this turn started (and the thread's new title)."""
    started = events.Started(info.thread_id, info.turn_id, info.user_message_id, info.message_id)
    await turns.store.publish_thread(info.thread_id, events.encode(started))
    if title:
        await turns.store.publish_thread(info.thread_id, events.encode(events.Title(info.thread_id, title)))


async def _dispatch(turns: Turns, info: TurnInfo) -> None:
    """Hand the turn to a worker. If Redis fails here the turn stays registered: a reaper ends it."""
    try:
        worker = await turns.routing.dispatch(info.turn_id, info.thread_id)
    except RedisError as exc:
        log.warning("turn %s: could not be dispatched (%s); a reaper will end it", info.turn_id, type(exc).__name__)
        return
    log.info("thread %s: turn %s dispatched to %s", info.thread_id, info.turn_id, worker or "the queue")
