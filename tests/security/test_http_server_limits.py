"""The API's HTTP server facing slow and greedy clients: a real uvicorn server in the test's process.

The limits are shortened here (a 1 s deadline instead of 30 s) so that the tests take seconds; the
code is the one `sandchat-api` runs (docs/operating.md, "HTTP limits").
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn
from sandchat.settings import build_settings
from sandchat_api.app import create_app
from sandchat_api.http_server import INVALID_HTTP, OVERLOADED, TOO_SLOW, ServerLimits, server_config

LIMITS = ServerLimits(request_timeout_s=1.0, keep_alive_s=1, max_connections=50, max_head_bytes=8 * 1024)
# Far longer than the deadline: a client still sending when the answer comes was cut off by it.
TRICKLE_S = 20.0
HEALTH = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
async def api_port(sqlite_url: str, redis_url: str, redis_namespace: str) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    settings = build_settings(
        database_url=sqlite_url,
        redis_url=redis_url,
        redis_namespace=redis_namespace,
        api_port=port,
    )
    server = uvicorn.Server(server_config(create_app(settings), settings, LIMITS))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not serving.done(), "the server did not start"
        await asyncio.sleep(0.02)
    yield port
    server.should_exit = True
    await serving
    sock.close()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
    headers = {name.lower(): value for name, value in headers.items()}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 10)
    return int(status_line.split()[1]), headers, body


Slow = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]


async def _begin(port: int, start: bytes) -> Slow:
    """A connection that has sent ``start`` of a request; when it began."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    began = time.monotonic()
    writer.write(start)
    await writer.drain()
    return reader, writer, began


async def _trickle(port: int, start: bytes, drip: bytes) -> tuple[float, int, bytes]:
    """Send ``start``, then ``drip`` every 0.1 s until answered; seconds until the answer, its status and body."""
    return await _keep_trickling(await _begin(port, start), drip)


async def _keep_trickling(slow: Slow, drip: bytes) -> tuple[float, int, bytes]:
    reader, writer, began = slow
    answering = asyncio.ensure_future(_answer(reader))
    while not answering.done() and time.monotonic() - began < TRICKLE_S:
        writer.write(drip)
        await asyncio.sleep(0.1)
    assert answering.done(), f"still open after trickling for {TRICKLE_S} s"
    status, _, body = answering.result()
    writer.close()
    return time.monotonic() - began, status, body


async def test_a_request_head_trickling_in_forever_is_answered_408_at_the_deadline(api_port: int) -> None:
    took, status, body = await _trickle(api_port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Drip: 1\r\n")
    assert (status, json.loads(body)) == (408, {"detail": TOO_SLOW})
    assert took >= LIMITS.request_timeout_s * 0.9, "not before the deadline"


async def test_a_body_trickling_in_forever_is_answered_408_and_stores_nothing(api_port: int) -> None:
    head = (
        b"POST /threads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 60000\r\n\r\n" + b'{"title": "'
    )
    _, status, body = await _trickle(api_port, head, b"x")
    assert (status, json.loads(body)) == (408, {"detail": TOO_SLOW})
    reader, writer = await asyncio.open_connection("127.0.0.1", api_port)
    writer.write(b"GET /threads HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert json.loads((await _answer(reader))[2])["threads"] == []
    writer.close()


async def test_forty_slow_clients_are_all_cut_off_and_others_are_served_meanwhile(api_port: int) -> None:
    begun = await asyncio.gather(*(_begin(api_port, b"GET /threads HTTP/1.1\r\n") for _ in range(40)))
    slow = [asyncio.ensure_future(_keep_trickling(each, b"X-Drip: 1\r\n")) for each in begun]
    # Connected before it, so accepted before it: the server holds forty unfinished requests meanwhile.
    reader, writer = await asyncio.open_connection("127.0.0.1", api_port)
    writer.write(HEALTH)
    assert (await _answer(reader))[0] == 200
    writer.close()
    assert {status for _, status, _ in await asyncio.gather(*slow)} == {408}


async def test_an_idle_kept_alive_connection_is_closed(api_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", api_port)
    writer.write(HEALTH)
    assert (await _answer(reader))[0] == 200
    assert await asyncio.wait_for(reader.read(), LIMITS.keep_alive_s + 10) == b"", "closed by the server"
    writer.close()


async def test_beyond_the_connection_cap_a_client_is_told_to_come_back(api_port: int) -> None:
    held = [await asyncio.open_connection("127.0.0.1", api_port) for _ in range(LIMITS.max_connections)]
    reader, writer = await asyncio.open_connection("127.0.0.1", api_port)
    status, headers, body = await _answer(reader)
    assert (status, json.loads(body), headers["retry-after"]) == (503, {"detail": OVERLOADED}, "1")
    writer.close()
    for _, held_writer in held:
        held_writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    for held_reader, held_writer in held:
        # Served, then closed by the server, which forgets a connection before its socket closes.
        assert (await _answer(held_reader))[0] == 200
        assert await asyncio.wait_for(held_reader.read(), 10) == b""
        held_writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", api_port)
    writer.write(HEALTH)
    assert (await _answer(reader))[0] == 200
    writer.close()


@pytest.mark.parametrize(
    "request_",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",  # TLS to the plain port
        b"GET /health\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 20_000,  # and no end in sight
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",
    ],
    ids=["tls", "nul-in-target", "head-too-large", "malformed-header"],
)
async def test_what_is_not_http_gets_one_json_400(api_port: int, request_: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", api_port)
    writer.write(request_)
    status, headers, body = await _answer(reader)
    assert (status, json.loads(body)) == (400, {"detail": INVALID_HTTP})
    assert headers["x-content-type-options"] == "nosniff"
    writer.close()
