"""The turn package against a real Redis and real databases, in-process: every transition in seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis
from sandchat import threads, wire
from sandchat.database import Database
from sandchat.models import Message
from sandchat.redis_keys import RedisKeys
from sandchat.transcript import Transcript
from sandchat.turns import Turns, queue
from sandchat.turns.beginning import MessageQueued, Submitted, TurnBegun, submit
from sandchat.turns.event_log import unstamped


@dataclass
class ChannelRecorder:
    """Everything published on some channels, decoded, in order."""

    frames: list[wire.ServerEvent] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, kind: type[wire.ServerEvent]) -> list[wire.ServerEvent]:
        return [frame for frame in self.frames if isinstance(frame, kind)]

    async def until(self, predicate: Callable[[list[wire.ServerEvent]], bool], timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self.frames):
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def turns(redis_url: str, redis_keys: RedisKeys, database: Database) -> AsyncIterator[Turns]:
    client = queue.connect(redis_url)
    yield Turns.connect(client, redis_keys, database)
    await client.aclose()


@pytest.fixture
async def listen(redis_url: str) -> AsyncIterator[Callable[[str], Awaitable[ChannelRecorder]]]:
    """Subscribe to channels (a turn's or a thread's) and record what is published there."""
    client = Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    recorders: dict[bytes, ChannelRecorder] = {}
    ready = asyncio.Event()

    async def read() -> None:
        ready.set()
        while True:
            message = await pubsub.get_message(timeout=0.5)
            if message is None or message["type"] != "message":
                continue
            recorder = recorders[message["channel"]]
            recorder.frames.append(wire.decode_event(unstamped(message["data"])[1]))
            recorder.arrived.set()

    reader: asyncio.Task[None] | None = None

    async def subscribe(channel: str) -> ChannelRecorder:
        nonlocal reader
        recorder = recorders.setdefault(channel.encode(), ChannelRecorder())
        await pubsub.subscribe(channel)
        if reader is None:
            reader = asyncio.create_task(read())
            await ready.wait()
        return recorder

    yield subscribe
    if reader is not None:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    await pubsub.aclose()
    await client.aclose()


async def new_thread(database: Database, title: str | None = None) -> str:
    async with database.transaction() as session:
        return (await threads.create_thread(session, title)).id


async def send(turns: Turns, thread_id: str, content: str) -> Submitted:
    async def nothing(_accepted: TurnBegun | MessageQueued) -> None:
        return None

    return await submit(turns, thread_id, content, nothing)


async def new_turn(turns: Turns, database: Database, content: str) -> tuple[str, TurnBegun]:
    """A new thread, and the turn its first message ``content`` began."""
    thread_id = await new_thread(database)
    begun = await send(turns, thread_id, content)
    assert isinstance(begun, TurnBegun)
    return thread_id, begun


async def queue_messages(turns: Turns, thread_id: str, *contents: str) -> list[MessageQueued]:
    """Messages sent while the thread's turn runs: each waits in its queue, in the order sent."""
    queued: list[MessageQueued] = []
    for content in contents:
        submitted = await send(turns, thread_id, content)
        assert isinstance(submitted, MessageQueued)
        queued.append(submitted)
    return queued


async def messages(database: Database, thread_id: str) -> list[Message]:
    async with database.reading() as session:
        return await threads.list_messages(session, thread_id)


def text_transcript(text: str, last_seq: int = 0) -> Transcript:
    transcript = Transcript(last_seq=last_seq)
    transcript.add_text(text)
    return transcript
