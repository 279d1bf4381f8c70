"""Live agents, each scenario with the simulator and with the REAL Claude Code CLI (pinned, marked
`realcli`, against the fake Messages API). One long-lived process per thread: approvals answered as
a person would (from another task), "allow always" for the session and rules stored on the thread,
a stop while the agent asks or mid-reply (the reply and the process kept), the session resumed by
a new process or replaced when lost, permission modes switched in or by restarting the process.

What each kind shows beyond the events is in tests/worker/live_agent_kinds.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sandchat_worker.agent_control import PermissionRule
from sandchat_worker.agent_session import LiveAgent

from tests.worker.fake_messages_api import QUESTION, TOUCH_COMMAND, TOUCH_FILE, WRITE_FILE
from tests.worker.live_agent_kinds import AgentKind, RealCliAgent, SimulatedAgent
from tests.worker.live_agents import LiveAgents, Person, group_alive, run_turn, stop_at

TOUCH_RULE = PermissionRule(toolName="Bash", ruleContent=TOUCH_COMMAND)
# What the CLI (and the simulator after it) reports for `touch`.
TOUCHED = "(Bash completed with no output)"


@pytest.fixture(params=["simulator", pytest.param("real-cli", marks=pytest.mark.realcli)])
def kind(request: pytest.FixtureRequest, simulator_env: Path) -> AgentKind:
    """The simulator, or the real CLI in its workspace (only its tests are marked `realcli`)."""
    if request.param == "simulator":
        return SimulatedAgent(simulator_env / "sessions")
    return RealCliAgent(
        request.getfixturevalue("runner"), request.getfixturevalue("workspace"), request.getfixturevalue("messages_api")
    )


@pytest.fixture
async def agent(kind: AgentKind, live_agents: LiveAgents) -> LiveAgent:
    """A live agent of the kind on a new session, started for the test (and ended after it)."""
    return await live_agents.start(kind.runner)


async def test_an_allowed_tool_runs(kind: AgentKind, agent: LiveAgent) -> None:
    person = Person(decision="allow")
    outcome = await run_turn(agent, "[[touch]] create the file", person)
    assert outcome.kind == "complete", outcome.error
    assert [request.tool for request in person.requests] == ["Bash"]
    assert [(output.output, output.is_error) for output in person.tool_outputs] == [(TOUCHED, False)]
    kind.check_made(TOUCH_FILE)


async def test_a_denied_tool_does_not_run_and_the_agent_reads_why(kind: AgentKind, agent: LiveAgent) -> None:
    reason = "Not in this folder, please (denied in the scenario that denies)."
    person = Person(decision="deny", message=reason)
    outcome = await run_turn(agent, "[[touch]] create the file", person)
    assert outcome.kind == "complete", outcome.error
    assert [(output.output, output.is_error) for output in person.tool_outputs] == [(reason, True)]
    kind.check_not_made(TOUCH_FILE)
    assert reason in kind.results_read(person)


async def test_a_question_to_the_user_gets_the_chosen_answer(kind: AgentKind, agent: LiveAgent) -> None:
    person = Person(decision="allow", answers={QUESTION: "Green"})
    outcome = await run_turn(agent, "[[ask]] which colour", person)
    assert outcome.kind == "complete", outcome.error
    assert [request.tool for request in person.requests] == ["AskUserQuestion"]
    [output] = person.tool_outputs
    assert f'"{QUESTION}"="Green"' in output.output
    assert any(f'"{QUESTION}"="Green"' in result for result in kind.results_read(person))


async def test_allow_always_is_not_asked_again_in_the_same_process(kind: AgentKind, agent: LiveAgent) -> None:
    first = Person(decision="allow_always")
    await run_turn(agent, "[[touch]] create the file", first)
    kind.check_made(TOUCH_FILE)
    pid = agent.pid
    second = Person(decision=None)
    outcome = await run_turn(agent, "[[touch]] once more", second)
    assert outcome.kind == "complete", outcome.error
    assert [reply.granted for reply in first.replies] == [(TOUCH_RULE,)]
    assert second.requests == []
    assert [output.output for output in second.tool_outputs] == [TOUCHED]
    kind.check_made(TOUCH_FILE)
    assert agent.pid == pid


async def test_rules_stored_on_the_thread_carry_over_to_a_new_process(kind: AgentKind, live_agents: LiveAgents) -> None:
    first = await live_agents.start(kind.runner)
    await run_turn(first, "hello")
    await first.close()
    agent = await live_agents.start(kind.runner, first.session_id, allowed_rules=[TOUCH_RULE])
    person = Person(decision=None)
    outcome = await run_turn(agent, "[[touch]] create the file", person)
    assert outcome.kind == "complete", outcome.error
    assert person.requests == []
    assert [output.output for output in person.tool_outputs] == [TOUCHED]
    kind.check_made(TOUCH_FILE)


async def test_a_stop_while_the_agent_asks_withdraws_the_request(kind: AgentKind, agent: LiveAgent) -> None:
    person, stop = Person(decision=None), asyncio.Event()
    stopping = asyncio.create_task(stop_at(person.asked, stop))
    outcome = await run_turn(agent, "[[touch]] create the file", person, stop)
    await stopping
    assert outcome.kind == "cancelled"
    assert [event.request_id for event in person.withdrawn] == [request.request_id for request in person.requests]
    assert agent.alive
    kind.check_not_made(TOUCH_FILE)


async def test_a_stop_mid_reply_keeps_the_partial_text_and_the_next_message_uses_the_same_process(
    kind: AgentKind, agent: LiveAgent
) -> None:
    person, stop = Person(), asyncio.Event()
    stopping = asyncio.create_task(stop_at(person.first_text, stop))
    stopped = await run_turn(agent, "[[slow]] tell me a long story", person, stop)
    await stopping
    pid = agent.pid
    following = await run_turn(agent, "hello again")
    assert stopped.kind == "cancelled"
    kind.check_stopped_reply(stopped, "[[slow]] tell me a long story")
    assert stopped.text == person.text
    assert following.kind == "complete", following.error
    kind.check_reply(following, "hello again")
    assert following.session_id == stopped.session_id == agent.session_id
    assert agent.pid == pid


async def test_two_messages_in_a_row_are_one_process_and_one_conversation(kind: AgentKind, agent: LiveAgent) -> None:
    first = await run_turn(agent, "first message of the pair")
    pid = agent.pid
    second = await run_turn(agent, "second message of the pair")
    assert (first.kind, second.kind) == ("complete", "complete")
    kind.check_reply(second, "second message of the pair")
    assert agent.pid == pid
    assert second.session_id == first.session_id
    assert "first message of the pair" in kind.conversation(second)


async def test_an_ended_agent_is_resumed_by_a_new_process(kind: AgentKind, live_agents: LiveAgents) -> None:
    first = await live_agents.start(kind.runner)
    await run_turn(first, "remember the word pelican")
    await first.close()
    assert not first.alive
    agent = await live_agents.start(kind.runner, first.session_id)
    outcome = await run_turn(agent, "which word?")
    assert outcome.kind == "complete", outcome.error
    assert outcome.session_id == first.session_id
    assert "remember the word pelican" in kind.conversation(outcome)


async def test_a_session_the_cli_no_longer_has_is_replaced_in_the_same_turn(
    kind: AgentKind, live_agents: LiveAgents
) -> None:
    stale = "32175d93-2cc2-4775-82a8-56ce80d73b2b"
    agent = await live_agents.start(kind.runner, stale)
    outcome = await run_turn(agent, "after a sandbox rebuild")
    live_agents.note(agent)
    assert outcome.kind == "complete", outcome.error
    kind.check_reply(outcome, "after a sandbox rebuild")
    assert outcome.session_id not in (None, stale)
    assert agent.session_id == outcome.session_id


async def test_a_mode_that_allows_edits_is_switched_in_the_running_process(kind: AgentKind, agent: LiveAgent) -> None:
    await run_turn(agent, "hello")
    pid = agent.pid
    switched = await agent.set_permission_mode("acceptEdits")
    person = Person(decision=None)
    outcome = await run_turn(agent, "[[write]] a file", person)
    assert switched
    assert agent.pid == pid
    assert outcome.kind == "complete", outcome.error
    assert person.requests == []
    kind.check_made(WRITE_FILE)


async def test_switching_into_bypass_restarts_the_process_on_the_same_session(
    kind: AgentKind, agent: LiveAgent, live_agents: LiveAgents
) -> None:
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
    assert [output.output for output in person.tool_outputs] == [TOUCHED]
    assert outcome.session_id == first.session_id
    kind.check_made(TOUCH_FILE)
