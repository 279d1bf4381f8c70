"""Strangers at the gateway: thousands of refused handshakes and junk requests, none with credentials.

The gateway keeps nothing per refused stranger (its memory stays flat, measured as the RSS of a
real gateway process) and says so in a bounded number of log lines.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sandchat_dev.stack import free_port, migrate

from tests.e2e.conftest import stack_settings
from tests.stack import BIN, Service, stack_env

pytestmark = pytest.mark.e2e

# Just under the longest header line the gateway reads (8,192 bytes): each one is looked at.
NOISE_CHARS = 8_000
# Far more data than the bound: a gateway keeping anything per request would cross it many times over.
REFUSED_ORIGINS = 3_000
OTHER_JUNK = 3_000
GROWTH_BOUND_MIB = 12
CONCURRENCY = 20


@pytest.fixture
def lone_gateway(tmp_path: Path, redis_url: str) -> Iterator[tuple[Service, int]]:
    """A gateway process of its own (nothing else shares its memory or its log), with AUTH_TOKEN set."""
    port = free_port()
    settings = stack_settings(
        tmp_path, redis_url, AUTH_TOKEN=f"tok-{secrets.token_urlsafe(16)}", GATEWAY_PORT=str(port)
    )
    migrate(settings["DATABASE_URL"])  # its reaper reads the database: a missing table would fill the log
    gateway = Service("gateway", [str(BIN / "sandchat-gateway")], stack_env(**settings))
    gateway.start(sys.stderr, "36")
    try:
        assert gateway.lines_with("gateway on ws://", timeout=30), "the gateway did not start"
        yield gateway, port
    finally:
        gateway.stop()


def _handshake(path: str, *headers: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _junk(number: int) -> bytes:
    """Requests without credentials, each with 8 kB nobody has sent before."""
    noise = secrets.token_hex(NOISE_CHARS // 2)
    kind = number % 4
    if kind == 0:
        return _handshake(f"/chat?ticket={noise}")
    if kind == 1:
        return _handshake("/chat", f"Authorization: Bearer {noise}")
    if kind == 2:
        return _handshake(f"/{noise}")
    return f"GET /chat HTTP/1.1\r\nHost: {noise}\r\nUpgrade: x\r\n\r\n".encode()


async def _send(port: int, request: bytes) -> bytes:
    """Send one request; read the answer's head; hang up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()


async def _flood(port: int, requests: list[bytes]) -> list[bytes]:
    queue = list(reversed(requests))
    answers: list[bytes] = []

    async def worker() -> None:
        while queue:
            answers.append(await _send(port, queue.pop()))

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return answers


def _refused_origin(number: int) -> bytes:
    return _handshake("/chat", f"Origin: http://{number}-{secrets.token_hex(NOISE_CHARS // 2)}.example")


def _rss_mib(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / (1 << 20)


async def test_thousands_of_refused_strangers_leave_the_gateway_memory_flat_and_its_log_short(
    lone_gateway: tuple[Service, int],
) -> None:
    gateway, port = lone_gateway
    assert gateway.process is not None
    # Warm up: allocator pools, code paths, the first log lines.
    await _flood(port, [_refused_origin(n) for n in range(300)] + [_junk(n) for n in range(300)])
    before = _rss_mib(gateway.process.pid)
    started = time.monotonic()
    answers = await _flood(port, [_refused_origin(n) for n in range(REFUSED_ORIGINS)])
    answers += await _flood(port, [_junk(n) for n in range(OTHER_JUNK)])
    elapsed = time.monotonic() - started
    after = _rss_mib(gateway.process.pid)
    print(f"\ngateway RSS {before:.1f} -> {after:.1f} MiB after {len(answers)} requests in {elapsed:.1f} s")

    assert sum(answer.startswith(b"HTTP/1.1 101") for answer in answers) == REFUSED_ORIGINS  # then closed with 1008
    assert not any(answer.startswith(b"HTTP/1.1 5") for answer in answers)
    assert after - before < GROWTH_BOUND_MIB, f"{before:.1f} -> {after:.1f} MiB"
    refusals = gateway.lines_with("refused a WebSocket from origin")
    assert 1 <= len(refusals) <= 2, refusals  # one a minute at most (and the warm-up's)
    assert all(len(line) < 400 for line in refusals)
    assert len(gateway.log) < 50, gateway.log[-10:]
