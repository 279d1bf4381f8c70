"""The hot path of a turn's events: ``XADD`` to the replay log and ``PUBLISH`` to the channel.

A turn publishes once per read of the agent's output, so this is what the relay costs per token.
redis-py's pipeline costs far more than Redis itself here (a connection checkout with a liveness
read, command packing, a pipeline object, a send and a read per call): the profile of a worker
relaying paced turns had 10 of its 13 seconds of turn time in ``Pipeline.execute``. This writes
the commands, packed by hand, over one connection of its own; what several turns queue close
together (within :data:`WRITE_INTERVAL_S`) leaves in one ``write``, and the replies, read with hiredis as they
arrive, resolve each caller's batch in order. What is published carries the moment it was sent
(:func:`stamped`), for the gateway's ``sandchat_relay_delivery_seconds``. Errors are redis-py's:
a lost connection fails the batches in flight with ``ConnectionError`` (the next batch connects
again) and an error reply raises ``ResponseError`` once the batch's replies are in.

Connections redis-py makes differently (TLS, a Unix socket, a credential provider) keep the
pipeline.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

# At most one write per this many seconds: what arrives sooner waits for the next one (never longer).
# A lone event leaves at once; at thousands of events a second they leave a few per write, which
# saves a send() in the worker, a read in Redis and a read in the gateway for each event folded in.
WRITE_INTERVAL_S: Final = 0.002


# What is published carries when (epoch seconds): STAMP_MARK, then a little-endian double, then
# the frame (the replay log keeps the bare frame). A frame itself is JSON: it never starts with it.
STAMP_MARK: Final = b"\x00"
_STAMP: Final = struct.Struct("<d")
_STAMPED_HEAD: Final = 1 + _STAMP.size


def stamped(frame: bytes, at: float) -> bytes:
    return STAMP_MARK + _STAMP.pack(at) + frame


def unstamped(data: bytes) -> tuple[float | None, bytes]:
    """When a published frame was sent (None when it carries no stamp), and the frame."""
    if data[:1] != STAMP_MARK:
        return None, data
    return _STAMP.unpack_from(data, 1)[0], data[_STAMPED_HEAD:]


def _command(*args: bytes) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


@dataclass(slots=True)
class _Batch:
    future: asyncio.Future[None]
    replies: int
    error: ResponseError | None = None


@dataclass(eq=False, slots=True)
class _Link(asyncio.Protocol):
    """One connection: replies resolve the batches in the order they were written."""

    batches: deque[_Batch] = field(default_factory=deque)
    reader: Any = field(default_factory=lambda: hiredis.Reader(replyError=ResponseError))
    transport: asyncio.Transport | None = None
    lost: bool = False
    # Commands waiting for the next write, and when the last one was made (the loop's clock).
    pending: list[bytes] = field(default_factory=list)
    written_at: float = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        batches = self.batches
        while (reply := self.reader.gets()) is not False:
            batch = batches[0]
            if isinstance(reply, ResponseError) and batch.error is None:
                batch.error = reply
            batch.replies -= 1
            if batch.replies == 0:
                batches.popleft()
                if not batch.future.done():
                    if batch.error is None:
                        batch.future.set_result(None)
                    else:
                        batch.future.set_exception(batch.error)

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        self.written_at = asyncio.get_running_loop().time()
        if self.transport is not None and not self.lost:
            self.transport.write(b"".join(pending))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.pending.clear()
        while self.batches:
            future = self.batches.popleft().future
            if not future.done():
                future.set_exception(RedisConnectionError(f"Redis connection lost: {exc or 'closed'}"))


class EventLog:
    """``XADD`` + ``PUBLISH`` of encoded turn events, pipelined over one connection per process."""

    def __init__(self, redis: Redis, max_events: int) -> None:
        self.redis = redis
        self._maxlen = str(max_events).encode()
        pool = redis.connection_pool
        kwargs = pool.connection_kwargs
        self._direct = pool.connection_class is Connection and kwargs.get("credential_provider") is None
        self._kwargs = kwargs
        self._timeout: float | None = kwargs.get("socket_timeout") or None
        self._link: _Link | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting = asyncio.Lock()

    async def append(self, log: str, channel: str, events: Sequence[tuple[int, bytes]]) -> None:
        """Append (seq, frame) events to the replay ``log`` and publish them on ``channel``, in order."""
        if not events:
            return
        if not self._direct:
            await self._pipeline(log, channel, events)
            return
        log_key, channel_name = log.encode(), channel.encode()
        stamp = STAMP_MARK + _STAMP.pack(time.time())
        packed = []
        for seq, frame in events:
            packed.append(
                _command(b"XADD", log_key, b"MAXLEN", b"~", self._maxlen, b"0-%d" % seq, b"f", frame)
                + _command(b"PUBLISH", channel_name, stamp + frame)
            )
        await self._send(b"".join(packed), 2 * len(events))

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None and link.transport is not None:
            link.transport.close()

    async def _pipeline(self, log: str, channel: str, events: Sequence[tuple[int, bytes]]) -> None:
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for seq, frame in events:
                pipe.xadd(log, {"f": frame}, id=f"0-{seq}", maxlen=int(self._maxlen), approximate=True)
                pipe.publish(channel, stamped(frame, now))
            await pipe.execute()

    async def _send(self, data: bytes, replies: int) -> None:
        loop = asyncio.get_running_loop()
        link = self._link
        if link is None or link.lost or self._loop is not loop:
            link = await self._connect(loop)
        batch = _Batch(loop.create_future(), replies)
        link.batches.append(batch)
        if not link.pending:
            wait = link.written_at + WRITE_INTERVAL_S - loop.time()
            if wait > 0:
                loop.call_later(wait, link.flush)
            else:
                loop.call_soon(link.flush)
        link.pending.append(data)
        if self._timeout is None:
            await batch.future
            return
        try:
            async with asyncio.timeout(self._timeout):
                await asyncio.shield(batch.future)
        except TimeoutError:
            if link.transport is not None:
                link.transport.close()  # the replies in flight can no longer be matched
            raise RedisTimeoutError("Timeout reading from Redis") from None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Link:
        if self._loop is not loop:  # first use, or a client used from a new event loop (tests)
            self._loop, self._link, self._connecting = loop, None, asyncio.Lock()
        async with self._connecting:
            if self._link is not None and not self._link.lost:
                return self._link
            kwargs = self._kwargs
            try:
                async with asyncio.timeout(kwargs.get("socket_connect_timeout") or None):
                    _, link = await loop.create_connection(
                        _Link, kwargs.get("host", "localhost"), kwargs.get("port", 6379)
                    )
            except (OSError, TimeoutError) as exc:
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
            setup = []
            if kwargs.get("password"):
                username = kwargs.get("username")
                credentials = [username.encode()] if username else []
                setup.append(_command(b"AUTH", *credentials, str(kwargs["password"]).encode()))
            if kwargs.get("db"):
                setup.append(_command(b"SELECT", str(kwargs["db"]).encode()))
            if setup:
                batch = _Batch(loop.create_future(), len(setup))
                link.batches.append(batch)
                assert link.transport is not None
                link.transport.write(b"".join(setup))
                try:
                    await batch.future
                except Exception:
                    assert link.transport is not None
                    link.transport.close()
                    raise
            self._link = link
            return link
