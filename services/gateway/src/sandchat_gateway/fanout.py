"""One Redis pub/sub connection per gateway process, shared by all its WebSocket clients.

Subscriptions are reference-counted per turn channel. Each frame's ``seq`` is decoded once and
handed to every subscriber. When Redis drops, the reader reconnects, resubscribes, and asks
each subscriber to catch up from the replay log, so nothing published meanwhile is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Final, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from sandchat import events
from sandchat.redis_keys import RedisKeys

log = logging.getLogger(__name__)

# How long a new subscription waits for a lost pub/sub connection to come back.
READY_TIMEOUT_S: Final = 5.0


class TurnSubscriber(Protocol):
    def deliver(self, turn_id: str, head: events.TurnEventHead, frame: bytes) -> None: ...

    def resync(self, turn_id: str) -> None: ...


class TurnFanout:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys
        self._subscribers: defaultdict[str, set[TurnSubscriber]] = defaultdict(set)
        self._pubsub: PubSub | None = None
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    def _turn_of(self, channel: bytes) -> str:
        # "<ns>:turn:<turn id>:events"
        return channel.decode().rsplit(":", 2)[-2]

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_forever(), name="turn-fanout")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def subscribe(self, turn_id: str, subscriber: TurnSubscriber) -> None:
        """Deliver the turn's events to ``subscriber`` from now on (returns once Redis confirmed)."""
        subscribers = self._subscribers[turn_id]
        first = not subscribers
        subscribers.add(subscriber)
        if first:
            try:
                await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT_S)
            except TimeoutError:
                subscribers.discard(subscriber)
                raise RedisConnectionError("the gateway's pub/sub connection to Redis is down") from None
            assert self._pubsub is not None
            await self._pubsub.subscribe(self.keys.turn_channel(turn_id))

    async def unsubscribe(self, turn_id: str, subscriber: TurnSubscriber) -> None:
        subscribers = self._subscribers.get(turn_id)
        if subscribers is None:
            return
        subscribers.discard(subscriber)
        if not subscribers:
            del self._subscribers[turn_id]
            if self._pubsub is not None and self._ready.is_set():
                try:
                    await self._pubsub.unsubscribe(self.keys.turn_channel(turn_id))
                except Exception as exc:
                    log.debug("unsubscribe failed: %s", exc)

    async def _read_forever(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                # A placeholder subscription keeps the connection in pub/sub mode while no turn runs.
                await pubsub.subscribe(f"{self.keys.namespace}:gateway:keepalive")
                channels = [self.keys.turn_channel(turn_id) for turn_id in self._subscribers]
                if channels:
                    await pubsub.subscribe(*channels)
                self._pubsub = pubsub
                self._ready.set()
                if backoff > 0.1:
                    log.info("pub/sub reconnected; %d turns resubscribed", len(channels))
                    for turn_id, subscribers in list(self._subscribers.items()):
                        for subscriber in list(subscribers):
                            subscriber.resync(turn_id)
                backoff = 0.1
                await self._dispatch(pubsub)
            except asyncio.CancelledError:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                raise
            except Exception as exc:
                self._ready.clear()
                self._pubsub = None
                log.warning("pub/sub connection lost (%s); retrying in %.1fs", type(exc).__name__, backoff)
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _dispatch(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is None or message.get("type") != "message":
                continue
            turn_id = self._turn_of(message["channel"])
            subscribers = self._subscribers.get(turn_id)
            if not subscribers:
                continue
            frame: bytes = message["data"]
            head = events.decode_head(frame)
            for subscriber in list(subscribers):
                subscriber.deliver(turn_id, head, frame)
