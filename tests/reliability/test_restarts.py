"""Redis and PostgreSQL restarted under a running stack, and a worker stopped with SIGTERM mid-turn.

Every service must reconnect by itself: nothing is restarted but the backend under test.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.chat_client import ChatClient, TurnRecord, new_thread
from tests.e2e.conftest import stack_settings
from tests.reliability.conftest import assert_thread_usable, assert_turn_kept, read_tokens, wait_until
from tests.reliability.restartable import (
    RestartablePostgres,
    RestartableRedis,
    restartable_postgres,
    restartable_redis,
)
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

DATABASE_UNAVAILABLE = "The database is unavailable; try again in a moment."


def _healthy(stack: Stack) -> bool:
    return httpx.get(f"{stack.api_url}/health", timeout=5).status_code == 200


@dataclass(frozen=True)
class _UnderWay:
    thread_id: str
    prompt: str
    client: ChatClient
    # The turn's first tokens, as the client heard them.
    so_far: TurnRecord


@asynccontextmanager
async def _turn_under_way(stack: Stack, prompt: str, tokens: int) -> AsyncIterator[_UnderWay]:
    """A new thread with a turn that has streamed its first ``tokens`` tokens, and the connection
    following it (closed at the end): a turn for a fault to strike mid-reply."""
    thread_id = new_thread(stack.api_url)
    client = await ChatClient.open(stack.gateway_url())
    try:
        assert (await client.message(thread_id, prompt))["type"] == "started"
        yield _UnderWay(thread_id, prompt, client, await read_tokens(client, tokens))
    finally:
        await client.close()


@pytest.fixture
def redis_server() -> Iterator[RestartableRedis]:
    with restartable_redis() as redis:
        yield redis


@pytest.fixture
def redis_stack(tmp_path: Path, redis_server: RestartableRedis) -> Iterator[Stack]:
    with running_stack(workers=1, gateways=1, **stack_settings(tmp_path, redis_server.url)) as stack:
        yield stack


async def test_redis_restarted_mid_turn_the_turn_ends_cleanly_and_everything_reconnects(
    redis_stack: Stack, redis_server: RestartableRedis
) -> None:
    async with _turn_under_way(redis_stack, "a reply across a Redis restart", 5) as turn:
        redis_server.stop()
        # Redis stays away until the worker found it gone: its next publish failed, and so did ending
        # the turn, which it leaves to the reapers.
        worker = redis_stack.service("worker")
        assert worker.lines_with("Redis unavailable; a reaper will end it", timeout=30), worker.log[-20:]
        redis_server.start()
        record = await turn.client.until_final(turn.so_far, timeout=30)
    assert (record.final["type"], record.final["code"]) == ("error", "interrupted"), record.final
    wait_until(lambda: _healthy(redis_stack), 15, "the API's /health after the Redis restart")
    assert_turn_kept(redis_stack, turn.thread_id, turn.prompt, record)
    await assert_thread_usable(redis_stack, turn.thread_id)
    await assert_thread_usable(redis_stack, new_thread(redis_stack.api_url))


async def test_redis_down_between_turns_a_message_gets_a_clear_error_then_works_again(
    redis_stack: Stack, redis_server: RestartableRedis
) -> None:
    thread_id = new_thread(redis_stack.api_url)
    client = await ChatClient.open(redis_stack.gateway_url())
    try:
        redis_server.stop()
        health = httpx.get(f"{redis_stack.api_url}/health", timeout=10)
        assert (health.status_code, health.json()["redis"]) == (503, "unreachable")
        refused = await client.message(thread_id, "while Redis is away")
        assert refused["type"] == "error"
        assert "Redis" in refused["message"]
        redis_server.start()
        wait_until(lambda: _healthy(redis_stack), 15, "the API's /health after Redis came back")
    finally:
        await client.close()
    await assert_thread_usable(redis_stack, thread_id)


@pytest.fixture
def postgres_server() -> Iterator[RestartablePostgres]:
    with restartable_postgres() as postgres:
        yield postgres


@pytest.fixture
def postgres_stack(tmp_path: Path, redis_url: str, postgres_server: RestartablePostgres) -> Iterator[Stack]:
    settings = stack_settings(tmp_path, redis_url, DATABASE_URL=postgres_server.url)
    with running_stack(workers=1, gateways=1, **settings) as stack:
        yield stack


async def test_postgres_restarted_the_api_answers_503_then_recovers_by_itself(
    postgres_stack: Stack, postgres_server: RestartablePostgres
) -> None:
    thread_id = new_thread(postgres_stack.api_url)
    postgres_server.stop()
    try:
        for method, path in (("GET", "/threads"), ("POST", "/threads"), ("GET", f"/threads/{thread_id}/messages")):
            response = httpx.request(method, f"{postgres_stack.api_url}{path}", json={}, timeout=15)
            assert response.status_code == 503, (method, path, response.status_code)
            assert response.json() == {"detail": DATABASE_UNAVAILABLE}
        health = httpx.get(f"{postgres_stack.api_url}/health", timeout=15)
        assert (health.status_code, health.json()["database"]) == (503, "unreachable")
        client = await ChatClient.open(postgres_stack.gateway_url())
        try:
            refused = await client.message(thread_id, "while the database is away")
        finally:
            await client.close()
        assert refused["type"] == "error"
        assert "database" in refused["message"]
    finally:
        postgres_server.start()
    wait_until(lambda: httpx.get(f"{postgres_stack.api_url}/threads").status_code == 200, 15, "/threads after restart")
    assert _healthy(postgres_stack)
    await assert_thread_usable(postgres_stack, thread_id)


async def test_postgres_restarted_mid_turn_the_reply_still_ends_final_and_stored(
    postgres_stack: Stack, postgres_server: RestartablePostgres
) -> None:
    async with _turn_under_way(postgres_stack, "a reply across a database restart", 3) as turn:
        postgres_server.stop()
        try:
            # The end is heard while the database is away.
            record = await turn.client.until_final(turn.so_far, timeout=30)
        finally:
            postgres_server.start()
    wait_until(lambda: httpx.get(f"{postgres_stack.api_url}/threads").status_code == 200, 15, "/threads after restart")

    def stored_final() -> bool:
        reply = httpx.get(f"{postgres_stack.api_url}/threads/{turn.thread_id}/messages").json()["messages"][-1]
        return bool(reply["status"] != "streaming")

    wait_until(stored_final, 15, "the reply's final status stored once the database is back")
    assert_turn_kept(postgres_stack, turn.thread_id, turn.prompt, record)
    await assert_thread_usable(postgres_stack, turn.thread_id)


async def test_worker_sigterm_mid_turn_finishes_the_turn_then_exits(tmp_path: Path, redis_url: str) -> None:
    """Graceful: arq stops taking jobs and lets running turns finish (20 s grace); queued ones wait."""
    with running_stack(workers=1, gateways=1, **stack_settings(tmp_path, redis_url)) as stack:
        worker = stack.service("worker")
        waiting_thread = new_thread(stack.api_url)
        other = await ChatClient.open(stack.gateway_url())
        try:
            async with _turn_under_way(stack, "finish me before you go", 5) as turn:
                worker.signal(signal.SIGTERM)
                assert worker.lines_with("SIGTERM: taking no new turns", timeout=10), worker.log[-20:]
                assert (await other.message(waiting_thread, "queued while the worker drains"))["type"] == "started"
                record = await turn.client.until_final(turn.so_far, timeout=25)
            assert record.final["type"] == "done", record.final
            assert worker.process is not None
            assert worker.process.wait(25) == 0
            assert_turn_kept(stack, turn.thread_id, turn.prompt, record)
            # The turn queued meanwhile was left in the queue, not taken and dropped: a new worker runs it.
            stack.start_service(worker)
            waited = await other.until_final(timeout=30)
            assert waited.final["type"] == "done", waited.final
        finally:
            await other.close()
        await assert_thread_usable(stack, turn.thread_id)
