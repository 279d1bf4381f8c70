"""Fair share: at most USER_MAX_TURNS running turns per person; the rest wait in order for a slot.

A turn takes one of its person's slots when it is dispatched (:meth:`FairShare.admit`). With every
slot taken it waits in the person's line instead (``user:{U}:waiting``), and its client is told so
with a ``status`` event. A slot is given back when the turn ends, however it ends (done, error,
cancel, timeout, its worker dying: every ending goes through :meth:`sandchat.turns.store.TurnStore.end`,
which frees it in the same atomic step); whoever ended it then starts the person's next waiting turn
(:meth:`FairShare.promote`). Each reaper round promotes again for every person with a waiting turn and
drops slots held by turns that no longer exist, so a finisher that died between the two steps
leaves nothing stuck. One person's line never holds up another person: the lines are per person,
and an admitted turn goes to the shared queue like any other.

The implicit local user (AUTH_MODE=none and token: the operator alone) has no limit, as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from sandchat.agent_users import is_person
from sandchat.redis_keys import RedisKeys, halves
from sandchat.turns.redis_part import LuaScript, RedisPart

# Take a slot for the turn, or put it in its person's line. Returns 0 (it holds a slot), its place in
# line (1 = next), or -1 when the turn is no longer queued (it ended meanwhile).
_ADMIT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HGET', KEYS[3], 'state') ~= 'queued' then return -1 end
local at = redis.call('LPOS', KEYS[2], ARGV[1])
if not at and redis.call('SCARD', KEYS[1]) < tonumber(ARGV[2]) and redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('SADD', KEYS[1], ARGV[1])
  redis.call('HSET', KEYS[3], 'slot', 'held')
  return 0
end
if not at then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  at = redis.call('LLEN', KEYS[2]) - 1
end
redis.call('HSET', KEYS[3], 'slot', 'waiting')
return at + 1
"""

# Drop slots of turns that are gone, then give free slots to the oldest waiting turns still queued.
# A promoted turn's pickup clock starts now (its wait for a slot is not a wait for a worker).
# Returns turn id, thread id, turn id, thread id, ...
_PROMOTE = """
for _, turn in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[3] .. turn .. ARGV[4]) == 0 then redis.call('SREM', KEYS[1], turn) end
end
local promoted = {}
while redis.call('SCARD', KEYS[1]) < tonumber(ARGV[1]) do
  local turn = redis.call('LPOP', KEYS[2])
  if not turn then break end
  local info = ARGV[3] .. turn .. ARGV[4]
  if redis.call('HGET', info, 'state') == 'queued' then
    redis.call('SADD', KEYS[1], turn)
    redis.call('HSET', info, 'slot', 'held', 'queued_at', ARGV[2])
    redis.call('ZADD', KEYS[3], 'XX', ARGV[2], turn)
    table.insert(promoted, turn)
    table.insert(promoted, redis.call('HGET', info, 'thread_id') or '')
  end
end
return promoted
"""


def waiting_message(limit: int, place: int) -> str:
    """What a waiting turn's client reads (a ``status`` event)."""
    turns = "turn" if limit == 1 else "turns"
    return (
        f"Waiting for a free slot: you have {limit} {turns} running, the most one person may have. "
        f"This one starts when one of them ends (number {place} in line)."
    )


@dataclass(frozen=True, slots=True)
class Promoted:
    turn_id: str
    thread_id: str


class FairShare(RedisPart[Redis]):
    _admit = LuaScript(_ADMIT)
    _promote = LuaScript(_PROMOTE)

    def __init__(self, redis: Redis, keys: RedisKeys, limit: int) -> None:
        super().__init__(redis, keys)
        self.limit = limit
        self._info_halves = halves(keys.turn_info)

    async def admit(self, user_id: str, turn_id: str) -> int:
        """0 when the turn may run now, its place in its person's line, or -1 when it already ended."""
        if not is_person(user_id):
            return 0
        keys = self.keys
        place = await self._admit(
            keys=[keys.user_turns(user_id), keys.user_waiting(user_id), keys.turn_info(turn_id)],
            args=[turn_id, self.limit],
        )
        return int(place)

    async def promote(self, user_id: str) -> list[Promoted]:
        """Give the person's free slots to their oldest waiting turns; those turns, to be dispatched."""
        if not is_person(user_id):
            return []
        keys = self.keys
        flat = await self._promote(
            keys=[keys.user_turns(user_id), keys.user_waiting(user_id), keys.active_turns],
            args=[self.limit, time.time(), *self._info_halves],
        )
        pairs = [bytes(item).decode() for item in flat]
        return [Promoted(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]

    async def running(self, user_id: str) -> int:
        """How many slots the person holds now."""
        return int(await self.redis.scard(self.keys.user_turns(user_id)))  # type: ignore[misc]
