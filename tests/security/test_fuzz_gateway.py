"""Hypothesis throws arbitrary frames at a running gateway: it must answer or ignore each one,
keep the connection open (unless the frame breaks the WebSocket protocol), and keep serving.

The frames carry the hostile classes of `hostile_input` (NUL and control bytes, long strings,
integers past 64 bits); `test_fuzz_chat_requests.py` adds deep JSON and runs on both databases.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, get_args

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandchat.wire import ErrorCode
from websockets.exceptions import ConnectionClosed

from tests.e2e.chat_client import ChatClient
from tests.security.conftest import AuthStack
from tests.security.hostile_input import big_integers, hostile_text, json_values, one_sentence

pytestmark = pytest.mark.e2e

SERVER_TYPES = {"started", "token", "tool", "tool_result", "status", "title", "done", "error"}
ERROR_CODES = frozenset(get_args(ErrorCode))
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

field_values = st.one_of(json_values, st.just("THREAD"), hostile_text, big_integers)
requests = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "cancel", "resume", "MESSAGE", "", "ping", "done"])},
    optional={"threadId": field_values, "content": field_values, "afterSeq": field_values, "extra": json_values},
)


@st.composite
def frames(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.sampled_from(["request", "json", "text", "binary"]))
    if kind == "request":
        return json.dumps(draw(requests))
    if kind == "json":
        return json.dumps(draw(json_values))
    if kind == "text":
        return draw(st.text(max_size=200))
    return draw(st.binary(max_size=200))


async def _assert_answers_like_a_gateway(client: ChatClient, probe_thread: str) -> list[dict[str, Any]]:
    """Every event is a known wire event; then the probe resume gets its answer (the connection is alive)."""
    await client.send({"type": "resume", "threadId": probe_thread, "afterSeq": 0})
    seen: list[dict[str, Any]] = []
    while True:
        event = await client.receive(timeout=10)
        assert event["type"] in SERVER_TYPES, event
        if event["type"] == "error":
            assert event["code"] in ERROR_CODES, event
            assert event["code"] != "agent_error", f"input answered as a failure of the service: {event}"
            assert one_sentence(event["message"]), event
            if event.get("threadId") == probe_thread and "No reply is streaming" in event["message"]:
                return seen
        seen.append(event)


async def _one_frame(auth_stack: AuthStack, frame: str | bytes, real_thread: str, probe_thread: str) -> None:
    if isinstance(frame, str):
        frame = frame.replace("THREAD", real_thread)
    client = await auth_stack.client()
    try:
        await client.send(frame)
        await _assert_answers_like_a_gateway(client, probe_thread)
    finally:
        await client.close()


@pytest.fixture(scope="module")
def threads(auth_stack: AuthStack) -> tuple[str, str]:
    """A thread the frames may name (and start turns on), and one only the probe uses."""
    return auth_stack.new_thread(), auth_stack.new_thread()


@FUZZ
@given(frame=frames())
def test_any_frame_gets_an_error_event_or_nothing_and_the_connection_carries_on(
    auth_stack: AuthStack, threads: tuple[str, str], frame: str | bytes
) -> None:
    asyncio.run(_one_frame(auth_stack, frame, *threads))


async def test_invalid_utf8_in_a_text_frame_closes_only_that_connection(
    auth_stack: AuthStack, threads: tuple[str, str]
) -> None:
    client = await auth_stack.client()
    await client.websocket.send(b'{"type": "cancel", "threadId": "\xff\xfe"}', text=True)
    with pytest.raises(ConnectionClosed):
        await client.receive(timeout=5)
    assert client.websocket.close_code == 1007  # invalid frame payload data
    other = await auth_stack.client()
    try:
        await _assert_answers_like_a_gateway(other, threads[1])
    finally:
        await other.close()


async def test_a_burst_of_1000_messages_is_rate_limited_and_everyone_else_is_served(auth_stack: AuthStack) -> None:
    thread_id, bystander_thread = auth_stack.new_thread(), auth_stack.new_thread()
    flooder, bystander = await auth_stack.client(), await auth_stack.client()
    try:
        bystander_turn = asyncio.ensure_future(bystander.turn(bystander_thread, "business as usual"))
        for number in range(1000):
            await flooder.send({"type": "message", "threadId": thread_id, "content": f"spam {number}"})
        # Every request is answered exactly once: the first starts a turn, those within the burst are
        # queued behind it, the rest are told to slow down. Every accepted message then gets its turn.
        answers: list[dict[str, Any]] = []
        async with asyncio.timeout(60):
            while True:
                answer = await flooder.receive()
                if answer["type"] not in ("token", "title", "tool", "tool_result", "status"):
                    answers.append(answer)
                accepted = [a for a in answers if a["type"] in ("queued", "started")]
                limited = [a for a in answers if "slow down" in a.get("message", "")]
                finals = [a for a in answers if a["type"] in ("done", "error") and "seq" in a]
                queued = [a for a in answers if a["type"] == "queued"]
                if len(limited) + len(queued) + 1 >= 1000 and len(finals) == len(queued) + 1:
                    break
        assert len(limited) > 900, "the client is told each time it is limited"
        assert len(limited) + len(queued) + 1 == 1000
        # Its place in the queue when it was queued (turns ahead of it may have ended meanwhile).
        assert all(1 <= a["position"] <= index + 1 for index, a in enumerate(queued))
        assert len([a for a in accepted if a["type"] == "started"]) == len(queued) + 1
        assert all(final["type"] == "done" for final in finals)
        _, record = await bystander_turn
        assert record.final["type"] == "done"
        await asyncio.sleep(1.5)  # the bucket refills: the flooder's connection is still usable
        _, again = await flooder.turn(thread_id, "calm now")
        assert again.final["type"] == "done"
    finally:
        await flooder.close()
        await bystander.close()
    users = [m["content"] for m in auth_stack.messages(thread_id) if m["role"] == "user"]
    # The accepted ones, in the order sent: the first N when the burst is fast, later ones too when
    # the bucket refilled during a slow burst.
    assert users[-1] == "calm now"
    numbers = [int(str(content).removeprefix("spam ")) for content in users[:-1]]
    assert len(numbers) == len(queued) + 1
    assert numbers[0] == 0
    assert numbers == sorted(set(numbers))
    health = httpx.get(f"http://127.0.0.1:{auth_stack.stack.gateway_ports[0]}/health").json()
    assert health["status"] == "ok"
