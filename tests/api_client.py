"""The HTTP API in the test's own event loop: its startup, its requests and its shutdown all run there.

Litestar 2's ``AsyncTestClient`` runs the app's startup in a thread of its own and blocks the test's
event loop until it ends. With services running in that loop (tests/services), a worker holding
SQLite's write lock then cannot release it, and the API's startup waits out the busy timeout. Here,
as under a server, the app's lifespan runs in a task of its own in the loop, and httpx calls the app
directly (a fixture's setup and teardown may run in different tasks; the lifespan's must not).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
from litestar import Litestar

PAGE = "http://127.0.0.1:8000"

ApiClient = httpx.AsyncClient


@asynccontextmanager
async def api_client(app: Litestar, base_url: str = PAGE) -> AsyncIterator[ApiClient]:
    """``app`` started, and a client whose requests it answers in this loop; stopped when the block ends."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    running = asyncio.create_task(lifespan())
    ready = asyncio.create_task(started.wait())
    await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if running.done():
        running.result()  # the startup's own error
        raise RuntimeError("the API's lifespan ended before its startup did")
    # Litestar types its ASGI events precisely and httpx loosely: the same callable to both.
    transport = httpx.ASGITransport(app=cast("Any", app))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
    finally:
        stop.set()
        await running
