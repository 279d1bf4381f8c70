"""Retry and edit through the stack (simulator): a failed reply run again, a past message edited
into a new thread whose agent session forks the origin's where that message was sent."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.chat_client import ChatClient, messages, new_thread, one_turn, thread
from tests.stack import Stack

pytestmark = pytest.mark.e2e


async def test_a_failed_reply_is_retried_and_the_message_runs_again(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    client = await ChatClient.open(stack.gateway_url())
    try:
        started, failed = await client.turn(thread_id, "[[fail-once]] deploy the site")
        assert (failed.final["type"], failed.final["code"]) == ("error", "agent_error")

        await client.send({"type": "retry", "threadId": thread_id, "clientMessageId": "r1"})
        again = await client.receive()
        assert again["type"] == "started", again
        assert (again["userMessageId"], again["clientMessageId"]) == (started["userMessageId"], "r1")
        assert again["messageId"] != started["messageId"]
        record = await client.until_final()
        assert record.final["type"] == "done"
        assert record.text.startswith("You said: [[fail-once]] deploy the site")

        # The last reply ended well: nothing to retry.
        await client.send({"type": "retry", "threadId": thread_id})
        refused = await client.receive()
        assert (refused["type"], refused["code"]) == ("error", "invalid_message")
        assert refused["message"].startswith("Nothing to retry")
    finally:
        await client.close()
    stored = messages(stack.api_url, thread_id)
    assert [(m["role"], m["status"]) for m in stored] == [
        ("user", "complete"),
        ("assistant", "error"),
        ("assistant", "complete"),
    ]
    assert stored[2]["id"] == record.final["messageId"]


async def test_a_stopped_reply_is_retried(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    client = await ChatClient.open(stack.gateway_url())
    try:
        await client.message(thread_id, "[[slow]] tell me a long story")
        await client.until_tokens(2)
        await client.send({"type": "cancel", "threadId": thread_id})
        stopped = await client.until_final()
        assert stopped.final["code"] == "cancelled"
        await client.send({"type": "retry", "threadId": thread_id})
        assert (await client.receive())["type"] == "started"
        await client.send({"type": "retry", "threadId": thread_id})
        busy = await client.receive()
        while busy["type"] != "error":  # the running retry's own events
            busy = await client.receive()
        assert (busy["code"], "turnId" in busy) == ("thread_busy", False)
        await client.send({"type": "cancel", "threadId": thread_id})
        assert (await client.until_final()).final["code"] == "cancelled"
    finally:
        await client.close()
    assert [m["status"] for m in messages(stack.api_url, thread_id)] == ["complete", "cancelled", "cancelled"]


async def test_an_edited_message_is_a_new_thread_whose_agent_remembers_only_what_came_before(stack: Stack) -> None:
    origin = new_thread(stack.api_url, "Birds")
    client = await ChatClient.open(stack.gateway_url())
    try:
        _, first = await client.turn(origin, "alpha")
        second_started, _ = await client.turn(origin, "beta")
        before = messages(stack.api_url, origin)

        response = httpx.post(
            f"{stack.api_url}/threads/{origin}/fork", json={"messageId": second_started["userMessageId"]}
        )
        assert response.status_code == 201, response.text
        fork = response.json()["thread"]
        assert fork["forkedFrom"] == {"threadId": origin, "messageId": second_started["userMessageId"]}
        assert fork["title"] == "Birds"
        assert [(m["role"], m["content"]) for m in messages(stack.api_url, fork["id"])] == [
            (m["role"], m["content"]) for m in before[:2]
        ]

        _, edited = await client.turn(fork["id"], "gamma [[history]]")
        assert "Earlier in this session: alpha." in edited.text
        assert edited.final["sessionId"] != first.final["sessionId"]
        assert thread(stack.api_url, fork["id"])["claudeSessionId"] == edited.final["sessionId"]

        # A copied message edited again, in the fork: its agent starts from the first turn too.
        copied = messages(stack.api_url, fork["id"])[0]
        again = httpx.post(f"{stack.api_url}/threads/{fork['id']}/fork", json={"messageId": copied["id"]})
        assert again.status_code == 201, again.text
        assert messages(stack.api_url, again.json()["thread"]["id"]) == []
        second_fork = httpx.post(
            f"{stack.api_url}/threads/{fork['id']}/fork",
            json={"messageId": messages(stack.api_url, fork["id"])[2]["id"]},
        ).json()["thread"]
        _, deeper = await client.turn(second_fork["id"], "delta [[history]]")
        assert "Earlier in this session: alpha." in deeper.text

        # The origin is unchanged: its messages, its session and what its agent remembers.
        assert messages(stack.api_url, origin) == before
        _, later = await client.turn(origin, "[[history]]")
        assert "Earlier in this session: alpha | beta." in later.text
        assert later.final["sessionId"] == first.final["sessionId"]
    finally:
        await client.close()


async def test_only_a_message_the_user_sent_in_that_thread_can_be_edited(stack: Stack) -> None:
    thread_id = new_thread(stack.api_url)
    started, _ = await one_turn(stack.gateway_url(), thread_id, "hello")
    other = new_thread(stack.api_url)
    cases = [
        (thread_id, started["messageId"], 400),  # the assistant's reply
        (other, started["userMessageId"], 400),  # a message of another thread
        (thread_id, "not-an-id", 400),
        ("00000000-0000-4000-8000-000000000000", started["userMessageId"], 404),
    ]
    for thread_of, message_id, status in cases:
        response = httpx.post(f"{stack.api_url}/threads/{thread_of}/fork", json={"messageId": message_id})
        assert response.status_code == status, (thread_of, message_id, response.text)
        assert set(response.json()) == {"detail"}
