"""Where a turn runs: the worker that holds its thread's live agent, else any worker through the queue.

A worker that starts a live agent for a thread *holds* the thread (``thread:{T}:agent``, refreshed
by the worker's heartbeat, expiring if it dies). A turn of a held thread goes to that worker's inbox;
any other turn goes to the shared arq queue. Routing never runs a turn twice: a worker runs a turn
only after claiming it (:meth:`sandchat.turns.store.TurnStore.claim`), so a turn dispatched again
after its worker died is run by whoever claims it first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from arq.connections import ArqRedis

from sandchat.redis_keys import RedisKeys, halves
from sandchat.turns import queue
from sandchat.turns.store import ALIVE_TTL_S

# A live agent's hold outlives a few missed heartbeats, not a dead worker for long.
HOLD_TTL_S: Final = 15

# Route a turn to the worker holding its thread's agent if that worker is alive. Returns the
# worker id, or false when the turn must go to the shared queue.
_ROUTE = """
local holder = redis.call('GET', KEYS[1])
if not holder then return false end
if redis.call('EXISTS', ARGV[2] .. holder .. ARGV[3]) == 0 then return false end
redis.call('RPUSH', ARGV[4] .. holder .. ARGV[5], ARGV[1])
redis.call('HSET', KEYS[2], 'routed_to', holder)
return holder
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class TurnRouting:
    def __init__(self, redis: ArqRedis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys
        self._route = redis.register_script(_ROUTE)
        self._release = redis.register_script(_RELEASE)
        self._alive_halves = halves(keys.worker_alive)
        self._inbox_halves = halves(keys.worker_inbox)

    async def dispatch(self, turn_id: str, thread_id: str) -> str | None:
        """Send the turn where it should run: the holding worker's id, or ``None`` for the shared queue.

        Raises :class:`redis.exceptions.RedisError` when Redis is away (the turn stays registered and
        queued; a reaper ends it if nobody dispatches it again).
        """
        worker = await self._route(
            keys=[self.keys.thread_agent(thread_id), self.keys.turn_info(turn_id)],
            args=[turn_id, *self._alive_halves, *self._inbox_halves],
        )
        if worker:
            return bytes(worker).decode()
        # False: its job exists already (an enqueue whose answer was lost, retried): queued all the same.
        await self._to_queue(turn_id)
        return None

    async def enqueue(self, turn_id: str) -> bool:
        """Put the turn on the shared queue (a turn whose holder died before claiming it)."""
        await self.redis.hdel(self.keys.turn_info(turn_id), "routed_to")  # type: ignore[misc]
        return await self._to_queue(turn_id)

    async def _to_queue(self, turn_id: str) -> bool:
        # Marks the turn's job queued (sandchat.turns.queue.QUEUED_FIELD): only then can a reaper take
        # a missing job for a lost one.
        return await queue.enqueue_turn(self.redis, self.keys, turn_id)

    # --- the worker's side -----------------------------------------------------------------------

    async def hold(self, thread_id: str, worker_id: str) -> None:
        """This worker now has the thread's live agent: route the thread's turns here."""
        await self.redis.set(self.keys.thread_agent(thread_id), worker_id, ex=HOLD_TTL_S)

    async def release(self, thread_id: str, worker_id: str) -> None:
        """The agent ended: the thread's next turn may go to any worker."""
        await self._release(keys=[self.keys.thread_agent(thread_id)], args=[worker_id])

    async def heartbeat(self, worker_id: str, held_threads: Sequence[str]) -> None:
        """Say this worker is alive and still holds these threads' agents (one round trip)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.worker_alive(worker_id), 1, ex=ALIVE_TTL_S)
            for thread_id in held_threads:
                pipe.set(self.keys.thread_agent(thread_id), worker_id, ex=HOLD_TTL_S)
            await pipe.execute()

    async def retire(self, worker_id: str) -> None:
        """A worker stopping cleanly: it is no longer alive (turns still in its inbox are re-routed)."""
        await self.redis.delete(self.keys.worker_alive(worker_id))

    async def next_routed(self, worker_id: str, timeout_s: float) -> str | None:
        """The next turn routed to this worker, waiting up to ``timeout_s``."""
        popped = await self.redis.blpop([self.keys.worker_inbox(worker_id)], timeout=timeout_s)  # type: ignore[misc, arg-type]
        if popped is None:
            return None
        return bytes(popped[1]).decode()

    async def worker_alive(self, worker_ids: Sequence[str]) -> list[bool]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for worker_id in worker_ids:
                pipe.exists(self.keys.worker_alive(worker_id))
            return [bool(alive) for alive in await pipe.execute()]
