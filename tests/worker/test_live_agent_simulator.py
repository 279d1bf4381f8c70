"""Live agents with the simulator, in what the fake Messages API does not play: "allow always" with no
rule to grant, late and competing answers, the change an edit asks about, and the ways a live turn
ends badly (cannot start, rejected credentials, silent agent, ignored stop). The scenarios both
kinds of agent share are in test_live_agent_scenarios.py."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from sandchat.agent_env import agent_environment
from sandchat.agent_groups import new_run_id
from sandchat.agent_process import AgentProcess, spawn
from sandchat.agent_users import AgentUser
from sandchat_worker import agent_session
from sandchat_worker.agent_runners import LocalRunner, SimulatorRunner

from tests.worker.live_agents import LiveAgents, Person, group_alive, run_turn, stop_at

SIMULATOR = SimulatorRunner()


async def test_allow_always_without_a_rule_to_grant_allows_once(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    first = Person(decision="allow_always")
    await run_turn(agent, "[[edit]] the notes", first)
    second = Person(decision=None)
    stop = asyncio.Event()
    stopping = asyncio.create_task(stop_at(second.asked, stop))
    await run_turn(agent, "[[edit]] the notes again", second, stop)
    await stopping
    assert [reply.granted for reply in first.replies] == [()]
    assert [request.tool for request in second.requests] == ["Edit"]


async def test_an_answer_after_the_request_was_withdrawn_is_not_delivered(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    person, stop = Person(decision=None), asyncio.Event()
    stopping = asyncio.create_task(stop_at(person.asked, stop))
    await run_turn(agent, "[[touch]] create the file", person, stop)
    await stopping
    [request] = person.requests
    assert not (await agent.answer(request.request_id, "allow")).delivered


async def test_the_first_of_two_answers_wins(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    person = Person(decision=None)
    turn = asyncio.create_task(run_turn(agent, "[[touch]] create the file", person))
    await asyncio.wait_for(person.asked.wait(), 30)
    [request] = person.requests
    first, second = await asyncio.gather(
        agent.answer(request.request_id, "deny", "no"), agent.answer(request.request_id, "allow")
    )
    await turn
    assert (first.delivered, second.delivered) == (True, False)
    assert [(output.output, output.is_error) for output in person.tool_outputs] == [("no", True)]


async def test_an_edit_asks_with_the_change_to_show(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    person = Person(decision="allow")
    await run_turn(agent, "[[edit]] the notes", person)
    [request] = person.requests
    assert request.tool == "Edit"
    assert (request.input["old_string"], request.input["new_string"]) == ("The button is blue.", "The button is green.")


async def test_an_agent_that_cannot_start_is_offline(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(LocalRunner("/nonexistent/bin/claude"))
    outcome = await run_turn(agent, "hello")
    assert outcome.kind == "offline"
    assert outcome.error is not None
    assert "could not be started" in outcome.error


async def test_rejected_credentials_end_the_turn_at_the_first_retry(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    outcome = await run_turn(agent, "[[auth-fail]] hello")
    assert outcome.kind == "unauthenticated"
    assert not agent.alive


async def test_a_silent_agent_times_out_and_the_next_message_resumes_in_a_new_process(
    live_agents: LiveAgents,
) -> None:
    agent = await live_agents.start(SIMULATOR)
    await run_turn(agent, "hello")  # started and warm: the first delta comes at once
    silent = await run_turn(agent, "[[hang]] think forever", inactivity_timeout_s=1.0)
    dead_pid = agent.pid
    assert dead_pid is not None
    assert not agent.alive
    following = await run_turn(agent, "hello again")
    live_agents.note(agent)
    assert silent.kind == "timeout"
    assert silent.text.startswith("You said: [[hang]]")
    assert not group_alive(dead_pid)
    assert following.kind == "complete", following.error
    assert following.session_id == silent.session_id


async def test_a_request_waiting_for_a_person_is_not_timed_out(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    await run_turn(agent, "hello")  # started and warm: what follows a message comes at once
    person = Person(decision=None)
    turn = asyncio.create_task(run_turn(agent, "[[touch]] create the file", person, inactivity_timeout_s=1.0))
    await asyncio.wait_for(person.asked.wait(), 30)
    # Well past the inactivity timeout while the request waits: the turn is still there to answer.
    done, _ = await asyncio.wait({turn}, timeout=2.5)
    assert not done
    [request] = person.requests
    assert (await agent.answer(request.request_id, "allow")).delivered
    outcome = await turn
    assert outcome.kind == "complete", outcome.error


@dataclass(frozen=True)
class DeafRunner:
    """A CLI that streams one delta, then ignores everything (an interrupt included)."""

    name: str = "deaf"

    async def start(self, cli_args: Sequence[str], user: AgentUser | None = None) -> AgentProcess:
        script = (
            "import json, sys, time\n"
            "sys.stdin.readline()\n"
            "delta = {'type': 'content_block_delta', 'index': 0, 'delta': {'type': 'text_delta', 'text': 'hm'}}\n"
            "print(json.dumps({'type': 'stream_event', 'event': delta}), flush=True)\n"
            "time.sleep(600)\n"
        )
        run_id = new_run_id()
        return await spawn([sys.executable, "-c", script], agent_environment(os.environ, (), run_marker=run_id), run_id)


async def test_a_stop_the_agent_ignores_kills_its_process_group(
    live_agents: LiveAgents, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_session, "INTERRUPT_GRACE_S", 0.3)
    agent = await live_agents.start(DeafRunner())
    pid = agent.pid
    assert pid is not None
    person, stop = Person(), asyncio.Event()
    stopping = asyncio.create_task(stop_at(person.first_text, stop))
    outcome = await run_turn(agent, "hello", person, stop)
    await stopping
    assert outcome.kind == "cancelled"
    assert outcome.text == "hm"
    assert not agent.alive
    assert not group_alive(pid)
