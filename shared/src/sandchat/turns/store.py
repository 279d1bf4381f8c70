"""A turn's life in Redis: the thread lock, registration, the worker's claim, liveness, events, cancel.

States of a turn (the ``state`` field of its info hash): ``queued`` (registered, no worker has it),
``running`` (a worker claimed it), ``waiting`` (running, and an approval request waits for a person).
A finished turn is forgotten: its info is deleted and its replay log expires.

Every change of ownership is one atomic script, so a lock never exists without a registered turn
that a reaper would end, and a turn is claimed by at most one worker (invariants 2 and 4).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec
from redis.asyncio import Redis

from sandchat import metrics
from sandchat.redis_keys import RedisKeys, halves
from sandchat.turns.event_log import EventLog
from sandchat.turns.redis_part import LuaScript, RedisPart

if TYPE_CHECKING:
    from sandchat.models import Thread

# How long a finished turn's replay log and lock history stay, for late resumes.
REPLAY_RETENTION_S: Final = 600
# Entries kept in a turn's replay log (about 40 MB of tokens at most).
REPLAY_MAX_EVENTS: Final = 200_000
# The worker refreshes the alive key every ALIVE_REFRESH_S; missing for ALIVE_TTL_S means it died.
ALIVE_TTL_S: Final = 5
ALIVE_REFRESH_S: Final = 1.5
# Whoever ends a turn claims it first. A claim this old on a turn that is still active means its
# holder died between claiming and freeing the thread: a reaper may take the turn over.
FINISH_CLAIM_STALE_S: Final = 60

TurnState = Literal["queued", "running", "waiting"]

# Take the thread's lock for a new turn and register the turn, atomically. ARGV[6] names the turn
# that must hold the lock now ('' = the lock must be free): a finished turn hands over to the next.
_BEGIN = """
local holder = redis.call('GET', KEYS[1])
if ARGV[6] == '' then
  if holder then return 0 end
elseif holder ~= ARGV[6] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'thread_id', ARGV[2], 'message_id', ARGV[3], 'user_message_id', ARGV[4],
  'state', 'queued', 'queued_at', ARGV[5], 'trace', ARGV[7], 'user', ARGV[8])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
return 1
"""

# Release the thread lock only if it still names this turn; expire the logs; forget the turn; and
# unless the turn never was (it could not be stored), remember it as the thread's latest for resumes.
# The turn's person gets its slot back (sandchat.turns.fair_share); returns that person's id.
_END = """
local user = redis.call('HGET', KEYS[3], 'user') or ''
if user ~= '' then
  redis.call('SREM', ARGV[5] .. user .. ARGV[6], ARGV[1])
  redis.call('LREM', ARGV[7] .. user .. ARGV[8], 0, ARGV[1])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[3] == '1' then redis.call('SET', KEYS[7], ARGV[1], 'EX', ARGV[4]) end
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[6], ARGV[2])
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[5])
return user
"""

# A worker claims a queued turn, in one round trip: nothing if it ended, vanished or another worker
# has it; else mark it running and alive, and return its info, whether a cancel came first, and
# the last seq already logged (a reaper may have told the client it is waiting for a worker).
_START = """
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return false end
redis.call('HSET', KEYS[1], 'state', 'running', 'worker', ARGV[1])
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
local seq = 0
if #last > 0 then seq = tonumber(string.match(last[1][1], '-(%d+)$')) end
return {redis.call('HGETALL', KEYS[1]), redis.call('EXISTS', KEYS[4]), seq}
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

# Log and publish one event of a turn that no worker has claimed yet, as its first event.
_NOTE_WHILE_QUEUED = """
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return 0 end
if redis.call('XLEN', KEYS[2]) > 0 then return 0 end
redis.call('XADD', KEYS[2], '0-1', 'f', ARGV[1])
redis.call('PUBLISH', KEYS[3], ARGV[1])
return 1
"""


