"""Hypothesis against the gateway's request handling, in process, on SQLite and PostgreSQL.

Frames of every class a hostile client can send (NUL and control bytes in every string field,
integers past 64 bits, JSON nested 30,000 deep, megabyte ids, every request type and none): each
gets at most one error, a known one in one short sentence, and the connection still answers.
(`test_fuzz_gateway.py` does the same over real WebSockets against a gateway process.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandchat.database import Database
from sandchat.redis_keys import RedisKeys
from sandchat.turns import queue

from tests.gateway.in_process import InProcessGateway, running_gateway
from tests.security.api_server import database_of
from tests.security.hostile_input import big_integers, deep_json, hostile_text, json_values, one_sentence
from tests.turns.conftest import new_thread

T = TypeVar("T")
# Every server event of the protocol (a fuzzed frame may be a valid message, watch or approve).
KNOWN_EVENTS = {
    "started",
    "token",
    "tool",
    "tool_result",
    "status",
    "title",
    "done",
    "error",
    "queued",
    "unqueued",
    "watching",
    "approval",
    "approval_answered",
}
NOTHING_TO_RESUME = "No reply is streaming in this thread, and none ended recently."
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


class LoopThread:
    """An event loop in a thread: the gateway lives there, hypothesis drives it from the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="gateway-loop")
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class FuzzedGateway:
    def __init__(self, gateway: InProcessGateway, thread_id: str, probe_id: str) -> None:
        self.gateway = gateway
        self.thread_id = thread_id
        self.probe_id = probe_id


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[tuple[LoopThread, FuzzedGateway]]:
    admin = request.getfixturevalue("postgres_admin_url") if request.param == "postgresql" else None
    keys = RedisKeys(f"sandchat-fuzz-chat-{request.param}")
    with database_of(request.param, tmp_path_factory.mktemp("chat-fuzz"), admin) as database_url:
        loop = LoopThread()
        stack = contextlib.AsyncExitStack()

        async def start() -> FuzzedGateway:
            database = Database(database_url)
            stack.push_async_callback(database.close)
            redis = queue.connect(redis_url)
            stack.push_async_callback(redis.aclose)
            gateway = await stack.enter_async_context(
                running_gateway(redis, database, keys, lost_job_grace_s=30, reap_every_s=1)
            )
            return FuzzedGateway(gateway, await new_thread(database), await new_thread(database))

        async def stop() -> None:
            redis = queue.connect(redis_url)
            keys_left = [key async for key in redis.scan_iter(match=f"{keys.namespace}:*")]
            if keys_left:
                await redis.delete(*keys_left)
            await redis.aclose()
            await stack.aclose()

        try:
            yield loop, loop.run(start())
        finally:
            loop.run(stop())
            loop.close()


field_values = st.one_of(json_values, st.just("THREAD"), hostile_text, big_integers, st.just("t" * 1_000_000))
requests = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "cancel", "resume", "MESSAGE", "", "ping", "done", "x" * 10_000])},
    optional={"threadId": field_values, "content": field_values, "afterSeq": field_values, "extra": field_values},
)


@st.composite
def frames(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["request", "request", "json", "deep", "text"]))
    if kind == "request":
        return json.dumps(draw(requests))
    if kind == "json":
        return json.dumps(draw(json_values))
    if kind == "deep":
        return '{"type": "message", "threadId": "THREAD", "content": "hi", "extra": ' + draw(deep_json) + "}"
    return draw(hostile_text)


async def _exchange(fuzzed: FuzzedGateway, frame: str) -> list[dict[str, Any]]:
    """Send the frame, then a probe resume; everything received until the probe's answer."""
    client = fuzzed.gateway.client()
    try:
        await client.send(frame.replace("THREAD", fuzzed.thread_id))
        await client.send({"type": "resume", "threadId": fuzzed.probe_id, "afterSeq": 0})
        received: list[dict[str, Any]] = []
        while True:
            event = await client.receive(timeout=30)
            if event.get("threadId") == fuzzed.probe_id and event.get("message") == NOTHING_TO_RESUME:
                return received
            received.append(event)
    finally:
        await client.close()


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # a failing example's repr is long
@FUZZ
@given(frame=frames())
def test_any_frame_gets_at_most_one_known_error_in_one_sentence_and_the_connection_answers_on(
    fuzzed: tuple[LoopThread, FuzzedGateway], frame: str
) -> None:
    loop, gateway = fuzzed
    received = loop.run(_exchange(gateway, frame))
    errors = [event for event in received if event["type"] == "error"]
    assert len(errors) <= 1, received
    assert all(event["type"] in KNOWN_EVENTS for event in received), received
    for error in errors:
        # With Redis and the database healthy, no input may be answered as a failure of the service.
        assert error["code"] != "agent_error", error
        assert one_sentence(error["message"], limit=250), error
        assert error.get("threadId") is None or len(error["threadId"]) <= 64, "ids are never echoed long"
