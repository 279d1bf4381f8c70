"""The chat protocol end to end: three services as processes, real Redis, a real database."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sandchat.database import Database
from sqlalchemy import text

from tests.e2e.chat_client import ChatClient, messages, new_thread, one_turn, thread, turns
from tests.e2e.conftest import ON_BOTH_DATABASES, stack_settings
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.e2e


async def _full_flow(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    client = await ChatClient.open(stack.gateway_url())
    try:
        await client.send({"type": "message", "threadId": thread_id, "content": "Explain the parser, please"})
        started = await client.receive()
        assert started["type"] == "started"
        assert started["threadId"] == thread_id
        title = await client.receive()
        assert title == {"type": "title", "threadId": thread_id, "title": "Explain the parser, please"}
        record = await client.until_final()
    finally:
        await client.close()

    assert record.final["type"] == "done"
    assert record.seqs == list(range(1, len(record.seqs) + 1)), "seq strictly increasing from 1"
    assert record.text.startswith("You said: Explain the parser, please")
    assert record.final["messageId"] == started["messageId"]
    assert record.final["sessionId"]
    assert isinstance(record.final["costUsd"], float)

    stored = messages(stack.api_url, thread_id)
    assert [(m["role"], m["status"]) for m in stored] == [("user", "complete"), ("assistant", "complete")]
    assert stored[0]["id"] == started["userMessageId"]
    assert stored[0]["content"] == "Explain the parser, please"
    assert stored[1]["content"] == record.text
    assert thread(stack.api_url, thread_id)["claudeSessionId"] == record.final["sessionId"]


@ON_BOTH_DATABASES
async def test_a_message_streams_tokens_then_done_and_both_messages_are_stored(stack: Stack) -> None:
    await _full_flow(stack)


async def test_second_message_resumes_the_agent_session_of_the_first(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    first, second = await turns(stack.gateway_url(), thread_id, "remember the number 7", "which number?")
    # The simulator keeps a session only when the worker passed --resume=<id>; a fresh run gets a new id.
    assert first.final["sessionId"] == second.final["sessionId"]
    assert second.text.startswith("You said: which number?")
    assert [m["role"] for m in messages(stack.api_url, thread_id)] == ["user", "assistant", "user", "assistant"]


async def test_a_session_the_agent_no_longer_has_falls_back_to_a_new_one(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    stale = str(uuid.uuid4())
    database = Database(stack.env["DATABASE_URL"])
    async with database.transaction() as session:
        await session.execute(
            text("UPDATE thread SET claude_session_id = :sid WHERE id = :tid"), {"sid": stale, "tid": thread_id}
        )
    await database.close()
    [record] = await turns(stack.gateway_url(), thread_id, "hello again")
    assert record.final["type"] == "done"
    assert record.final["sessionId"] not in (None, stale)
    assert record.text.startswith("You said: hello again")
    assert thread(stack.api_url, thread_id)["claudeSessionId"] == record.final["sessionId"]


async def test_a_prompt_that_looks_like_a_flag_is_text_to_the_agent(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    record, shell = await turns(stack.gateway_url(), thread_id, "--help", "-rf / ; $(id) `whoami`\nsecond line ✓")
    assert record.text.startswith("You said: --help")
    assert shell.text.startswith("You said: -rf / ; $(id) `whoami`\nsecond line ✓")


async def test_a_message_sent_while_a_reply_streams_is_queued_from_any_gateway_and_runs_next(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    first = await ChatClient.open(stack.gateway_url(0))
    other = await ChatClient.open(stack.gateway_url(1))
    try:
        started = await first.message(thread_id, "a long answer please")
        assert started["type"] == "started"
        await other.send({"type": "message", "threadId": thread_id, "content": "me too"})
        # (It may first hear the running turn's `started`: it watches the thread from now on.)
        while (queued := await other.receive())["type"] != "queued":
            assert queued["type"] in ("started", "title", "token"), queued
        assert queued["position"] == 1
        assert (await first.until_final()).final["type"] == "done"
        # The queued message becomes the next turn; both connections watch the thread and see it start.
        for client in (first, other):
            while (event := await client.receive())["type"] != "started":
                pass
            assert event["userMessageId"] == queued["messageId"]
        assert (await other.until_final()).final["type"] == "done"
    finally:
        await first.close()
        await other.close()
    stored = messages(stack.api_url, thread_id)
    assert [(m["role"], m["content"][:8]) for m in stored] == [
        ("user", "a long a"),
        ("assistant", "You said"),
        ("user", "me too"),
        ("assistant", "You said"),
    ]


@ON_BOTH_DATABASES
async def test_cancel_from_another_gateway_stops_the_turn_and_keeps_the_text(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    client = await ChatClient.open(stack.gateway_url(0))
    canceller = await ChatClient.open(stack.gateway_url(1))
    try:
        await client.message(thread_id, "write a lot")
        record = await client.until_tokens(5)
        await canceller.send({"type": "cancel", "threadId": thread_id})
        record = await client.until_final(record, timeout=5)
    finally:
        await client.close()
        await canceller.close()
    assert record.final["type"] == "error"
    assert record.final["code"] == "cancelled"
    assert len(record.tokens) < 40
    reply = messages(stack.api_url, thread_id)[-1]
    assert reply["status"] == "cancelled"
    assert reply["content"] == record.text


async def test_an_agent_that_goes_silent_is_stopped_with_a_timeout(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    _, record = await one_turn(stack.gateway_url(), thread_id, "[[hang]] think forever")
    assert record.final["type"] == "error"
    assert record.final["code"] == "timeout"
    reply = messages(stack.api_url, thread_id)[-1]
    assert reply["status"] == "error"
    assert reply["content"] == record.text
    assert reply["content"].startswith("You said")


async def test_agent_failure_keeps_the_partial_reply_with_an_error(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    _, record = await one_turn(stack.gateway_url(), thread_id, "[[die]] crash halfway")
    assert (record.final["type"], record.final["code"]) == ("error", "agent_error")
    reply = messages(stack.api_url, thread_id)[-1]
    assert (reply["status"], reply["content"]) == ("error", record.text)
    assert reply["error"]


async def test_tool_calls_are_relayed_and_stored(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    _, record = await one_turn(stack.gateway_url(), thread_id, "[[tool]] list files")
    kinds = [event["type"] for event in record.events]
    assert "tool" in kinds
    assert "tool_result" in kinds
    tool = next(event for event in record.events if event["type"] == "tool")
    result = next(event for event in record.events if event["type"] == "tool_result")
    assert tool["name"] == "Bash"
    assert result["toolUseId"] == tool["toolUseId"]
    stored_tools = messages(stack.api_url, thread_id)[-1]["meta"]["tools"]
    assert stored_tools[0]["name"] == "Bash"
    assert stored_tools[0]["output"] == result["output"]


@ON_BOTH_DATABASES
async def test_fifty_concurrent_chats_over_two_workers_and_two_gateways_do_not_cross(stack: Stack) -> None:
    # The threads first: `new_thread` is a blocking call, and fifty of them inside the chats would stall
    # this event loop while the other chats' WebSocket handshakes wait out their timeout.
    thread_ids = [new_thread(stack.api_url) for _ in range(50)]

    async def chat(index: int) -> tuple[str, str, str]:
        prompt = f"chat number {index} unique-{index * 7919}"
        _, record = await one_turn(stack.gateway_url(index % 2), thread_ids[index], prompt)
        return thread_ids[index], prompt, record.text

    results = await asyncio.gather(*(chat(index) for index in range(50)))
    for thread_id, prompt, text_received in results:
        assert text_received.startswith(f"You said: {prompt}\n")
        assert messages(stack.api_url, thread_id)[-1]["content"] == text_received
    assert all(worker.lines_with("ended: done") for worker in stack.workers()), "both workers ran turns"


async def test_thirty_chats_spread_over_three_workers_and_two_gateways(tmp_path: Path, redis_url: str) -> None:
    """The native twin of `docker compose up --scale worker=3 --scale gateway=2`."""
    # Ten turns per worker at most, so thirty at once must use all three.
    settings = stack_settings(tmp_path, redis_url, SIMULATOR_DELAY_MS="40", SIMULATOR_TOKENS="25", WORKER_MAX_JOBS="10")
    with running_stack(workers=3, gateways=2, **settings) as stack:
        thread_ids = [new_thread(stack.api_url) for _ in range(30)]  # blocking calls: before the chats

        async def chat(index: int) -> str:
            _, record = await one_turn(stack.gateway_url(index % 2), thread_ids[index], f"spread {index}")
            assert record.final["type"] == "done"
            return record.text

        texts = await asyncio.gather(*(chat(index) for index in range(30)))
        # Each worker logs a turn's end just after publishing it: give the log pipes a moment.
        for _ in range(50):
            ran = {worker.name: len(worker.lines_with("ended: done", timeout=0)) for worker in stack.workers()}
            if sum(ran.values()) >= 30:
                break
            await asyncio.sleep(0.1)
    assert all(text.startswith(f"You said: spread {index}\n") for index, text in enumerate(texts))
    assert sum(ran.values()) == 30
    assert all(count > 0 for count in ran.values()), f"every worker ran some turns: {ran}"
