"""Clients that fall behind, against the real gateway server in this process (real sockets, no worker).

Frames go to a client's socket while it keeps up; behind a full socket they wait in the connection's
backlog and leave once it drains, after which frames go to the socket directly again. At 4096
waiting frames (docs/protocol.md) the client is closed with 1013: what it got is a gapless start of
the turn, and a resume from there sends the rest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sandchat import wire
from sandchat.database import Database
from sandchat.settings import Settings
from sandchat.turns import Turns, queue
from sandchat_gateway.connection import SEND_QUEUE_FRAMES, TRY_AGAIN_LATER
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from tests import metrics_page
from tests.e2e.chat_client import ChatClient
from tests.services.conftest import gateway_running
from tests.turns.conftest import new_thread

TEXT = "x" * 1_000
BATCH = 500
# The kernel buffers a few MB of a socket nobody reads (4 MB of send buffer here) before the
# backlog starts: tokens are published until the gateway gives up, at most this many.
MOST_TOKENS = 60_000

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def served(
    database_url: str, redis_url: str, redis_namespace: str, database: Database
) -> AsyncIterator[Settings]:
    """The gateway's server on a free port, and no worker: a turn stays queued and the test publishes it."""
    async with gateway_running(
        database_url=database_url, redis_url=redis_url, redis_namespace=redis_namespace, turn_pickup_timeout_s=120
    ) as settings:
        yield settings


@pytest.fixture
async def turns(served: Settings, redis_url: str, database: Database) -> AsyncIterator[Turns]:
    client = queue.connect(redis_url)
    yield Turns.connect(client, served.redis_keys, database)
    await client.aclose()


async def _open_with_small_buffer(port: int) -> ClientConnection:
    """A client with a small kernel receive buffer, so that the gateway soon finds its socket full."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await connect(f"ws://127.0.0.1:{port}/chat", sock=sock, compression=None)


async def _started_turn(client: ClientConnection, thread_id: str) -> str:
    await client.send(json.dumps({"type": "message", "threadId": thread_id, "content": "hello"}))
    started: dict[str, Any] = json.loads(await client.recv())
    assert started["type"] == "started", started
    turn_id: str = started["turnId"]
    return turn_id


async def _publish(turns: Turns, thread_id: str, turn_id: str, seqs: range, text: str = TEXT) -> None:
    """The turn's tokens ``seqs``, as a worker publishes them."""
    await turns.store.publish(turn_id, [(s, wire.encode(wire.Token(thread_id, turn_id, s, text))) for s in seqs])


async def _tokens(client: ClientConnection, count: int) -> list[int]:
    seqs: list[int] = []
    while len(seqs) < count:
        event = json.loads(await asyncio.wait_for(client.recv(), 15))
        if event["type"] == "token":  # the thread's own events (its new title) come too
            seqs.append(event["seq"])
    return seqs


async def _tokens_until_closed(client: ClientConnection) -> tuple[list[int], int | None]:
    """The tokens a client reads until the gateway closes it, and the close code it received."""
    seqs: list[int] = []
    try:
        while True:
            event = json.loads(await asyncio.wait_for(client.recv(), 15))
            if event["type"] == "token":
                seqs.append(event["seq"])
    except ConnectionClosed as closed:
        return seqs, closed.rcvd.code if closed.rcvd is not None else None


async def test_a_client_that_falls_behind_gets_every_frame_in_order_once_it_reads_again(
    served: Settings, turns: Turns, database: Database
) -> None:
    metrics_url = f"http://127.0.0.1:{served.gateway_port}/metrics"
    thread_id = await new_thread(database)
    client = await _open_with_small_buffer(served.gateway_port)
    turn_id = await _started_turn(client, thread_id)
    before = await asyncio.to_thread(metrics_page.scrape, metrics_url)

    # 12 MB the client does not read: more than the kernel buffers, fewer frames than the backlog's bound.
    behind = 3_000
    for first in range(1, behind + 1, BATCH):
        await _publish(turns, thread_id, turn_id, range(first, first + BATCH), text="y" * 4_000)
    async with asyncio.timeout(30):  # until the gateway has taken every frame
        while True:
            now = await asyncio.to_thread(metrics_page.scrape, metrics_url)
            if metrics_page.moved(before, now, "sandchat_relay_frames_total") >= behind:
                break
            await asyncio.sleep(0.05)
    assert await _tokens(client, behind) == list(range(1, behind + 1))

    # Caught up: the next frames come at once, on the same connection.
    await _publish(turns, thread_id, turn_id, range(behind + 1, behind + 11))
    assert await _tokens(client, 10) == list(range(behind + 1, behind + 11))
    after = await asyncio.to_thread(metrics_page.scrape, metrics_url)
    waited = metrics_page.moved(before, after, "sandchat_frame_delivery_seconds_count") - metrics_page.moved(
        before, after, "sandchat_frame_delivery_seconds_bucket", le="0.0001"
    )
    assert waited > 0, "some frames waited behind the full socket"
    await client.close()


async def test_a_client_that_stops_reading_is_closed_with_1013_and_resumes_where_it_stopped(
    served: Settings, turns: Turns, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sandchat_gateway.connection")
    thread_id = await new_thread(database)
    slow = await _open_with_small_buffer(served.gateway_port)
    turn_id = await _started_turn(slow, thread_id)

    # The client reads nothing more while the turn's tokens are published.
    published = 0
    while "client too slow" not in caplog.text:
        assert published < MOST_TOKENS, "the gateway never gave up on a client that reads nothing"
        await _publish(turns, thread_id, turn_id, range(published + 1, published + BATCH + 1))
        published += BATCH
        await asyncio.sleep(0.01)  # the gateway relays what it was sent meanwhile

    received, code = await _tokens_until_closed(slow)
    assert code == TRY_AGAIN_LATER
    assert received == list(range(1, len(received) + 1)), "a gapless start of the turn"
    assert len(received) <= published - SEND_QUEUE_FRAMES, "what waited in the backlog was not sent"

    again = await ChatClient.open(f"ws://127.0.0.1:{served.gateway_port}/chat")
    try:
        await again.send({"type": "resume", "threadId": thread_id, "afterSeq": received[-1]})
        rest = [(await again.receive())["seq"] for _ in range(published - len(received))]
        assert again.websocket.state is State.OPEN
    finally:
        await again.close()
    assert rest == list(range(len(received) + 1, published + 1))
