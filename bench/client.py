"""What the benchmarks drive the stack with: threads over HTTP, turns over one WebSocket each."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect

_decoder = msgspec.json.Decoder(dict[str, Any])


@dataclass(slots=True)
class TurnTrace:
    """What one client saw of one turn, with arrival times (``time.perf_counter`` and ``time.time``)."""

    sent_at: float = 0.0
    sent_wall: float = 0.0
    started_at: float | None = None  # the gateway's `started`: the message is stored and queued
    first_token_at: float | None = None
    last_token_at: float | None = None
    text: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    delivery_s: list[float] = field(default_factory=list)  # arrival - the agent's stamp, per token
    stamps: list[float] = field(default_factory=list)  # when the agent wrote each token's first delta
    final: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.final is not None and self.final["type"] == "done"

    @property
    def seqs_in_order(self) -> bool:
        return self.seqs == list(range(1, len(self.seqs) + 1))


async def new_threads(api_url: str, count: int) -> list[str]:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        semaphore = asyncio.Semaphore(20)

        async def one() -> str:
            async with semaphore:
                response = await http.post("/threads", json={})
                response.raise_for_status()
                thread_id: str = response.json()["thread"]["id"]
                return thread_id

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def open_socket(url: str) -> ClientConnection:
    # A browser's connection: no compression; large enough queues that the client never throttles.
    return await connect(url, compression=None, max_size=None, max_queue=None, open_timeout=60)


async def run_turn(
    websocket: ClientConnection, thread_id: str, content: str, timeout: float = 120, trace: TurnTrace | None = None
) -> TurnTrace:
    """Send one message and read until its final event (into ``trace``: what came before a timeout stays)."""
    trace = trace or TurnTrace()
    request = msgspec.json.encode({"type": "message", "threadId": thread_id, "content": content})
    trace.sent_at, trace.sent_wall = time.perf_counter(), time.time()
    await websocket.send(request.decode())
    async with asyncio.timeout(timeout):
        while True:
            frame = await websocket.recv()
            arrived, wall = time.perf_counter(), time.time()
            event = _decoder.decode(frame)
            kind = event["type"]
            if kind == "started":
                trace.started_at = arrived
            elif kind == "token":
                if trace.first_token_at is None:
                    trace.first_token_at = arrived
                trace.last_token_at = arrived
                trace.text.append(event["text"])
                stamp = event.get("stamp")
                if stamp is not None:
                    trace.delivery_s.append(wall - stamp)
                    trace.stamps.append(stamp)
            if "seq" in event and event.get("turnId"):
                trace.seqs.append(event["seq"])
            if kind in ("done", "error"):
                trace.final = event
                return trace
