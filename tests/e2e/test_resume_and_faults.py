"""Reconnects and dying workers: nothing missing, nothing doubled, the thread freed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.chat_client import ChatClient, messages, new_thread
from tests.e2e.conftest import ON_BOTH_DATABASES, OWN_STACK_ON_BOTH_DATABASES, stack_settings
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.e2e


@ON_BOTH_DATABASES
async def test_reconnecting_to_another_gateway_gets_the_rest_exactly_once(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    first = await ChatClient.open(stack.gateway_url(0))
    await first.message(thread_id, "a reply to resume")
    before = await first.until_tokens(6)
    await first.close()  # the tab goes away mid-reply
    # More tokens are published meanwhile: another follower of the turn sees them go by.
    observer = await ChatClient.open(stack.gateway_url(0))
    try:
        await observer.send({"type": "resume", "threadId": thread_id, "afterSeq": before.seqs[-1]})
        await observer.until_tokens(3)
    finally:
        await observer.close()

    second = await ChatClient.open(stack.gateway_url(1))
    try:
        await second.send({"type": "resume", "threadId": thread_id, "afterSeq": before.seqs[-1]})
        after = await second.until_final()
    finally:
        await second.close()
    seqs = before.seqs + after.seqs
    assert seqs == list(range(1, len(seqs) + 1)), "every seq exactly once"
    assert after.final["type"] == "done"
    assert before.text + after.text == messages(stack.api_url, thread_id)[-1]["content"]


async def test_resume_after_the_turn_ended_gets_the_final_event(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    client = await ChatClient.open(stack.gateway_url(0))
    try:
        _, record = await client.turn(thread_id, "quick one")
        await client.send({"type": "resume", "threadId": thread_id, "afterSeq": 3})
        replay = await client.until_final()
    finally:
        await client.close()
    assert replay.seqs == record.seqs[3:]
    assert replay.final == record.final


async def test_resume_with_nothing_running_gets_a_clear_answer(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    client = await ChatClient.open(stack.gateway_url(1))
    try:
        await client.send({"type": "resume", "threadId": thread_id, "afterSeq": 0})
        answer = await client.receive()
    finally:
        await client.close()
    assert answer["type"] == "error"
    assert "No reply is streaming" in answer["message"]


@OWN_STACK_ON_BOTH_DATABASES
async def test_worker_killed_mid_turn_ends_it_as_interrupted_and_frees_the_thread(own_stack: Stack) -> None:
    thread_id = new_thread(own_stack.api_url)
    client = await ChatClient.open(own_stack.gateway_url(0))
    try:
        await client.message(thread_id, "a reply that will be cut")
        record = await client.until_tokens(5)
        own_stack.service("worker").kill()
        # The reapers notice within seconds (how fast is measured by `make bench`, not asserted here).
        record = await client.until_final(record, timeout=30)
    finally:
        await client.close()
    assert (record.final["type"], record.final["code"]) == ("error", "interrupted")
    reply = messages(own_stack.api_url, thread_id)[-1]
    assert reply["status"] == "interrupted"
    assert reply["content"] == record.text, "every token a client saw is stored"

    # The thread is free: with a worker back, the next message runs.
    worker = own_stack.service("worker")
    own_stack.start_service(worker)
    own_stack.wait_healthy()
    client = await ChatClient.open(own_stack.gateway_url(1))
    try:
        _, again = await client.turn(thread_id, "are you back?")
    finally:
        await client.close()
    assert again.final["type"] == "done"


async def test_gateway_killed_mid_reply_and_mid_approval_the_clients_resume_on_the_other(own_stack: Stack) -> None:
    # One kill, two threads: a reply streaming, and a request waiting for a person's answer.
    thread_id = new_thread(own_stack.api_url)
    asking_id = new_thread(own_stack.api_url)
    httpx.patch(f"{own_stack.api_url}/threads/{asking_id}", json={"permissionMode": "default"}).raise_for_status()
    asker = await ChatClient.open(own_stack.gateway_url(0))
    await asker.message(asking_id, "[[touch]] make the file")
    while (request := await asker.receive())["type"] != "approval":
        pass
    client = await ChatClient.open(own_stack.gateway_url(0))
    await client.message(thread_id, "survive the gateway")
    before = await client.until_tokens(4)
    own_stack.service("gateway1").kill()
    other = await ChatClient.open(own_stack.gateway_url(1))
    late = await ChatClient.open(own_stack.gateway_url(1))
    try:
        await other.send({"type": "resume", "threadId": thread_id, "afterSeq": before.seqs[-1]})
        after = await other.until_final()
        # A reload on the other gateway: the request is replayed, still waiting, and answered once.
        await other.send({"type": "resume", "threadId": asking_id, "afterSeq": 0})
        while (replayed := await other.receive())["type"] != "approval":
            pass
        await other.send(
            {"type": "approve", "threadId": asking_id, "requestId": request["requestId"], "decision": "allow"}
        )
        asked = await other.until_final()
        await late.send(
            {"type": "approve", "threadId": asking_id, "requestId": request["requestId"], "decision": "deny"}
        )
        refused = await late.receive()
    finally:
        await asyncio.gather(other.close(), late.close())
    seqs = before.seqs + after.seqs
    assert seqs == list(range(1, len(seqs) + 1))
    assert before.text + after.text == messages(own_stack.api_url, thread_id)[-1]["content"]
    assert replayed == request
    answers = [(e["requestId"], e["decision"]) for e in asked.events if e["type"] == "approval_answered"]
    assert answers == [(request["requestId"], "allow")]
    assert [e["type"] for e in asked.events].count("tool_result") == 1
    assert asked.final["type"] == "done"
    # A second answer changes nothing (the turn has ended by now, so the request is no longer waiting).
    assert (refused["type"], refused["code"]) == ("error", "invalid_message")
    assert refused["message"] == "No request with this id is waiting for an answer in this thread."


@pytest.fixture
def two_worker_stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    """Two workers whose agents ask before a tool (AGENT_PERMISSION_MODE=default)."""
    settings = stack_settings(tmp_path, redis_url, AGENT_PERMISSION_MODE="default")
    with running_stack(workers=2, gateways=1, **settings) as running:
        yield running


async def test_worker_killed_while_an_approval_waits_answers_it_interrupted_and_another_worker_resumes(
    two_worker_stack: Stack,
) -> None:
    stack = two_worker_stack
    thread_id = new_thread(stack.api_url)
    client = await ChatClient.open(stack.gateway_url(0))
    try:
        await client.message(thread_id, "[[touch]] make the file")
        while (request := await client.receive())["type"] != "approval":
            pass
        holder = next(worker for worker in stack.workers() if worker.lines_with(request["turnId"]))
        holder.kill()
        events = []
        while (event := await client.receive(timeout=15))["type"] != "error":
            events.append(event)
        answered = [e for e in events if e["type"] == "approval_answered"]
        _, after = await client.turn(thread_id, "are you still there?")
    finally:
        await client.close()
    assert [(e["requestId"], e["decision"]) for e in answered] == [(request["requestId"], "interrupted")]
    assert event["code"] == "interrupted"
    assert after.final["type"] == "done"
    survivor = next(worker for worker in stack.workers() if worker is not holder)
    assert survivor.lines_with(after.final["turnId"])
    session = messages(stack.api_url, thread_id)
    assert after.final["sessionId"] is not None
    assert [m["status"] for m in session] == ["complete", "interrupted", "complete", "complete"]
