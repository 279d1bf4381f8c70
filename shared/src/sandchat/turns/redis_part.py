"""What the Redis parts of the turn operations share: the client, the key names and their Lua scripts.

A part (the store, approvals, routing, fair share) declares each of its scripts once, as a class
attribute: ``_begin = LuaScript(_BEGIN)``. An instance registers the script with its own client the
first time it is used; redis-py then runs it by its hash, loading it into a server that lacks it.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from sandchat.redis_keys import RedisKeys

ClientT = TypeVar("ClientT", bound=Redis)


class RedisPart(Generic[ClientT]):
    """One part of the turn operations in Redis: the client it works through and the key names."""

    def __init__(self, redis: ClientT, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys


class LuaScript:
    """A Lua script of a :class:`RedisPart`, registered with the part's client on first use."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.name = ""

    def __set_name__(self, owner: type[RedisPart[Any]], name: str) -> None:
        self.name = name

    def __get__(self, part: RedisPart[Any], owner: type[RedisPart[Any]]) -> AsyncScript:
        script: AsyncScript = part.redis.register_script(self.source)
        # Kept on the instance under the same name, where later lookups find it before this descriptor.
        vars(part)[self.name] = script
        return script
