"""One Redis pub/sub connection per gateway process, shared by all its WebSocket clients.

Subscriptions are per channel (a turn's events, a thread's events) and reference-counted: the
first listener subscribes the channel, the last one to leave unsubscribes it. When Redis drops, the
reader reconnects, resubscribes, and asks every listener to catch up (a turn's listener re-reads
its replay log), so nothing published meanwhile is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Final, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from sandchat import metrics
from sandchat.redis_keys import RedisKeys
from sandchat.retry import Backoff
from sandchat.turns.event_log import unstamped

log = logging.getLogger(__name__)

# How long a new subscription waits for a lost pub/sub connection to come back.
READY_TIMEOUT_S: Final = 5.0


class ChannelListener(Protocol):
    def deliver(self, frame: bytes) -> None:
        """A frame published on the channel (called in the reader's task: must not block)."""

    def resync(self) -> None:
        """Redis reconnected: frames published while it was away may have been missed."""


class ChannelFanout:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys
        self._listeners: defaultdict[bytes, set[ChannelListener]] = defaultdict(set)
        self._pubsub: PubSub | None = None
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @property
    def channels(self) -> int:
        return len(self._listeners)

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_forever(), name="channel-fanout")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def subscribe(self, channel: str, listener: ChannelListener) -> None:
        """Deliver the channel's frames to ``listener`` from now on (returns once Redis confirmed)."""
        name = channel.encode()
        listeners = self._listeners[name]
        first = not listeners
        listeners.add(listener)
        if first:
            try:
                await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT_S)
            except TimeoutError:
                self._drop(name, listener)
                raise RedisConnectionError("the gateway's pub/sub connection to Redis is down") from None
            assert self._pubsub is not None
            await self._pubsub.subscribe(channel)

    async def unsubscribe(self, channel: str, listener: ChannelListener) -> None:
        name = channel.encode()
        if self._drop(name, listener) and self._pubsub is not None and self._ready.is_set():
            try:
                await self._pubsub.unsubscribe(channel)
            except Exception as exc:
                log.debug("unsubscribe failed: %s", exc)

    def _drop(self, name: bytes, listener: ChannelListener) -> bool:
        """Forget the listener; ``True`` when it was the channel's last one."""
        listeners = self._listeners.get(name)
        if listeners is None:
            return False
        listeners.discard(listener)
        if listeners:
            return False
        del self._listeners[name]
        return True

    async def _read_forever(self) -> None:
        backoff = Backoff()
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                # A placeholder subscription keeps the connection in pub/sub mode while nothing is followed.
                await pubsub.subscribe(self.keys.gateway_keepalive)
                channels = list(self._listeners)
                if channels:
                    await pubsub.subscribe(*channels)
                self._pubsub = pubsub
                self._ready.set()
                if backoff.retrying:
                    metrics.PUBSUB_RECONNECTS.inc()
                    log.info("pub/sub reconnected; %d channels resubscribed", len(channels))
                    for listeners in list(self._listeners.values()):
                        for listener in list(listeners):
                            listener.resync()
                backoff.reset()
                await self._dispatch(pubsub)
            except asyncio.CancelledError:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                raise
            except Exception as exc:
                self._ready.clear()
                self._pubsub = None
                delay = backoff.next_delay()
                log.warning("pub/sub connection lost (%s); retrying in %.1fs", type(exc).__name__, delay)
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await asyncio.sleep(delay)

    async def _dispatch(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is None or message.get("type") != "message":
                continue
            listeners = self._listeners.get(message["channel"])
            if not listeners:
                continue
            sent_at, frame = unstamped(message["data"])
            for listener in list(listeners):
                listener.deliver(frame)
            if sent_at is not None:
                metrics.RELAY_DELIVERY.observe(max(0.0, time.time() - sent_at))
