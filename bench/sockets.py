"""Idle WebSockets on one gateway: its memory per connection, next to a bare websockets server."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
from contextlib import suppress

import psutil
from sandchat_dev.stack import free_port
from websockets.asyncio.client import ClientConnection, connect

from bench.report import Figure, ScenarioResult
from tests.stack import ROOT, Stack

SETTLE_S = 1.0


async def _open_many(url: str, count: int) -> list[ClientConnection]:
    semaphore = asyncio.Semaphore(64)

    async def one() -> ClientConnection:
        async with semaphore:
            return await connect(url, compression=None, open_timeout=60, ping_interval=None)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _rss_per_connection(pid: int, url: str, count: int) -> tuple[float, int, int]:
    """(bytes per connection, RSS before, RSS after) of the server process ``pid``."""
    process = psutil.Process(pid)
    await asyncio.sleep(SETTLE_S)
    before = process.memory_info().rss
    sockets = await _open_many(url, count)
    try:
        await asyncio.sleep(SETTLE_S)
        after = process.memory_info().rss
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        gc.collect()
    return (after - before) / count, before, after


async def idle_sockets(stack: Stack, count: int) -> ScenarioResult:
    result = ScenarioResult("idle_sockets", {"connections": count})
    port = free_port()
    bare = subprocess.Popen([sys.executable, "-m", "bench.bare_server", str(port)], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert bare.stdout is not None
        await asyncio.to_thread(bare.stdout.readline)
        floor, floor_before, floor_after = await _rss_per_connection(bare.pid, f"ws://127.0.0.1:{port}/", count)
    finally:
        bare.terminate()
        with suppress(subprocess.TimeoutExpired):
            bare.wait(5)
    gateway = stack.service("gateway").process
    assert gateway is not None
    per, before, after = await _rss_per_connection(gateway.pid, stack.gateway_url(), count)
    result.raw = {
        "gateway": {"rss_before": before, "rss_after": after, "bytes_per_connection": per},
        "bare_websockets": {"rss_before": floor_before, "rss_after": floor_after, "bytes_per_connection": floor},
    }
    result.figures = [
        Figure("RSS per connection", per / 1024, "KB", floor / 1024, "<= 30 KB", per <= 30 * 1024),
    ]
    return result
