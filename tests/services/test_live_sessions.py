"""Live sessions through the gateway and a worker: approvals from any tab, a stop that keeps the agent.

The agent is the simulator with the thread's permission mode set to `default` (it asks before a
tool); the gateway and the worker run in this process against real Redis and a real database.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sandchat import threads
from sandchat.database import Database
from sandchat.models import Thread
from sqlalchemy import select

from tests.e2e.chat_client import ChatClient, Event
from tests.gateway.in_process import eventually
from tests.services.conftest import OpenClient, Services, watch
from tests.turns.conftest import new_thread


async def asking_thread(database: Database) -> str:
    thread_id = await new_thread(database)
    async with database.transaction() as session:
        await threads.update_thread(session, thread_id, permission_mode="default")
    return thread_id


async def until(client: ChatClient, kind: str, seen: list[Event] | None = None) -> Event:
    """Read events until one of ``kind`` (keeping them all in ``seen``)."""
    while True:
        event = await client.receive()
        if seen is not None:
            seen.append(event)
        if event["type"] == kind:
            return event


def approve(thread_id: str, request: Event, decision: str, **answer: object) -> Event:
    """A tab's answer to an approval request: its decision, and what else it says (a message, answers)."""
    return {"type": "approve", "threadId": thread_id, "requestId": request["requestId"], "decision": decision, **answer}


@dataclass
class Asked:
    """A turn that waits for a person: the tab's message made the agent ask before running ``touch``."""

    thread_id: str
    client: ChatClient
    started: Event
    request: Event

    async def answer(self, decision: str, **answer: object) -> None:
        """Answer the request from the tab that asked."""
        await self.client.send(approve(self.thread_id, self.request, decision, **answer))


async def ask(database: Database, open_client: OpenClient) -> Asked:
    """A new asking thread, a tab on it, and the approval request its ``[[touch]]`` message raised."""
    thread_id = await asking_thread(database)
    client = await open_client()
    started = await client.message(thread_id, "[[touch]] make the file")
    return Asked(thread_id, client, started, await until(client, "approval"))


async def test_an_approved_tool_runs_and_every_follower_sees_the_answer(
    database: Database, open_client: OpenClient
) -> None:
    thread_id = await asking_thread(database)
    asker = await open_client()
    other_tab = await open_client()
    assert (await watch(other_tab, thread_id))["type"] == "watching"
    await asker.message(thread_id, "[[touch]] make the file")
    request = await until(asker, "approval")
    assert await until(other_tab, "approval") == request
    await other_tab.send(approve(thread_id, request, "allow"))
    seen: list[Event] = []
    answered = await until(asker, "approval_answered", seen)
    final = await until(asker, "done", seen)
    assert await until(other_tab, "approval_answered") == answered
    assert (request["tool"], request["input"]["command"]) == ("Bash", "touch touched.txt")
    assert request["suggestions"]
    assert answered["decision"] == "allow"
    assert answered["seq"] == request["seq"] + 1
    result = next(event for event in seen if event["type"] == "tool_result")
    assert not result["isError"]
    assert final["type"] == "done"


async def test_two_tabs_answering_at_once_give_one_decision(database: Database, open_client: OpenClient) -> None:
    thread_id = await asking_thread(database)
    tabs = [await open_client() for _ in range(2)]
    assert (await watch(tabs[1], thread_id))["type"] == "watching"
    await tabs[0].message(thread_id, "[[touch]] make the file")
    request = await until(tabs[0], "approval")
    await until(tabs[1], "approval")
    decisions = ("deny", "allow")
    for tab, decision in zip(tabs, decisions, strict=True):
        await tab.send(approve(thread_id, request, decision))
    seen: list[list[Event]] = [[], []]
    finals = [await until(tab, "done", events) for tab, events in zip(tabs, seen, strict=True)]
    answers = [[event for event in events if event["type"] == "approval_answered"] for events in seen]
    refused = [any(event.get("message") == "This request was already answered." for event in e) for e in seen]
    assert answers[0] == answers[1]
    assert len(answers[0]) == 1
    assert refused.count(True) == 1  # the other answer lost, and its tab was told so
    assert answers[0][0]["decision"] == decisions[refused.index(False)]
    assert finals[0] == finals[1]


async def test_a_late_answer_is_told_the_request_was_answered(database: Database, open_client: OpenClient) -> None:
    asked = await ask(database, open_client)
    await asked.answer("deny", message="not that file")
    await until(asked.client, "approval_answered")
    await asked.answer("allow")
    late = await until(asked.client, "error")
    await until(asked.client, "done")
    assert (late["code"], late["message"]) == ("invalid_message", "This request was already answered.")


