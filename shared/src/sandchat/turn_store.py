"""A turn's life in Redis: the thread lock, the event channel and replay log, liveness, cancel.

The gateway and the worker meet only here (and in the database).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis

from sandchat.redis_keys import RedisKeys

# How long a finished turn's replay log and lock history stay, for late resumes.
REPLAY_RETENTION_S: Final = 600
# Entries kept in a turn's replay log (about 40 MB of tokens at most).
REPLAY_MAX_EVENTS: Final = 200_000
# The worker refreshes the alive key every ALIVE_REFRESH_S; missing for ALIVE_TTL_S means it died.
ALIVE_TTL_S: Final = 5
ALIVE_REFRESH_S: Final = 1.5
# A gateway starting a turn (storing the messages, queueing the job) holds the thread's lock for at
# most this long; a gateway that dies or loses Redis meanwhile leaves a lock that expires by itself,
# and a reaper ends the turn it had registered.
START_TTL_S: Final = 30
# Whoever ends a turn claims it first. A claim this old on a turn that is still active means its
# holder died between claiming and freeing the thread: a reaper may take the turn over.
FINISH_CLAIM_STALE_S: Final = 60

# Take the thread's lock (expiring) and register the turn in the same step: a lock never exists
# without a turn the reapers know.
_BEGIN_TURN = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], 'thread_id', ARGV[3], 'message_id', ARGV[4], 'user_message_id', ARGV[5],
           'state', 'starting')
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
return 1
"""

