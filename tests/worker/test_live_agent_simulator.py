"""Live agents with the simulator: the same behaviours as with the real CLI, seen in the events a
person would see, and the ways a live turn ends badly (cannot start, silent agent, ignored stop)."""

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
from sandchat_worker.agent_control import PermissionRule
from sandchat_worker.agent_events import ToolOutput
from sandchat_worker.agent_runners import LocalRunner, SimulatorRunner
from sandchat_worker.simulator_tools import QUESTION

from tests.worker.live_agents import LiveAgents, Person, group_alive, run_turn, stop_at

SIMULATOR = SimulatorRunner()
TOUCH_RULE = PermissionRule(toolName="Bash", ruleContent="touch touched.txt")
TOUCHED = "(Bash completed with no output)"


def outputs(person: Person) -> list[ToolOutput]:
    return person.tool_outputs


async def test_an_allowed_tool_runs(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    person = Person(decision="allow")
    outcome = await run_turn(agent, "[[touch]] create the file", person)
    assert outcome.kind == "complete", outcome.error
    assert [request.tool for request in person.requests] == ["Bash"]
    assert [(output.output, output.is_error) for output in outputs(person)] == [(TOUCHED, False)]


async def test_a_denied_tool_does_not_run_and_the_agent_reads_why(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    person = Person(decision="deny", message="Not in this folder, please.")
    await run_turn(agent, "[[touch]] create the file", person)
    assert [(output.output, output.is_error) for output in outputs(person)] == [("Not in this folder, please.", True)]


async def test_allow_always_is_not_asked_again_in_the_same_process(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    first = Person(decision="allow_always")
    await run_turn(agent, "[[touch]] create the file", first)
    pid = agent.pid
    second = Person(decision=None)
    outcome = await run_turn(agent, "[[touch]] once more", second)
    assert outcome.kind == "complete", outcome.error
    assert [reply.granted for reply in first.replies] == [(TOUCH_RULE,)]
    assert second.requests == []
    assert [output.output for output in outputs(second)] == [TOUCHED]
    assert agent.pid == pid


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


async def test_rules_stored_on_the_thread_carry_over_to_a_new_process(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR, allowed_rules=[TOUCH_RULE])
    person = Person(decision=None)
    outcome = await run_turn(agent, "[[touch]] create the file", person)
    assert outcome.kind == "complete", outcome.error
    assert person.requests == []


async def test_a_stop_mid_reply_keeps_the_partial_text_and_the_next_message_uses_the_same_process(
    live_agents: LiveAgents,
) -> None:
    agent = await live_agents.start(SIMULATOR)
    person, stop = Person(), asyncio.Event()
    stopping = asyncio.create_task(stop_at(person.first_text, stop))
    stopped = await run_turn(agent, "[[slow]] tell me a long story", person, stop)
    await stopping
    pid = agent.pid
    following = await run_turn(agent, "hello again")
    assert stopped.kind == "cancelled"
    assert stopped.text.startswith("You said: [[slow]]")
    assert stopped.text == person.text
    assert following.kind == "complete", following.error
    assert following.text.startswith("You said: hello again")
    assert following.session_id == stopped.session_id == agent.session_id
    assert agent.pid == pid


async def test_a_stop_while_the_agent_asks_withdraws_the_request(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    person, stop = Person(decision=None), asyncio.Event()
    stopping = asyncio.create_task(stop_at(person.asked, stop))
    outcome = await run_turn(agent, "[[touch]] create the file", person, stop)
    await stopping
    assert outcome.kind == "cancelled"
    assert [event.request_id for event in person.withdrawn] == [request.request_id for request in person.requests]
    assert agent.alive


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
    assert [(output.output, output.is_error) for output in outputs(person)] == [("no", True)]


async def test_two_messages_in_a_row_are_one_process_and_one_session(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    first = await run_turn(agent, "first message")
    pid = agent.pid
    second = await run_turn(agent, "second message")
    assert (first.kind, second.kind) == ("complete", "complete")
    assert second.text.startswith("You said: second message")
    assert agent.pid == pid
    assert second.session_id == first.session_id


async def test_an_ended_agent_is_resumed_by_a_new_process(live_agents: LiveAgents) -> None:
    first = await live_agents.start(SIMULATOR)
    await run_turn(first, "hello")
    await first.close()
    agent = await live_agents.start(SIMULATOR, first.session_id)
    outcome = await run_turn(agent, "hello again")
    assert outcome.kind == "complete", outcome.error
    assert outcome.session_id == first.session_id


async def test_a_session_the_cli_no_longer_has_is_replaced_in_the_same_turn(live_agents: LiveAgents) -> None:
    stale = "32175d93-2cc2-4775-82a8-56ce80d73b2b"
    agent = await live_agents.start(SIMULATOR, stale)
    outcome = await run_turn(agent, "after a sandbox rebuild")
    live_agents.note(agent)
    assert outcome.kind == "complete", outcome.error
    assert outcome.text.startswith("You said: after a sandbox rebuild")
    assert outcome.session_id not in (None, stale)
    assert agent.session_id == outcome.session_id


async def test_a_question_to_the_user_gets_the_chosen_answer(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    person = Person(decision="allow", answers={QUESTION: "Green"})
    await run_turn(agent, "[[ask]] which colour", person)
    [output] = outputs(person)
    assert f'"{QUESTION}"="Green"' in output.output


async def test_an_edit_asks_with_the_change_to_show(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    person = Person(decision="allow")
    await run_turn(agent, "[[edit]] the notes", person)
    [request] = person.requests
    assert request.tool == "Edit"
    assert (request.input["old_string"], request.input["new_string"]) == ("The button is blue.", "The button is green.")


async def test_a_mode_that_allows_edits_is_switched_in_the_running_process(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    pid = agent.pid
    switched = await agent.set_permission_mode("acceptEdits")
    person = Person(decision=None)
    await run_turn(agent, "[[edit]] the notes", person)
    assert switched
    assert agent.pid == pid
    assert person.requests == []


async def test_switching_into_bypass_restarts_the_process_on_the_same_session(live_agents: LiveAgents) -> None:
    agent = await live_agents.start(SIMULATOR)
    first = await run_turn(agent, "hello")
    old_pid = agent.pid
    assert old_pid is not None
    switched = await agent.set_permission_mode("bypassPermissions")
    live_agents.note(agent)
    person = Person(decision=None)
    outcome = await run_turn(agent, "[[touch]] create the file", person)
    assert not switched
    assert agent.pid != old_pid
    assert not group_alive(old_pid)
    assert person.requests == []
    assert outcome.session_id == first.session_id


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
