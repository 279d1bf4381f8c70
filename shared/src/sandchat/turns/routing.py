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
from sandchat.turns.redis_part import LuaScript, RedisPart
from sandchat.turns.store import ALIVE_TTL_S

# A live agent's hold outlives a few missed heartbeats, not a dead worker for long.
HOLD_TTL_S: Final = 15

# Route a turn to the worker holding its thread's agent if that worker is alive (its inbox), else
# queue its job for any worker (queue.ENQUEUE_LUA), in one round trip. Returns the holder's id, else
# what ENQUEUE_LUA returns. Also stores what a worker needs to start the turn's agent (ARGV[6], when
# given) in the turn's info. KEYS: queue.TurnJob's, then the thread's agent hold.
_ROUTE = (
    """
if ARGV[6] ~= '' and redis.call('EXISTS', KEYS[4]) == 1 then redis.call('HSET', KEYS[4], 'start', ARGV[6]) end
local holder = redis.call('GET', KEYS[6])
if holder and redis.call('EXISTS', ARGV[7] .. holder .. ARGV[8]) == 1 then
  redis.call('RPUSH', ARGV[9] .. holder .. ARGV[10], ARGV[4])
  redis.call('HSET', KEYS[4], 'routed_to', holder)
  return holder
end
"""
    + queue.ENQUEUE_LUA
)

# A turn whose holder died before claiming it: to the shared queue, routed nowhere.
_REQUEUE = (
    """
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('HDEL', KEYS[4], 'routed_to') end
"""
    + queue.ENQUEUE_LUA
)

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class TurnRouting(RedisPart[ArqRedis]):
    _route = LuaScript(_ROUTE)
    _requeue = LuaScript(_REQUEUE)
    _release = LuaScript(_RELEASE)

    def __init__(self, redis: ArqRedis, keys: RedisKeys) -> None:
        super().__init__(redis, keys)
        self._alive_halves = halves(keys.worker_alive)
        self._inbox_halves = halves(keys.worker_inbox)

    async def dispatch(self, turn_id: str, thread_id: str, start: bytes = b"") -> str | None:
        """Send the turn where it should run: the holding worker's id, or ``None`` for the shared queue.

        ``start``: what the worker needs to start the turn's agent (:class:`sandchat.turns.store.TurnStart`,
        encoded), stored in the turn's info on the way. One round trip. Raises
        :class:`redis.exceptions.RedisError` when Redis is away (the turn stays registered and queued; a
        reaper ends it if nobody dispatches it again).
        """
        job = queue.turn_job(self.redis, self.keys, turn_id)
        routed = await self._route(
            keys=[*job.keys, self.keys.thread_agent(thread_id)],
            args=[*job.args, start, *self._alive_halves, *self._inbox_halves],
        )
        # 0: its job exists already (an enqueue whose answer was lost, retried): queued all the same.
        return bytes(routed).decode() if isinstance(routed, bytes) else None

    async def enqueue(self, turn_id: str) -> bool:
        """Put the turn on the shared queue (a turn whose holder died before claiming it)."""
        # Marks the turn's job queued (sandchat.turns.queue.QUEUED_FIELD): only then can a reaper take
        # a missing job for a lost one.
        job = queue.turn_job(self.redis, self.keys, turn_id)
        return bool(await self._requeue(keys=job.keys, args=job.args))

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
