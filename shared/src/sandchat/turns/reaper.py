"""Reapers: every gateway and worker looks after turns whose worker is gone, or that no worker took.

Each round (every REAP_INTERVAL_S), for every registered turn:
- claimed (running or waiting) but its worker stopped heart-beating → ``interrupted``, open approval
  requests answered ``interrupted``, and the thread's next queued message starts;
- routed to a worker's inbox, and that worker died before claiming it → put on the shared queue (it
  never started, so it cannot run twice);
- not claimed after a few seconds → the client is told it waits for a worker; not claimed within
  TURN_PICKUP_TIMEOUT_S → ended with a clear error (the user's message stays stored);
- its arq job vanished without a claim (a worker died picking it up) → ended with a clear error. A
  turn whose job was never queued is given longer (``start_grace_s``): its gateway may still be storing
  it, slow under a burst of starts, or it died or gave up (Redis failing) mid-start;
- waiting for a slot of its person (sandchat.turns.fair_share) → left alone: it is not late, and
  its person's free slots go to their waiting turns (slots of turns that are gone are dropped first).
Then threads with queued messages and a free lock get their next turn (a finisher that died between
ending a turn and starting the next one leaves exactly that).

Reapers in several processes may look at the same turn: ending is claimed once (``claim_finish``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Final

from sandchat import threads, wire
from sandchat.turns import Turns, queue
from sandchat.turns.ending import end_unattended
from sandchat.turns.outcomes import INTERRUPTED, WAITING_FOR_WORKER_MESSAGE, Ending, failed, no_worker
from sandchat.turns.thread_queue import begin_next, start_waiting_turns

log = logging.getLogger(__name__)

REAP_INTERVAL_S: Final = 2.0
# A queued turn whose arq job vanished for this long was lost (its worker died picking it up).
LOST_JOB_GRACE_S: Final = 5.0
# A registered turn whose job was never queued is taken for lost after this long.
START_GRACE_S: Final = 20.0
# When a client waiting for a worker is told so.
WAITING_NOTICE_S: Final = 3.0
LOST_MESSAGE: Final = "This message could not be handed to a worker; send it again."


@dataclass(frozen=True, slots=True)
class ReaperPolicy:
    pickup_timeout_s: float = 30.0
    lost_job_grace_s: float = LOST_JOB_GRACE_S
    start_grace_s: float = START_GRACE_S


async def reap(turns: Turns, policy: ReaperPolicy) -> int:
    """One round; returns how many turns it ended."""
    ended = 0
    active = await turns.store.active()
    if active:
        states = await turns.store.states([turn for turn, _ in active])
        routed = {fields["routed_to"] for fields, _ in states if fields.get("routed_to")}
        alive_workers = dict(zip(routed, await turns.routing.worker_alive(sorted(routed)), strict=True))
        now = time.time()
        for user_id in sorted({fields.get("user", "") for fields, _ in states if fields.get("slot") == "waiting"}):
            await start_waiting_turns(turns, user_id)
        for (turn_id, queued_at), (fields, alive) in zip(active, states, strict=True):
            ending = await _look_at(
                turns,
                policy,
                turn_id=turn_id,
                age_s=now - queued_at,
                fields=fields,
                alive=alive,
                alive_workers=alive_workers,
            )
            if ending is not None and await end_unattended(turns, turn_id, ending):
                ended += 1
    await _start_waiting_messages(turns)
    return ended


async def _look_at(
    turns: Turns,
    policy: ReaperPolicy,
    *,
    turn_id: str,
    age_s: float,
    fields: dict[str, str],
    alive: bool,
    alive_workers: dict[str, bool],
) -> Ending | None:
    """What to do with one turn: end it (its ending), or nothing."""
    state = fields.get("state")
    if state is None:
        await turns.store.forget(turn_id)
        return None
    if alive or fields.get("slot") == "waiting":
        return None
    if state in ("running", "waiting"):
        return INTERRUPTED
    # Queued: nobody has claimed it yet.
    holder = fields.get("routed_to")
    if holder and not alive_workers.get(holder, False):
        if await turns.routing.enqueue(turn_id):
            log.warning("turn %s: its worker %s died before taking it; queued for any worker", turn_id, holder)
        return None
    if age_s >= policy.pickup_timeout_s:
        return no_worker(policy.pickup_timeout_s)
    if age_s >= WAITING_NOTICE_S:
        note = wire.Status(fields.get("thread_id", ""), turn_id, 1, WAITING_FOR_WORKER_MESSAGE)
        await turns.store.note_while_queued(turn_id, wire.encode(note))
    grace_s = policy.lost_job_grace_s if fields.get(queue.QUEUED_FIELD) else policy.start_grace_s
    if not holder and age_s > grace_s and not await queue.job_is_pending(turns.store.redis, turn_id):
        return failed(LOST_MESSAGE)
    return None


async def _start_waiting_messages(turns: Turns) -> None:
    async with turns.database.reading() as session:
        waiting = await threads.threads_with_queued(session)
    if not waiting:
        return
    free = [thread for thread, turn in zip(waiting, await _locks(turns, waiting), strict=True) if turn is None]
    for thread_id in free:
        if await begin_next(turns, thread_id) is not None:
            log.warning("thread %s: a queued message had no turn coming; started it", thread_id)


async def _locks(turns: Turns, thread_ids: list[str]) -> list[bytes | None]:
    values: list[bytes | None] = await turns.store.redis.mget([turns.keys.thread_turn(t) for t in thread_ids])
    return values


async def run_reaper(turns: Turns, policy: ReaperPolicy, interval_s: float = REAP_INTERVAL_S) -> None:
    """Forever: reap every few seconds. Survives Redis and database outages."""
    while True:
        try:
            await reap(turns, policy)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("reaper round failed (%s: %s); retrying", type(exc).__name__, exc)
        await asyncio.sleep(interval_s)
