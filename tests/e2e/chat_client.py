"""A small WebSocket + HTTP client for the end-to-end tests: what a browser would do."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from websockets.asyncio.client import ClientConnection, connect

Event = dict[str, Any]
FINAL = ("done", "error")


def is_final(event: Event) -> bool:
    return event["type"] in FINAL and "turnId" in event and "seq" in event


@dataclass
class TurnRecord:
    events: list[Event] = field(default_factory=list)

    @property
    def tokens(self) -> list[Event]:
        return [event for event in self.events if event["type"] == "token"]

    @property
    def text(self) -> str:
        return "".join(event["text"] for event in self.tokens)

    @property
    def final(self) -> Event:
        return self.events[-1]

    @property
    def seqs(self) -> list[int]:
        return [event["seq"] for event in self.events if "seq" in event]


class Connection(Protocol):
    """One connection to a gateway, over a socket or in the test's own process."""

    async def send(self, payload: Event, /) -> None: ...

    async def receive(self, timeout: float = ..., /) -> Event: ...


async def before_the_next_answer(client: Connection) -> list[Event]:
    """What the gateway sends before it answers one more request on this connection.

    The gateway answers a connection's requests in the order they came, so an answer to an earlier
    request that has not come by then never will (events of turns and threads are not answers: they
    come when they come). The request is one it refuses at once, touching neither Redis nor the
    database; its error names a thread id of its own, by which it is told from everything else.
    """
    probe = f"probe-{uuid.uuid4().hex}"
    await client.send({"type": "probe", "threadId": probe})
    before: list[Event] = []
    while (event := await client.receive())["type"] != "error" or event.get("threadId") != probe:
        before.append(event)
    assert event["code"] == "invalid_message", event
    return before


class ChatClient:
    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> ChatClient:
        # No flow control: a test that closes with events still unread would otherwise stop reading
        # the socket, miss the server's close frame and wait out the 10 s close timeout.
        kwargs.setdefault("max_queue", None)
        return cls(await connect(url, **kwargs))

    async def close(self) -> None:
        await self.websocket.close()

    async def send(self, payload: Event | str | bytes) -> None:
        await self.websocket.send(payload if isinstance(payload, (str, bytes)) else json.dumps(payload))

    async def receive(self, timeout: float = 15) -> Event:
        event: Event = json.loads(await asyncio.wait_for(self.websocket.recv(), timeout))
        return event

    async def message(self, thread_id: str, content: str) -> Event:
        """Send a message and return the `started` event (or the `error` that refused it)."""
        await self.send({"type": "message", "threadId": thread_id, "content": content})
        while True:
            event = await self.receive()
            if event["type"] in ("started", "error"):
                return event

    async def until_tokens(self, count: int, timeout: float = 15) -> TurnRecord:
        """Read the running turn's events until `count` tokens have arrived (mid-reply, on purpose)."""
        record = TurnRecord()
        async with asyncio.timeout(timeout):
            while len(record.tokens) < count:
                event = await self.receive(timeout)
                if "turnId" in event and event["type"] != "started":
                    record.events.append(event)
        return record

    async def until_final(self, record: TurnRecord | None = None, timeout: float = 30) -> TurnRecord:
        record = record or TurnRecord()
        async with asyncio.timeout(timeout):
            while True:
                event = await self.receive(timeout)
                if "turnId" in event and event["type"] != "started":
                    record.events.append(event)
                if is_final(event):
                    return record

    async def turn(self, thread_id: str, content: str) -> tuple[Event, TurnRecord]:
        started = await self.message(thread_id, content)
        assert started["type"] == "started", started
        return started, await self.until_final()


async def one_turn(gateway: str | Awaitable[ChatClient], thread_id: str, content: str) -> tuple[Event, TurnRecord]:
    """One message on a connection of its own, to the turn's end: a new connection to the gateway at
    that URL, or the one being opened (a stack's own client, with what its handshake needs)."""
    client = await (ChatClient.open(gateway) if isinstance(gateway, str) else gateway)
    try:
        return await client.turn(thread_id, content)
    finally:
        await client.close()


async def turns(gateway_url: str, thread_id: str, *contents: str) -> list[TurnRecord]:
    """Messages one after the other on a connection of their own, each to its turn's end."""
    client = await ChatClient.open(gateway_url)
    try:
        return [(await client.turn(thread_id, content))[1] for content in contents]
    finally:
        await client.close()


def new_thread(api_url: str, title: str | None = None) -> str:
    body = {"title": title} if title else {}
    response = httpx.post(f"{api_url}/threads", json=body)
    response.raise_for_status()
    thread_id: str = response.json()["thread"]["id"]
    return thread_id


def messages(api_url: str, thread_id: str) -> list[Event]:
    response = httpx.get(f"{api_url}/threads/{thread_id}/messages")
    response.raise_for_status()
    result: list[Event] = response.json()["messages"]
    return result


def thread(api_url: str, thread_id: str) -> Event:
    response = httpx.get(f"{api_url}/threads/{thread_id}")
    response.raise_for_status()
    result: Event = response.json()["thread"]
    return result
