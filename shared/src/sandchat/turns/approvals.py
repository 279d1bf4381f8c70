"""Approval requests of a turn: the agent asks, a person answers once, the worker resolves.

Each request id of a turn has one value in the turn's approvals hash:
``pending`` → ``answered:<json>`` (the first person's answer, taken atomically; later answers lose)
→ ``resolved:<resolution>`` (the worker told the agent, and published ``approval_answered``).
While any request is pending or answered-but-unresolved the turn's state is ``waiting``.

A person's answer travels to the worker as ``approve:<request id>`` on the turn's control channel; a
worker that missed it (its pub/sub reconnected) reads the hash again, so no answer is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import msgspec
from redis.asyncio import Redis

from sandchat import wire
from sandchat.turns.redis_part import LuaScript, RedisPart

PENDING: Final = b"pending"
ANSWERED: Final = b"answered:"
RESOLVED: Final = b"resolved:"
APPROVE_PREFIX: Final = b"approve:"

# Record a request (pending) and mark the turn waiting, unless the turn has ended meanwhile.
_ASK = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSETNX', KEYS[1], ARGV[1], 'pending')
redis.call('HSET', KEYS[2], 'state', 'waiting')
return 1
"""

# The first answer wins: 1 taken, 0 already answered, -1 no such request.
_ANSWER = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return -1 end
if value ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], 'answered:' .. ARGV[2])
redis.call('PUBLISH', KEYS[2], 'approve:' .. ARGV[1])
return 1
"""

# Mark a request resolved; when none is left waiting, the turn runs again. Returns 0 if it was
# resolved already (each request is resolved, and announced, exactly once).
_RESOLVE = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value and string.sub(value, 1, 9) == 'resolved:' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], 'resolved:' .. ARGV[2])
for _, other in ipairs(redis.call('HVALS', KEYS[1])) do
  if string.sub(other, 1, 9) ~= 'resolved:' then return 1 end
end
if redis.call('HGET', KEYS[2], 'state') == 'waiting' then redis.call('HSET', KEYS[2], 'state', 'running') end
return 1
"""


class Answer(msgspec.Struct, frozen=True):
    """What a person decided about one request."""

    decision: wire.Decision
    message: str | None = None
    answers: dict[str, str] | None = None


AnswerOutcome = Literal["taken", "answered already", "unknown"]


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """A request not yet resolved, and the person's answer if one came."""

    request_id: str
    answer: Answer | None


class TurnApprovals(RedisPart[Redis]):
    _ask = LuaScript(_ASK)
    _answer = LuaScript(_ANSWER)
    _resolve = LuaScript(_RESOLVE)

    async def ask(self, turn_id: str, request_id: str) -> bool:
        """Record a new pending request (before its ``approval`` event is published)."""
        keys = [self.keys.turn_approvals(turn_id), self.keys.turn_info(turn_id)]
        return bool(await self._ask(keys=keys, args=[request_id]))

    async def answer(self, turn_id: str, request_id: str, answer: Answer) -> AnswerOutcome:
        """A person's answer: ``taken`` (it wins, the worker is told), ``answered already`` or ``unknown``."""
        keys = [self.keys.turn_approvals(turn_id), self.keys.turn_control(turn_id)]
        taken = int(await self._answer(keys=keys, args=[request_id, msgspec.json.encode(answer)]))
        if taken == 1:
            return "taken"
        return "answered already" if taken == 0 else "unknown"

    async def resolve(self, turn_id: str, request_id: str, resolution: wire.Resolution) -> bool:
        """Mark the request resolved; ``False`` if it was already (then announce nothing)."""
        keys = [self.keys.turn_approvals(turn_id), self.keys.turn_info(turn_id)]
        return bool(await self._resolve(keys=keys, args=[request_id, resolution]))

    async def answer_of(self, turn_id: str, request_id: str) -> Answer | None:
        """The person's answer to a request, once there is one (and until it is resolved)."""
        value = await self.redis.hget(self.keys.turn_approvals(turn_id), request_id)  # type: ignore[misc]
        return _answer(value)

    async def open_requests(self, turn_id: str) -> list[OpenRequest]:
        """Requests of the turn that are not resolved yet (for a reconnecting worker and for reapers)."""
        raw: dict[bytes, bytes] = await self.redis.hgetall(self.keys.turn_approvals(turn_id))  # type: ignore[misc]
        return [
            OpenRequest(request_id.decode(), _answer(value))
            for request_id, value in raw.items()
            if not value.startswith(RESOLVED)
        ]


def _answer(value: bytes | None) -> Answer | None:
    if value is None or not value.startswith(ANSWERED):
        return None
    return msgspec.json.decode(value[len(ANSWERED) :], type=Answer)


def approved_request(control_message: bytes) -> str | None:
    """The request id in a control channel's ``approve:<id>`` message; ``None`` for anything else."""
    if control_message.startswith(APPROVE_PREFIX):
        return control_message[len(APPROVE_PREFIX) :].decode()
    return None
