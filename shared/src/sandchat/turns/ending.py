"""Ending a turn, once: store the final message, pass the thread on, publish the final event.

Called by the worker when its agent's turn ends, by a gateway that stops a turn no worker has
claimed, and by reapers when the worker running a turn died or no worker took it (then the text
comes from the replay log). After the end the thread's next queued message starts, under the same
lock, so a message typed while the agent worked is never overtaken nor forgotten.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy.exc import SQLAlchemyError

from sandchat import metrics, threads, wire
from sandchat.logs import turn_context
from sandchat.retry import retry_for
from sandchat.transcript import Transcript
from sandchat.turns import Turns
from sandchat.turns.outcomes import INTERRUPTED, Ending
from sandchat.turns.store import TurnInfo
from sandchat.turns.thread_queue import NextTurn, begin_next, launch, reserve_next, start_waiting_turns

log = logging.getLogger(__name__)

# How long a final write is retried while the database is away.
FINAL_WRITE_RETRY_S: Final = 120.0


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What the agent's run leaves besides its text: stored with the reply, sent in ``done``."""

    session_id: str | None = None
    cost_usd: float | None = None
    duration_ms: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


# Final writes being retried in the background (kept referenced until they end).
_retries: set[asyncio.Task[None]] = set()


async def finish_turn(
    turns: Turns,
    info: TurnInfo,
    transcript: Transcript,
    ending: Ending,
    result: TurnResult | None = None,
    *,
    retry_in_background: bool = False,
) -> bool:
    """End the turn with ``done`` or an error; ``False`` if someone else ended it already.

    A final write the database refused is retried for a while: awaited here, or in a background
    task with ``retry_in_background`` (for callers that must answer a client meanwhile).
    """
    with turn_context(info.turn_id, info.thread_id):
        return await _finish(turns, info, transcript, ending, result, retry_in_background=retry_in_background)


async def _finish(
    turns: Turns,
    info: TurnInfo,
    transcript: Transcript,
    ending: Ending,
    result: TurnResult | None,
    *,
    retry_in_background: bool,
) -> bool:
    store = turns.store
    if not await store.claim_finish(info.turn_id):
        return False
    result = result or TurnResult()
    seq = max(transcript.last_seq, await store.last_seq(info.turn_id)) + 1
    final = _final_event(info, seq, ending, result)

    async def store_final() -> None:
        meta = transcript.meta(costUsd=result.cost_usd, durationMs=result.duration_ms, **result.meta)
        async with turns.database.transaction() as session:
            # Once: a reply that already has its final status keeps it.
            await threads.finish_message(
                session,
                info.message_id,
                content=transcript.text,
                status=ending.status,
                error=ending.message if ending.code is not None else None,
                meta=meta or None,
            )
            if result.session_id:
                await threads.set_session_id(session, info.thread_id, result.session_id)

    stored = False
    try:
        await store_final()
        stored = True
    except (SQLAlchemyError, OSError) as exc:
        metrics.BACKEND_ERRORS.labels("database", "final_write").inc()
        log.warning("turn %s: final write failed (%s); retrying after the end is published", info.turn_id, exc)
    # The thread is passed on before the final event: a client may send its next message the moment
    # it sees the end, and must find the thread free (or its queued message reserved to go next).
    successor = await _reserve_successor(turns, info)
    user_id = await store.end(info.thread_id, info.turn_id)
    # Counted before it is published: whoever has seen the end finds it in the metrics.
    metrics.TURNS.labels(ending.outcome).inc()
    await store.publish(info.turn_id, [(seq, wire.encode(final))])
    # The next turn is announced after this one's end, so every client sees them in order.
    await _start_successor(turns, info, successor)
    # Its person's slot is free: their oldest turn waiting for one starts.
    await start_waiting_turns(turns, user_id)
    if not stored:
        retrying = _retry(store_final, info.turn_id)
        if retry_in_background:
            task = asyncio.create_task(retrying)
            _retries.add(task)
            task.add_done_callback(_retries.discard)
        else:
            await retrying
    log.info("turn %s of thread %s ended: %s", info.turn_id, info.thread_id, ending.outcome)
    return True


def _final_event(info: TurnInfo, seq: int, ending: Ending, result: TurnResult) -> wire.Done | wire.Error:
    if ending.code is None:
        return wire.Done(
            info.thread_id, info.turn_id, seq, info.message_id, result.session_id, result.cost_usd, result.duration_ms
        )
    return wire.Error(
        info.thread_id,
        ending.code,
        ending.message or ending.code,
        turn_id=info.turn_id,
        seq=seq,
        message_id=info.message_id,
    )


async def _reserve_successor(turns: Turns, info: TurnInfo) -> NextTurn | None:
    """Hand the lock to the thread's next queued message, if any; never fails the ending."""
    try:
        return await reserve_next(turns, info.thread_id, after=info)
    except (SQLAlchemyError, OSError) as exc:
        # The reapers start it once the database is back.
        log.warning("thread %s: next queued message not started (%s)", info.thread_id, type(exc).__name__)
        return None


async def _start_successor(turns: Turns, info: TurnInfo, successor: NextTurn | None) -> None:
    """Start the reserved next turn, or any message queued while the lock was being freed."""
    try:
        if successor is None or not await launch(turns, successor):
            await begin_next(turns, info.thread_id)
    except (SQLAlchemyError, OSError) as exc:
        # A reserved turn the database could not start ends through the reapers, which also start
        # the thread's queued messages once the database is back.
        log.warning("thread %s: next queued message not started (%s)", info.thread_id, type(exc).__name__)


async def _retry(write: Callable[[], Awaitable[None]], turn_id: str) -> None:
    """The database is away (restarting): keep trying, so the reply never stays `streaming`."""

    def failing(exc: BaseException) -> None:
        log.debug("turn %s: final write still failing: %s", turn_id, type(exc).__name__)

    if await retry_for(write, (SQLAlchemyError, OSError), FINAL_WRITE_RETRY_S, failing):
        log.info("turn %s: final write stored after the database came back", turn_id)
        return
    log.error("turn %s: final write failed for %.0f s; the reply stays as last written", turn_id, FINAL_WRITE_RETRY_S)


async def end_unattended(turns: Turns, turn_id: str, ending: Ending = INTERRUPTED) -> bool:
    """End a turn nobody is running (its worker died, or none took it), keeping every published token.

    Approval requests still open are answered with how the turn ended (``interrupted``), so no
    client keeps a request on screen that can no longer be answered.
    """
    store = turns.store
    info = await store.info(turn_id)
    if info is None:
        await store.forget(turn_id)
        return False
    transcript = Transcript.from_frames(await store.replay(turn_id))
    resolution: wire.Resolution = "interrupted" if ending.code == "interrupted" else "cancelled"
    for request in await turns.approvals.open_requests(turn_id):
        if await turns.approvals.resolve(turn_id, request.request_id, resolution):
            transcript.last_seq = max(transcript.last_seq, await store.last_seq(turn_id)) + 1
            answered = wire.ApprovalAnswered(
                info.thread_id, turn_id, transcript.last_seq, request.request_id, resolution
            )
            await store.publish(turn_id, [(transcript.last_seq, wire.encode(answered))])
    ended = await finish_turn(turns, info, transcript, ending)
    if ended and ending.code == "interrupted":
        log.warning("turn %s of thread %s interrupted: %s", turn_id, info.thread_id, ending.message)
    return ended
