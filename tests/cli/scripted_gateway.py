"""A gateway in the test's process that plays a scripted conversation over a real WebSocket.

Every frame the client sends is decoded with the wire module, so a client that writes a frame the
real gateway would refuse fails the test; the script sends frames built with the same module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sandchat import wire
from websockets.asyncio.server import ServerConnection, serve

RECEIVE_TIMEOUT_S = 10


class ScriptedClient:
    """The connected client, as the script sees it."""

    def __init__(self, websocket: ServerConnection) -> None:
        self.websocket = websocket
        self.received: list[wire.ClientRequest] = []

    async def receive(self) -> wire.ClientRequest:
        frame = await asyncio.wait_for(self.websocket.recv(), RECEIVE_TIMEOUT_S)
        request = wire.decode_request(frame)
        self.received.append(request)
        return request

    async def send(self, *frames: wire.ServerEvent) -> None:
        for frame in frames:
            await self.websocket.send(wire.encode(frame).decode())


Script = Callable[[ScriptedClient], Awaitable[None]]


@asynccontextmanager
async def scripted_gateway(script: Script) -> AsyncIterator[tuple[str, list[ScriptedClient]]]:
    """Serve ``script`` to every connection; yields the URL and the clients seen so far."""
    clients: list[ScriptedClient] = []
    failures: list[BaseException] = []

    async def handle(websocket: ServerConnection) -> None:
        client = ScriptedClient(websocket)
        clients.append(client)
        try:
            await script(client)
            await websocket.wait_closed()
        except Exception as exc:  # surfaced by the test below, not lost in a server task
            failures.append(exc)
            raise

    async with serve(handle, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1] if server.sockets else 0
        yield f"ws://127.0.0.1:{port}/chat", clients
    if failures:
        raise failures[0]
