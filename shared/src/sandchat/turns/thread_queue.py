"""The thread's queue: messages sent while a turn ran start, one by one, as the thread's next turns.

Whoever ends a turn hands the thread's lock to its oldest queued message (:func:`reserve_next` with
``after``), then starts it (:func:`launch`); a message queued while the lock was being freed is
started by whoever sees it first (:func:`begin_next`). See :mod:`sandchat.turns.beginning` for why
no queued message is ever stranded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from redis.exceptions import RedisError

from sandchat import threads, tracing, wire
from sandchat.models import Message, new_id
from sandchat.turns import Turns
from sandchat.turns.fair_share import waiting_message
from sandchat.turns.store import TurnInfo, TurnStart

log = logging.getLogger(__name__)

# A queued message removed while it was being started: look for the next one this many times.
LAUNCH_ATTEMPTS: Final = 3


def new_turn(thread_id: str, user_message_id: str, user_id: str = "") -> TurnInfo:
    """A turn of ``user_id`` answering ``user_message_id``, with its reply's id chosen now."""
    return TurnInfo(
        turn_id=new_id(),
        thread_id=thread_id,
        message_id=new_id(),
        user_message_id=user_message_id,
        trace=tracing.traceparent(),
        user_id=user_id,
    )


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
    info = new_turn(thread_id, waiting.id, after.user_id if after else await thread_owner(turns, thread_id))
    if not await turns.store.begin(info, after=after.turn_id if after else None):
        return None
    return NextTurn(info, waiting)


async def thread_owner(turns: Turns, thread_id: str) -> str:
    """The person whose thread it is, whose turns its messages become ('' when there is no such thread)."""
    async with turns.database.reading() as session:
        thread = await threads.get_thread(session, thread_id)
    return thread.owner_id if thread is not None else ""


async def launch(turns: Turns, reserved: NextTurn) -> bool:
    """Start a reserved turn: store its start, announce it, dispatch it; ``False`` if its message was removed."""
    info = reserved.info
    async with turns.database.transaction() as session:
        reply = await threads.start_queued(session, reserved.waiting, info.turn_id, info.message_id)
    if reply is None:  # removed by its sender meanwhile
        await turns.store.end(info.thread_id, info.turn_id, happened=False)
        return False
    await announce(turns, info, None)
    await dispatch(turns, info)
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


async def announce(turns: Turns, info: TurnInfo, title: str | None) -> None:
    """Tell every watcher of the thread that this turn started (and the thread's new title).

    Best effort: a watcher that missed it sees the turn when it reads the thread again.
    """
    started = wire.Started(info.thread_id, info.turn_id, info.user_message_id, info.message_id)
    try:
        await turns.store.publish_thread(info.thread_id, wire.encode(started))
        if title:
            await turns.store.publish_thread(info.thread_id, wire.encode(wire.Title(info.thread_id, title)))
    except RedisError as exc:
        log.warning("turn %s: its start was not announced to the thread (%s)", info.turn_id, type(exc).__name__)


async def dispatch(turns: Turns, info: TurnInfo, start: TurnStart | None = None) -> None:
    """Hand the turn to a worker, or to its person's line when they have every slot (its client is told).

    ``start``: what its agent starts with, stored with the turn on the way (the worker then reads no
    database before the agent starts). If Redis fails here the turn stays registered: a reaper ends it.
    """
    try:
        place = await turns.fair_share.admit(info.user_id, info.turn_id)
        if place > 0:
            waiting = wire.Status(info.thread_id, info.turn_id, 1, waiting_message(turns.fair_share.limit, place))
            await turns.store.note_while_queued(info.turn_id, wire.encode(waiting))
            log.info(
                "thread %s: turn %s waits for a slot of its person (place %d)", info.thread_id, info.turn_id, place
            )
            return
        if place == 0:
            await _route(turns, info.turn_id, info.thread_id, start.encode() if start is not None else b"")
    except RedisError as exc:
        log.warning("turn %s: could not be dispatched (%s); a reaper will end it", info.turn_id, type(exc).__name__)


async def start_waiting_turns(turns: Turns, user_id: str) -> None:
    """Dispatch the person's oldest waiting turns that their free slots now allow."""
    try:
        for promoted in await turns.fair_share.promote(user_id):
            await _route(turns, promoted.turn_id, promoted.thread_id)
    except RedisError as exc:
        log.warning("waiting turns not started now (%s); a reaper starts them", type(exc).__name__)


async def _route(turns: Turns, turn_id: str, thread_id: str, start: bytes = b"") -> None:
    worker = await turns.routing.dispatch(turn_id, thread_id, start)
    log.info("thread %s: turn %s dispatched to %s", thread_id, turn_id, worker or "the queue")
