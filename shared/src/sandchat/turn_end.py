"""Ending a turn, once: store the final message, free the thread, publish the final event.

Called by the worker when its agent finishes, by a gateway that cancels a turn no worker has
started, and by reapers when the worker running a turn died (then the text comes from the log).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from sqlalchemy.exc import SQLAlchemyError

from sandchat import events, threads, turn_queue
from sandchat.database import Database
from sandchat.transcript import Transcript
from sandchat.turn_store import REPLAY_RETENTION_S, TurnInfo, TurnStore

log = logging.getLogger(__name__)

INTERRUPTED_MESSAGE: Final = "The worker running this reply stopped; the reply was interrupted."
NOT_STARTED_MESSAGE: Final = "This reply could not be started; send your message again."
CANCELLED_MESSAGE: Final = "Stopped."
# A queued turn whose arq job has vanished for this long was lost (its worker died picking it up).
LOST_JOB_GRACE_S: Final = 5.0
REAP_INTERVAL_S: Final = 2.0
# How long a final write is retried while the database is away.
FINAL_WRITE_RETRY_S: Final = 120.0
# Final writes being retried in the background (kept referenced until they end).
_retries: set[asyncio.Task[None]] = set()


async def finish_turn(
    store: TurnStore,
    database: Database,
    info: TurnInfo,
    transcript: Transcript,
    *,
    code: events.ErrorCode | None = None,
    error: str | None = None,
    session_id: str | None = None,
    cost_usd: float | None = None,
    duration_ms: int | None = None,
    extra_meta: dict[str, Any] | None = None,
    retry_in_background: bool = False,
) -> bool:
    """End the turn with ``done`` (no ``code``) or an ``error``; ``False`` if someone else ended it.

    A final write the database refused is retried for a while: awaited here, or in a background
    task with ``retry_in_background`` (for callers that must answer a client meanwhile).
    """
    if not await store.claim_finish(info.turn_id):
        return False
    status = "complete" if code is None else events.STATUS_FOR_CODE.get(code, "error")
    meta = transcript.meta(costUsd=cost_usd, durationMs=duration_ms, **(extra_meta or {}))
    seq = max(transcript.last_seq, await store.last_seq(info.turn_id)) + 1
    final: events.Done | events.Error
    if code is None:
        final = events.Done(info.thread_id, info.turn_id, seq, info.message_id, session_id, cost_usd, duration_ms)
    else:
        final = events.Error(
            info.thread_id, code, error or code, turn_id=info.turn_id, seq=seq, message_id=info.message_id
        )

    async def store_final() -> None:
        async with database.transaction() as session:
            await threads.finish_message(
                session,
                info.message_id,
                content=transcript.text,
                status=status,
                error=error if code is not None else None,
                meta=meta or None,
            )
            if session_id:
                await threads.set_session_id(session, info.thread_id, session_id)

    stored = False
    try:
        await store_final()
        stored = True
    except (SQLAlchemyError, OSError) as exc:
        log.warning("turn %s: final write failed (%s); retrying after the end is published", info.turn_id, exc)
    # Whatever happened to the database, the thread is freed and clients hear the end. Freed first:
    # a client may send its next message the moment it sees the end, and must not find the thread busy.
    await store.unlock_thread(info.thread_id, info.turn_id)
    await store.publish(info.turn_id, [(seq, events.encode(final))])
    await store.redis.expire(store.keys.turn_log(info.turn_id), REPLAY_RETENTION_S)  # if the final made the log
    if not stored:
        retrying = _retry(store_final, info.turn_id)
        if retry_in_background:
            task = asyncio.create_task(retrying)
            _retries.add(task)
            task.add_done_callback(_retries.discard)
        else:
            await retrying
    return True


async def _retry(write: Callable[[], Awaitable[None]], turn_id: str) -> None:
    """The database is away (restarting): keep trying, so the reply never stays `streaming`."""
    delay, deadline = 0.5, time.monotonic() + FINAL_WRITE_RETRY_S
    while time.monotonic() < deadline:
        await asyncio.sleep(delay)
        try:
            await write()
        except (SQLAlchemyError, OSError) as exc:
            delay = min(delay * 2, 5.0)
            log.debug("turn %s: final write still failing: %s", turn_id, type(exc).__name__)
        else:
            log.info("turn %s: final write stored after the database came back", turn_id)
            return
    log.error("turn %s: final write failed for %.0f s; the reply stays as last written", turn_id, FINAL_WRITE_RETRY_S)


async def interrupt_turn(store: TurnStore, database: Database, turn_id: str, reason: str = INTERRUPTED_MESSAGE) -> bool:
    """End a turn whose worker is gone, keeping every token it had published."""
    info = await store.info(turn_id)
    if info is None:
        await store.redis.zrem(store.keys.active_turns, turn_id)
        return False
    transcript = Transcript.from_frames(await store.replay(turn_id))
    ended = await finish_turn(store, database, info, transcript, code="interrupted", error=reason)
    if ended:
        log.warning("turn %s of thread %s interrupted: %s", turn_id, info.thread_id, reason)
    return ended


async def reap_dead_turns(store: TurnStore, database: Database, lost_job_grace_s: float = LOST_JOB_GRACE_S) -> int:
    """End turns whose worker stopped heart-beating, whose queued job was lost, or whose start never finished."""
    reaped = 0
    now = time.time()
    active = [
        (turn.decode(), queued_at)
        for turn, queued_at in await store.redis.zrange(store.keys.active_turns, 0, -1, withscores=True)
    ]
    if not active:
        return 0
    # One round trip for all of them; the few that look dead are looked at one by one.
    states = await store.states([turn for turn, _ in active])
    for (turn, queued_at), (state, alive) in zip(active, states, strict=True):
        if state is None:
            await store.redis.zrem(store.keys.active_turns, turn)
            continue
        if alive:
            continue
        if state == "starting":
            # The gateway starting it died or lost Redis (a healthy start takes well under start_ttl_s).
            if now - queued_at > store.start_ttl_s:
                reaped += await interrupt_turn(store, database, turn, NOT_STARTED_MESSAGE)
        elif state == "running" or (
            now - queued_at > lost_job_grace_s and not await turn_queue.job_is_pending(store.redis, turn)
        ):
            reaped += await interrupt_turn(store, database, turn)
    return reaped


async def run_reaper(
    store: TurnStore,
    database: Database,
    interval_s: float = REAP_INTERVAL_S,
    lost_job_grace_s: float = LOST_JOB_GRACE_S,
) -> None:
    """Forever: reap dead turns every few seconds. Survives Redis and database outages."""
    while True:
        try:
            await reap_dead_turns(store, database, lost_job_grace_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("reaper round failed (%s: %s); retrying", type(exc).__name__, exc)
        await asyncio.sleep(interval_s)