async def test_a_denied_tool_does_not_run_and_the_agent_reads_the_reason(
    database: Database, open_client: OpenClient
) -> None:
    asked = await ask(database, open_client)
    await asked.answer("deny", message="Not in this folder.")
    seen: list[Event] = []
    await until(asked.client, "done", seen)
    result = next(event for event in seen if event["type"] == "tool_result")
    assert result["isError"]
    assert "Not in this folder." in result["output"]


async def test_stop_while_the_agent_waits_cancels_the_request_and_keeps_the_agent(
    services: Services, database: Database, open_client: OpenClient
) -> None:
    asked = await ask(database, open_client)
    thread_id, client = asked.thread_id, asked.client
    agent = services.context.pool.get(thread_id)
    assert agent is not None
    pid = agent.pid
    await client.send({"type": "cancel", "threadId": thread_id})
    answered = await until(client, "approval_answered")
    stopped = await until(client, "error")
    _, next_turn = await client.turn(thread_id, "carry on")
    assert answered["decision"] == "cancelled"
    assert (stopped["code"], stopped["message"]) == ("cancelled", "Stopped.")
    assert next_turn.final["type"] == "done"
    async with database.reading() as session:
        stored = await threads.get_message(session, asked.started["messageId"])
        thread = await threads.get_thread(session, thread_id)
    assert stored is not None
    assert stored.status == "cancelled"
    assert thread is not None
    assert next_turn.final["sessionId"] == thread.claude_session_id
    live = services.context.pool.get(thread_id)
    assert live is not None
    assert live.pid == pid  # the same process answered the next message


async def test_allow_always_holds_for_the_thread_and_is_not_asked_again(
    database: Database, open_client: OpenClient
) -> None:
    asked = await ask(database, open_client)
    await asked.answer("allow_always")
    assert (await until(asked.client, "approval_answered"))["decision"] == "allow_always"
    await until(asked.client, "done")
    seen: list[Event] = []
    await asked.client.message(asked.thread_id, "[[touch]] again please")
    await until(asked.client, "done", seen)
    assert [event["type"] for event in seen].count("approval") == 0
    async with database.reading() as session:
        thread = await threads.get_thread(session, asked.thread_id)
    assert thread is not None
    assert thread.allowed_tools == [{"toolName": "Bash", "ruleContent": "touch touched.txt"}]


@contextlib.asynccontextmanager
async def thread_row_held(database: Database, thread_id: str) -> AsyncIterator[None]:
    """Hold back every write of the thread's row: PostgreSQL locks the row, SQLite the whole database
    (its writers begin IMMEDIATE)."""
    async with database.transaction() as session:
        await session.execute(select(Thread.id).where(Thread.id == thread_id).with_for_update())
        yield


async def test_an_answer_still_being_stored_when_the_agent_finishes_is_announced_before_the_end(
    services: Services, database: Database, open_client: OpenClient
) -> None:
    asked = await ask(database, open_client)
    running = services.context.running[asked.started["turnId"]]
    async with thread_row_held(database, asked.thread_id):
        # The agent has its answer and finishes while the rule it was granted waits to be stored.
        await asked.answer("allow_always")

        async def agent_finished() -> bool:
            return running.agent is None

        await eventually(agent_finished, 15, "the agent's end")
    seen: list[Event] = []
    await until(asked.client, "done", seen)
    numbered = [event for event in seen if "seq" in event]
    assert [event["seq"] for event in numbered] == sorted({event["seq"] for event in numbered})
    assert [event["type"] for event in numbered][-2:] == ["approval_answered", "done"]
    async with database.reading() as session:
        thread = await threads.get_thread(session, asked.thread_id)
    assert thread is not None
    assert thread.allowed_tools == [{"toolName": "Bash", "ruleContent": "touch touched.txt"}]


async def test_a_question_is_answered_with_the_chosen_option(database: Database, open_client: OpenClient) -> None:
    thread_id = await new_thread(database)  # AskUserQuestion asks in every mode
    client = await open_client()
    await client.message(thread_id, "[[ask]] pick a colour")
    request = await until(client, "approval")
    question = request["input"]["questions"][0]["question"]
    await client.send(approve(thread_id, request, "allow", answers={question: "Green"}))
    seen: list[Event] = []
    await until(client, "done", seen)
    assert request["tool"] == "AskUserQuestion"
    result = next(event for event in seen if event["type"] == "tool_result")
    assert '="Green"' in result["output"]


class TestUnansweredRequests:
    @pytest.fixture
    def service_settings(self) -> dict[str, object]:
        return {"approval_timeout_s": 0.5}

    async def test_a_request_nobody_answers_expires_and_the_agent_is_told_no(
        self, database: Database, open_client: OpenClient
    ) -> None:
        asked = await ask(database, open_client)
        answered = await until(asked.client, "approval_answered")
        seen: list[Event] = []
        await until(asked.client, "done", seen)
        assert answered["decision"] == "expired"
        result = next(event for event in seen if event["type"] == "tool_result")
        assert result["isError"]
        assert "No one answered within 0.5 s" in result["output"]