class TurnStart(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a worker needs to start a turn's agent, read by the gateway in the transaction that stored the
    turn (its thread locked already, so nothing of it changes before the turn runs): the worker starts the
    agent without reading the database. In the turn's info as ``start``; a turn without it (queued behind
    another, a retry) is read from the database by the worker, as before."""

    prompt: str
    owner_id: str
    session_id: str | None = None
    permission_mode: str | None = None
    allowed_tools: list[dict[str, Any]] = []
    # A thread made by editing a message, before its first turn: the session it starts from, and where.
    fork_session_id: str | None = None
    fork_at_entry: str | None = None

    @classmethod
    def of(cls, thread: Thread, prompt: str) -> TurnStart:
        return cls(
            prompt=prompt,
            owner_id=thread.owner_id,
            session_id=thread.claude_session_id,
            permission_mode=thread.permission_mode,
            allowed_tools=list(thread.allowed_tools or []),
            fork_session_id=thread.fork_session_id,
            fork_at_entry=thread.fork_at_entry,
        )

    def encode(self) -> bytes:
        return msgspec.json.encode(self)


def _turn_start(raw: str | None) -> TurnStart | None:
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw, type=TurnStart)
    except msgspec.DecodeError:  # ValidationError included: written by another version, read from the database
        return None


@dataclass(frozen=True, slots=True)
class TurnInfo:
    turn_id: str
    thread_id: str
    message_id: str
    user_message_id: str
    state: TurnState = "queued"
    # When the turn was registered (epoch seconds; 0 before), and the W3C ``traceparent`` of the
    # request that started it ('' when tracing is off): the worker's spans continue that trace.
    queued_at: float = 0.0
    trace: str = ""
    # The person whose turn it is ('' and the implicit local user: the operator).
    user_id: str = ""
    # What its agent starts with, when the gateway stored it (see TurnStart).
    start: TurnStart | None = None


@dataclass(frozen=True, slots=True)
class ClaimedTurn:
    """What a worker learns when it claims a turn."""

    info: TurnInfo
    cancel_requested: bool
    last_seq: int


def _state(value: str | None) -> TurnState:
    if value == "running":
        return "running"
    return "waiting" if value == "waiting" else "queued"


def _turn_info(turn_id: str, fields: dict[str, str]) -> TurnInfo:
    return TurnInfo(
        turn_id=turn_id,
        thread_id=fields.get("thread_id", ""),
        message_id=fields.get("message_id", ""),
        user_message_id=fields.get("user_message_id", ""),
        state=_state(fields.get("state")),
        queued_at=_seconds(fields.get("queued_at")),
        trace=fields.get("trace", ""),
        user_id=fields.get("user", ""),
        start=_turn_start(fields.get("start")),
    )


def _seconds(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def _decoded(flat: Sequence[bytes]) -> dict[str, str]:
    return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}


class TurnStore(RedisPart[Redis]):
    """Redis operations on turns. Holds no state of its own besides the client."""

    _begin = LuaScript(_BEGIN)
    _end = LuaScript(_END)
    _start = LuaScript(_START)
    _note_while_queued = LuaScript(_NOTE_WHILE_QUEUED)
    _claim_finish = LuaScript(_CLAIM_FINISH)

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        super().__init__(redis, keys)
        self._events = EventLog(redis, REPLAY_MAX_EVENTS)
        self._user_halves = [*halves(keys.user_turns), *halves(keys.user_waiting)]

    # --- the thread lock -------------------------------------------------------------------------

    async def begin(self, info: TurnInfo, *, after: str | None = None) -> bool:
        """Lock the thread for ``info``'s turn and register it; ``False`` when another turn holds it.

        ``after`` names the turn that holds the lock now and hands it over (a finished turn to the
        thread's next queued message); without it the lock must be free.
        """
        keys = self.keys
        taken = await self._begin(
            keys=[
                keys.thread_turn(info.thread_id),
                keys.turn_info(info.turn_id),
                keys.active_turns,
            ],
            args=[
                info.turn_id,
                info.thread_id,
                info.message_id,
                info.user_message_id,
                time.time(),
                after or "",
                info.trace,
                info.user_id,
            ],
        )
        return bool(taken)

    async def end(self, thread_id: str, turn_id: str, *, happened: bool = True) -> str:
        """Forget an ended turn: free the thread if this turn still holds it, let its logs expire, give
        its person's slot back. Returns that person's id ('' when unknown).

        After a turn's final event; and with ``happened=False`` for a turn that could not be stored
        (then a resume must not find it).
        """
        keys = self.keys
        user = await self._end(
            keys=[
                keys.thread_turn(thread_id),
                keys.turn_log(turn_id),
                keys.turn_info(turn_id),
                keys.active_turns,
                keys.turn_alive(turn_id),
                keys.turn_approvals(turn_id),
                keys.thread_last_turn(thread_id),
            ],
            args=[turn_id, REPLAY_RETENTION_S, "1" if happened else "0", REPLAY_RETENTION_S * 6, *self._user_halves],
        )
        return bytes(user).decode() if user else ""

    async def running_turn(self, thread_id: str) -> str | None:
        """The turn holding the thread's lock (queued, running or waiting), if any."""
        value = await self.redis.get(self.keys.thread_turn(thread_id))
        return value.decode() if value else None

    async def latest_turn(self, thread_id: str) -> str | None:
        """The running turn, else the last one that ran within the replay retention."""
        running, last = await self.redis.mget(self.keys.thread_turn(thread_id), self.keys.thread_last_turn(thread_id))
        value = running or last
        return value.decode() if value else None

    async def activity(self, thread_ids: Sequence[str]) -> dict[str, TurnState]:
        """The state of the running turn of each thread that has one, in two round trips."""
        if not thread_ids:
            return {}
        locks = await self.redis.mget([self.keys.thread_turn(thread_id) for thread_id in thread_ids])
        busy = [(thread_id, turn.decode()) for thread_id, turn in zip(thread_ids, locks, strict=True) if turn]
        if not busy:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for _thread_id, turn_id in busy:
                pipe.hget(self.keys.turn_info(turn_id), "state")
            states = await pipe.execute()
        return {
            thread_id: _state(state.decode() if state else None)
            for (thread_id, _turn_id), state in zip(busy, states, strict=True)
        }

    # --- a worker and its turns ------------------------------------------------------------------

    async def info(self, turn_id: str) -> TurnInfo | None:
        raw: dict[bytes, bytes] = await self.redis.hgetall(self.keys.turn_info(turn_id))  # type: ignore[misc]
        if not raw:
            return None
        return _turn_info(turn_id, {key.decode(): value.decode() for key, value in raw.items()})

    async def claim(self, turn_id: str, worker: str) -> ClaimedTurn | None:
        """Take a queued turn for ``worker``; ``None`` if it ended or another worker took it."""
        keys = self.keys
        # _START's KEYS, all of this turn: its info, finished mark, alive mark, cancel flag and log.
        names = (keys.turn_info, keys.turn_finished, keys.turn_alive, keys.turn_cancel, keys.turn_log)
        reply = await self._start(keys=[name(turn_id) for name in names], args=[worker, ALIVE_TTL_S])
        if not reply:
            return None
        flat, cancel, last_seq = reply
        return ClaimedTurn(_turn_info(turn_id, _decoded(flat)), bool(cancel), int(last_seq))

    async def heartbeat(self, turn_ids: Sequence[str], worker: str) -> None:
        """Keep the running turns of one worker alive (one round trip for all of them)."""
        if not turn_ids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for turn_id in turn_ids:
                pipe.set(self.keys.turn_alive(turn_id), worker, ex=ALIVE_TTL_S)
            await pipe.execute()

    async def states(self, turn_ids: Sequence[str]) -> list[tuple[dict[str, str], bool]]:
        """For each turn, its info fields (empty when unknown) and whether its worker is alive.

        One round trip; per turn the info is read before liveness (a worker sets both at once).
        """
        async with self.redis.pipeline(transaction=False) as pipe:
            for turn_id in turn_ids:
                pipe.hgetall(self.keys.turn_info(turn_id))
                pipe.exists(self.keys.turn_alive(turn_id))
            replies = await pipe.execute()
        return [
            ({key.decode(): value.decode() for key, value in info.items()}, bool(alive))
            for info, alive in zip(replies[::2], replies[1::2], strict=True)
        ]

    async def active(self) -> list[tuple[str, float]]:
        """Every registered turn with when it was queued (epoch seconds)."""
        return [
            (turn.decode(), float(queued_at))
            for turn, queued_at in await self.redis.zrange(self.keys.active_turns, 0, -1, withscores=True)
        ]

    async def forget(self, turn_id: str) -> None:
        """Drop a turn id from the active set (its info is gone: nothing is left to end)."""
        await self.redis.zrem(self.keys.active_turns, turn_id)

    async def set_field(self, turn_id: str, field: str, value: str) -> None:
        await self.redis.hset(self.keys.turn_info(turn_id), field, value)  # type: ignore[misc]

    # --- events ----------------------------------------------------------------------------------

    async def publish(self, turn_id: str, events: Sequence[tuple[int, bytes]]) -> None:
        """Publish encoded turn events (seq, frame) and append them to the replay log, in one round trip."""
        await self._events.append(self.keys.turn_log(turn_id), self.keys.turn_channel(turn_id), events)
        metrics.REPLAY_LOG_BYTES.inc(sum(len(frame) for _, frame in events))

    async def close(self) -> None:
        """Close the events' own connection (the client's pool is its owner's to close)."""
        await self._events.close()

    async def note_while_queued(self, turn_id: str, frame: bytes) -> bool:
        """Log and publish ``frame`` (encoded with seq 1) if no worker has claimed the turn yet."""
        keys = self.keys
        done = await self._note_while_queued(
            keys=[keys.turn_info(turn_id), keys.turn_log(turn_id), keys.turn_channel(turn_id)], args=[frame]
        )
        return bool(done)

    async def publish_thread(self, thread_id: str, frame: bytes) -> None:
        """Publish a thread event (a turn started, a message queued, a title) to the thread's watchers."""
        await self.redis.publish(self.keys.thread_channel(thread_id), frame)

    async def announce_deleted(self, thread_id: str) -> None:
        """Tell the gateways that a thread was deleted (committed): no socket owns it any more."""
        await self.redis.publish(self.keys.threads_deleted, thread_id)

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
        claimed = await self._claim_finish(
            keys=[keys.turn_finished(turn_id), keys.active_turns],
            args=[time.time(), FINISH_CLAIM_STALE_S, turn_id, REPLAY_RETENTION_S * 6],
        )
        return bool(claimed)

    # --- cancel ----------------------------------------------------------------------------------

    async def request_cancel(self, turn_id: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.turn_cancel(turn_id), 1, ex=REPLAY_RETENTION_S)
            pipe.publish(self.keys.turn_control(turn_id), b"cancel")
            await pipe.execute()

    async def cancel_requested(self, turn_id: str) -> bool:
        return bool(await self.redis.exists(self.keys.turn_cancel(turn_id)))
