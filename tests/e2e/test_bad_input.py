"""Every error a client can cause gets its code, and the connection and the service carry on."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.chat_client import ChatClient, before_the_next_answer, messages, new_thread
from tests.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{", "invalid_message"),
        ("[1, 2, 3]", "invalid_message"),
        ('"just a string"', "invalid_message"),
        ('{"type": "shout", "threadId": "x"}', "invalid_message"),
        ('{"type": "message", "content": "no thread"}', "invalid_message"),
        ('{"type": "message", "threadId": 42, "content": "x"}', "invalid_message"),
        ('{"type": "message", "threadId": "THREAD", "content": ""}', "invalid_message"),
        ('{"type": "message", "threadId": "THREAD", "content": "  \\n "}', "invalid_message"),
        ('{"type": "message", "threadId": "THREAD", "content": "nul \\u0000 byte"}', "invalid_message"),
        ('{"type": "message", "threadId": "no-such-thread", "content": "hi"}', "thread_not_found"),
        ('{"type": "message", "threadId": "' + "x" * 5000 + '", "content": "hi"}', "thread_not_found"),
        ('{"type": "cancel", "threadId": "' + "y" * 5000 + '"}', "thread_not_found"),
        ('{"type": "resume", "threadId": "no-such-thread", "afterSeq": 0}', "thread_not_found"),
        ('{"type": "resume", "threadId": "THREAD", "afterSeq": "x"}', "invalid_message"),
    ],
)
async def test_bad_request_gets_its_error_code_and_the_connection_stays_open(
    stack: Stack, frame: str, code: str
) -> None:
    thread_id = new_thread(stack.api_url)
    client = await ChatClient.open(stack.gateway_url())
    try:
        await client.send(frame.replace("THREAD", thread_id))
        error = await client.receive()
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["message"]
        # The same connection still answers (a full turn over it is proven by the tests below).
        await client.send({"type": "resume", "threadId": thread_id, "afterSeq": 0})
        answer = await client.receive()
        assert "No reply is streaming" in answer["message"]
    finally:
        await client.close()


async def test_content_over_the_limit_is_too_large_and_not_stored(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    client = await ChatClient.open(stack.gateway_url())
    try:
        error = await client.message(thread_id, "x" * 100_001)
        assert (error["type"], error["code"]) == ("error", "too_large")
        started = await client.message(thread_id, "y" * 100_000)
        assert started["type"] == "started"
        await client.until_final()
    finally:
        await client.close()
    assert [len(m["content"]) for m in messages(stack.api_url, thread_id) if m["role"] == "user"] == [100_000]


async def test_a_binary_frame_is_refused_with_an_error(stack: Stack) -> None:
    client = await ChatClient.open(stack.gateway_url())
    try:
        await client.send(json.dumps({"type": "cancel", "threadId": "x"}).encode())
        error = await client.receive()
        assert (error["type"], error["code"]) == ("error", "invalid_message")
    finally:
        await client.close()


async def test_a_frame_over_the_size_limit_closes_only_that_connection(stack: Stack) -> None:
    client = await ChatClient.open(stack.gateway_url())
    await client.send("x" * (17 << 20))  # beyond the 16 MiB the gateway reads (smaller: `too_large`)
    with pytest.raises(Exception):  # noqa: B017, PT011 - closed with 1009 (message too big)
        await client.receive(timeout=5)
    assert client.websocket.close_code == 1009
    other = await ChatClient.open(stack.gateway_url())
    try:
        thread_id = new_thread(stack.api_url)
        _, record = await other.turn(thread_id, "the service carries on")
        assert record.final["type"] == "done"
    finally:
        await other.close()


async def test_a_page_from_another_origin_is_closed_with_the_reason_before_any_frame_is_read(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    refused = await ChatClient.open(stack.gateway_url(), origin="http://evil.example")
    with contextlib.suppress(ConnectionClosed):
        await refused.send({"type": "message", "threadId": thread_id, "content": "hi"})
    with pytest.raises(ConnectionClosed):
        await refused.receive(timeout=5)
    assert refused.websocket.close_code == 1008
    assert (refused.websocket.close_reason or "").startswith("Origin not allowed")
    assert messages(stack.api_url, thread_id) == []
    allowed = await ChatClient.open(stack.gateway_url(), origin=f"http://127.0.0.1:{stack.api_port}")
    await allowed.close()


async def test_a_burst_of_requests_is_rate_limited_not_fatal(stack: Stack) -> None:
    client = await ChatClient.open(stack.gateway_url())
    try:
        for _ in range(200):
            await client.send({"type": "cancel", "threadId": "nothing-runs-here"})
        # Cancels of nothing are answered by nothing; every refused one is answered with an error.
        refused = [await client.receive(timeout=5) for _ in range(150)]
        assert all(answer["type"] == "error" and "slow down" in answer["message"] for answer in refused)
        thread_id = new_thread(stack.api_url)
        await asyncio.sleep(1.5)  # the bucket refills
        late = await before_the_next_answer(client)  # the few refused beyond the first 150
        assert all(answer["type"] == "error" and "slow down" in answer["message"] for answer in late), late
        _, record = await client.turn(thread_id, "after the burst")
        assert record.final["type"] == "done"
    finally:
        await client.close()
