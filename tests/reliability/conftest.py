"""Stacks for the fault tests: one shared for agent faults, own ones for restarts and signals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.chat_client import ChatClient, Event, TurnRecord, messages, new_thread
from tests.e2e.conftest import stack_settings
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="package")
def agent_stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    """One worker, one gateway, SQLite; the agent goes silent for 3 s at most before it is stopped."""
    tmp: Path = tmp_path_factory.mktemp("agent-faults")
    with running_stack(workers=1, gateways=1, **stack_settings(tmp, redis_url, SIMULATOR_DELAY_MS="20")) as stack:
        yield stack


async def read_tokens(client: ChatClient, count: int) -> TurnRecord:
    record = TurnRecord()
    while len(record.tokens) < count:
        event = await client.receive()
        if "turnId" in event and event["type"] != "started":
            record.events.append(event)
    return record


def wait_until(condition: object, timeout: float, what: str) -> float:
    """Poll ``condition()`` until true; returns the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            if condition():  # type: ignore[operator]
                return time.monotonic() - started
        except (httpx.HTTPError, OSError):
            pass
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.2)


def assert_turn_kept(stack: Stack, thread_id: str, prompt: str, record: TurnRecord) -> Event:
    """The invariants every fault must keep: user message stored, reply final with the streamed text."""
    stored = messages(stack.api_url, thread_id)
    users = [m for m in stored if m["role"] == "user" and m["content"] == prompt]
    assert len(users) == 1, f"the user message is stored once: {[m['content'][:40] for m in stored]}"
    reply = stored[stored.index(users[0]) + 1]
    assert reply["role"] == "assistant"
    assert reply["status"] == stored_status(record.final), (reply["status"], record.final)
    assert reply["content"] == record.text, "every token that reached the client is stored, nothing else"
    return reply


def stored_status(final: Event) -> str:
    """The status a reply is stored with, by the end its client heard."""
    if final["type"] == "done":
        return "complete"
    return str(final["code"]) if final["code"] in ("cancelled", "interrupted") else "error"


async def assert_thread_usable(stack: Stack, thread_id: str, gateway: int = 0) -> None:
    client = await ChatClient.open(stack.gateway_url(gateway))
    try:
        _, record = await client.turn(thread_id, "are you still there?")
    finally:
        await client.close()
    assert record.final["type"] == "done", record.final
    assert record.text.startswith("You said: are you still there?")


async def one_turn(stack: Stack, prompt: str, timeout: float = 60) -> tuple[str, TurnRecord]:
    thread_id = new_thread(stack.api_url)
    client = await ChatClient.open(stack.gateway_url(), max_size=None)
    try:
        started = await client.message(thread_id, prompt)
        assert started["type"] == "started", started
        record = await client.until_final(timeout=timeout)
    finally:
        await client.close()
    return thread_id, record