# A started turn whose messages are stored is handed to the queue: its lock stops expiring (the
# reapers end it if its job or worker is lost). Refused if the lock expired or the turn was ended.
_QUEUE_TURN = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
redis.call('PERSIST', KEYS[1])
redis.call('HSET', KEYS[2], 'state', 'queued')
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
return 1
"""

# Become the one who ends the turn: free, or claimed long ago by someone who never finished it.
_CLAIM_FINISH = """
local claimed = tonumber(redis.call('GET', KEYS[1]))
if claimed then
  if tonumber(ARGV[1]) - claimed < tonumber(ARGV[2]) or not redis.call('ZSCORE', KEYS[2], ARGV[3]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
return 1
"""

# Release the thread lock only if it still names this turn; expire the logs; forget the turn.
_END_TURN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[5])
return 1
"""

# A worker takes a queued turn, in one round trip: nothing if it ended (or vanished) already; else
# mark it running and alive, and return its info and whether a cancel came before the worker did.
_START_TURN = """
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
local info = redis.call('HGETALL', KEYS[1])
if #info == 0 then return false end
redis.call('HSET', KEYS[1], 'state', 'running', 'worker', ARGV[1])
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
return {info, redis.call('EXISTS', KEYS[4])}
"""


@dataclass(frozen=True, slots=True)
class TurnInfo:
    turn_id: str
    thread_id: str
    message_id: str
    user_message_id: str
    state: str  # starting | queued | running


def _turn_info(turn_id: str, fields: dict[str, str]) -> TurnInfo:
    return TurnInfo(
        turn_id=turn_id,
        thread_id=fields.get("thread_id", ""),
        message_id=fields.get("message_id", ""),
        user_message_id=fields.get("user_message_id", ""),
        state=fields.get("state", "starting"),
    )


class TurnStore:
    """Redis operations on turns. Holds no state of its own besides the client."""

    def __init__(self, redis: Redis, keys: RedisKeys, *, start_ttl_s: float = START_TTL_S) -> None:
        self.redis = redis
        self.keys = keys
        self.start_ttl_s = start_ttl_s
        self._begin_turn = redis.register_script(_BEGIN_TURN)
        self._queue_turn = redis.register_script(_QUEUE_TURN)
        self._claim_finish = redis.register_script(_CLAIM_FINISH)
        self._end_turn = redis.register_script(_END_TURN)
        self._start_turn = redis.register_script(_START_TURN)

    # --- the thread lock and the turn's registration ---------------------------------------------

    async def begin(self, info: TurnInfo) -> bool:
        """Lock the thread for a new turn and register it as ``starting``; ``False`` when the thread is busy.

        The lock expires after ``start_ttl_s`` unless :meth:`hand_to_queue` is reached first.
        """
        keys = self.keys
        return bool(
            await self._begin_turn(
                keys=[keys.thread_turn(info.thread_id), keys.turn_info(info.turn_id), keys.active_turns],
                args=[
                    info.turn_id,
                    max(1, round(self.start_ttl_s * 1000)),
                    info.thread_id,
                    info.message_id,
                    info.user_message_id,
                    time.time(),
                ],
            )
        )

    async def hand_to_queue(self, info: TurnInfo) -> bool:
        """Mark a starting turn ``queued`` (its job is about to be enqueued); ``False`` if it is already over."""
        keys = self.keys
        return bool(
            await self._queue_turn(
                keys=[
                    keys.thread_turn(info.thread_id),
                    keys.turn_info(info.turn_id),
                    keys.thread_last_turn(info.thread_id),
                    keys.turn_finished(info.turn_id),
                ],
                args=[info.turn_id, REPLAY_RETENTION_S * 6],
            )
        )

    async def unlock_thread(self, thread_id: str, turn_id: str) -> None:
        """Free the thread (if this turn still holds it), let the turn's logs expire, forget the turn.

        After a turn's final event, and for a turn that could not be stored or queued.
        """
        await self._end_turn(
            keys=[
                self.keys.thread_turn(thread_id),
                self.keys.turn_log(turn_id),
                self.keys.turn_info(turn_id),
                self.keys.active_turns,
                self.keys.turn_alive(turn_id),
            ],
            args=[turn_id, REPLAY_RETENTION_S],
        )

    async def running_turn(self, thread_id: str) -> str | None:
        value = await self.redis.get(self.keys.thread_turn(thread_id))
        return value.decode() if value else None

    async def latest_turn(self, thread_id: str) -> str | None:
        """The running turn, else the last one that ran within the replay retention."""
        running, last = await self.redis.mget(self.keys.thread_turn(thread_id), self.keys.thread_last_turn(thread_id))
        value = running or last
        return value.decode() if value else None

    async def info(self, turn_id: str) -> TurnInfo | None:
        raw: dict[bytes, bytes] = await self.redis.hgetall(self.keys.turn_info(turn_id))  # type: ignore[misc]
        if not raw:
            return None
        return _turn_info(turn_id, {key.decode(): value.decode() for key, value in raw.items()})

    async def start(self, turn_id: str, worker: str) -> tuple[TurnInfo, bool] | None:
        """Take a queued turn for ``worker``: its info and whether a cancel is pending; ``None`` if it ended."""
        keys = self.keys
        reply = await self._start_turn(
            keys=[
                keys.turn_info(turn_id),
                keys.turn_finished(turn_id),
                keys.turn_alive(turn_id),
                keys.turn_cancel(turn_id),
            ],
            args=[worker, ALIVE_TTL_S],
        )
        if not reply:
            return None
        flat, cancel = reply
        fields = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
        return _turn_info(turn_id, fields), bool(cancel)

    async def heartbeat(self, turn_ids: Sequence[str], worker: str) -> None:
        """Keep the running turns of one worker alive (one round trip for all of them)."""
        if not turn_ids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for turn_id in turn_ids:
                pipe.set(self.keys.turn_alive(turn_id), worker, ex=ALIVE_TTL_S)
            await pipe.execute()

    async def states(self, turn_ids: Sequence[str]) -> list[tuple[str | None, bool]]:
        """For each turn, its state (None when unknown) and whether its worker is alive: one round trip.

        Per turn the state is read before liveness (a worker sets both at once when it starts).
        """
        async with self.redis.pipeline(transaction=False) as pipe:
            for turn_id in turn_ids:
                pipe.hget(self.keys.turn_info(turn_id), "state")
                pipe.exists(self.keys.turn_alive(turn_id))
            replies = await pipe.execute()
        return [
            (state.decode() if state is not None else None, bool(alive))
            for state, alive in zip(replies[::2], replies[1::2], strict=True)
        ]

    # --- events ----------------------------------------------------------------------------------

    async def publish(self, turn_id: str, events: Sequence[tuple[int, bytes]]) -> None:
        """Publish encoded events (seq, frame) and append them to the replay log, in one round trip."""
        channel = self.keys.turn_channel(turn_id)
        log = self.keys.turn_log(turn_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for seq, frame in events:
                pipe.xadd(log, {"f": frame}, id=f"0-{seq}", maxlen=REPLAY_MAX_EVENTS, approximate=True)
                pipe.publish(channel, frame)
            await pipe.execute()

    async def replay(self, turn_id: str, after_seq: int = 0) -> list[bytes]:
        """Every logged event with ``seq > after_seq``, in order."""
        entries = await self.redis.xrange(self.keys.turn_log(turn_id), min=f"(0-{after_seq}", max="+")
        return [fields[b"f"] for _entry_id, fields in entries]

    async def last_seq(self, turn_id: str) -> int:
        entries = await self.redis.xrevrange(self.keys.turn_log(turn_id), count=1)
        if not entries:
            return 0
        return int(entries[0][0].decode().split("-", 1)[1])

    # --- ending ----------------------------------------------------------------------------------

    async def claim_finish(self, turn_id: str) -> bool:
        """Become the one who ends this turn (the worker, a gateway, or a reaper after they died)."""
        keys = self.keys
        return bool(
            await self._claim_finish(
                keys=[keys.turn_finished(turn_id), keys.active_turns],
                args=[time.time(), FINISH_CLAIM_STALE_S, turn_id, REPLAY_RETENTION_S * 6],
            )
        )

    # --- cancel ----------------------------------------------------------------------------------

    async def request_cancel(self, turn_id: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.turn_cancel(turn_id), 1, ex=REPLAY_RETENTION_S)
            pipe.publish(self.keys.turn_control(turn_id), b"cancel")
            await pipe.execute()

    async def cancel_requested(self, turn_id: str) -> bool:
        return bool(await self.redis.exists(self.keys.turn_cancel(turn_id)))
