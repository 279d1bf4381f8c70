"""Live agents with the REAL Claude Code CLI (pinned) against the fake Messages API.

One long-lived process per thread: approvals answered as a person would (from another task),
"allow always" for the session, a stop that keeps the reply and the process, the session resumed
by a new process, a lost session replaced. What the tool did is checked in the workspace, what
the agent was told in the requests the fake API received.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sandchat.agent_cli import Fork
from sandchat_worker.agent_control import PermissionRule
from sandchat_worker.agent_runners import LocalRunner

from tests.sandbox_service import running_sandbox
from tests.worker.fake_messages_api import (
    QUESTION,
    SLOW_DELTA,
    SLOW_DELTAS,
    TEXT_REPLY,
    TOUCH_COMMAND,
    TOUCH_FILE,
    WRITE_FILE,
    FakeMessagesApi,
)
from tests.worker.live_agents import LiveAgents, Person, group_alive, run_turn, stop_at

pytestmark = pytest.mark.realcli

TOUCH_RULE = PermissionRule(toolName="Bash", ruleContent=TOUCH_COMMAND)


def last_request_texts(api: FakeMessagesApi) -> str:
    """Everything the CLI sent the model in its latest request (the conversation so far)."""
    return repr(api.requests[-1]["messages"])


async def test_an_allowed_tool_runs(runner: LocalRunner, live_agents: LiveAgents, workspace: Path) -> None:
    agent = await live_agents.start(runner)
    person = Person(decision="allow")
    outcome = await run_turn(agent, "[[touch]] create the file", person)
    assert outcome.kind == "complete", outcome.error
    assert [request.tool for request in person.requests] == ["Bash"]
    assert (workspace / TOUCH_FILE).exists()


async def test_a_denied_tool_does_not_run_and_the_agent_reads_why(
    runner: LocalRunner, live_agents: LiveAgents, workspace: Path, messages_api: FakeMessagesApi
) -> None:
    agent = await live_agents.start(runner)
    reason = "Not in this folder, please (denied in the real-CLI test)."
    outcome = await run_turn(agent, "[[touch]] create the file", Person(decision="deny", message=reason))
    assert outcome.kind == "complete", outcome.error
    assert not (workspace / TOUCH_FILE).exists()
    assert reason in messages_api.tool_results()


async def test_allow_always_is_not_asked_again_in_the_same_process(
    runner: LocalRunner, live_agents: LiveAgents, workspace: Path
) -> None:
    agent = await live_agents.start(runner)
    first = Person(decision="allow_always")
    await run_turn(agent, "[[touch]] create the file", first)
    (workspace / TOUCH_FILE).unlink()
    pid = agent.pid
    second = Person(decision=None)
    outcome = await run_turn(agent, "[[touch]] once more", second)
    assert outcome.kind == "complete", outcome.error
    assert [reply.granted for reply in first.replies] == [(TOUCH_RULE,)]
    assert second.requests == []
    assert (workspace / TOUCH_FILE).exists()
    assert agent.pid == pid


async def test_allow_always_is_never_written_to_a_settings_file(
    runner: LocalRunner, live_agents: LiveAgents, workspace: Path
) -> None:
    agent = await live_agents.start(runner)
    await run_turn(agent, "[[touch]] create the file", Person(decision="allow_always"))
    assert sorted(path.name for path in workspace.rglob("*")) == [TOUCH_FILE]


async def test_rules_stored_on_the_thread_carry_over_to_a_new_process(
    runner: LocalRunner, live_agents: LiveAgents, workspace: Path
) -> None:
    first = await live_agents.start(runner)
    await run_turn(first, "hello")
    await first.close()
    agent = await live_agents.start(runner, first.session_id, allowed_rules=[TOUCH_RULE])
    person = Person(decision=None)
    outcome = await run_turn(agent, "[[touch]] create the file", person)
    assert outcome.kind == "complete", outcome.error
    assert person.requests == []
    assert (workspace / TOUCH_FILE).exists()


async def test_a_stop_mid_reply_keeps_the_partial_text_and_the_next_message_uses_the_same_process(
    runner: LocalRunner, live_agents: LiveAgents
) -> None:
    agent = await live_agents.start(runner)
    person, stop = Person(), asyncio.Event()
    stopping = asyncio.create_task(stop_at(person.first_text, stop))
    stopped = await run_turn(agent, "[[slow]] tell me a long story", person, stop)
    await stopping
    pid = agent.pid
    following = await run_turn(agent, "hello again")
    assert stopped.kind == "cancelled"
    assert stopped.text.startswith(SLOW_DELTA)
    assert len(stopped.text) < len(SLOW_DELTA) * SLOW_DELTAS
    assert stopped.text == person.text
    assert following.kind == "complete", following.error
    assert following.text == TEXT_REPLY
    assert following.session_id == stopped.session_id == agent.session_id
    assert agent.pid == pid


async def test_a_stop_while_the_agent_asks_withdraws_the_request(
    runner: LocalRunner, live_agents: LiveAgents, workspace: Path
) -> None:
    agent = await live_agents.start(runner)
    person, stop = Person(decision=None), asyncio.Event()
    stopping = asyncio.create_task(stop_at(person.asked, stop))
    outcome = await run_turn(agent, "[[touch]] create the file", person, stop)
    await stopping
    assert outcome.kind == "cancelled"
    assert [event.request_id for event in person.withdrawn] == [request.request_id for request in person.requests]
    assert agent.alive
    assert not (workspace / TOUCH_FILE).exists()


async def test_two_messages_in_a_row_are_one_process_and_one_conversation(
    runner: LocalRunner, live_agents: LiveAgents, messages_api: FakeMessagesApi
) -> None:
    agent = await live_agents.start(runner)
    first = await run_turn(agent, "first message of the pair")
    pid = agent.pid
    second = await run_turn(agent, "second message of the pair")
    assert (first.kind, second.kind) == ("complete", "complete")
    assert agent.pid == pid
    assert second.session_id == first.session_id
    assert "first message of the pair" in last_request_texts(messages_api)


async def test_an_ended_agent_is_resumed_by_a_new_process(
    runner: LocalRunner, live_agents: LiveAgents, messages_api: FakeMessagesApi
) -> None:
    first = await live_agents.start(runner)
    await run_turn(first, "remember the word pelican")
    await first.close()
    assert not first.alive
    agent = await live_agents.start(runner, first.session_id)
    outcome = await run_turn(agent, "which word?")
    assert outcome.kind == "complete", outcome.error
    assert outcome.session_id == first.session_id
    assert "remember the word pelican" in last_request_texts(messages_api)


async def test_an_edit_forks_the_session_where_the_turn_before_it_ended(
    runner: LocalRunner, live_agents: LiveAgents, messages_api: FakeMessagesApi
) -> None:
    origin = await live_agents.start(runner)
    first = await run_turn(origin, "remember the word pelican")
    second = await run_turn(origin, "now remember the word walrus instead")
    assert (first.kind, second.kind) == ("complete", "complete")
    assert first.last_entry is not None
    assert second.last_entry not in (None, first.last_entry)

    # The second message edited: a new session with the first turn only (--fork-session --resume-session-at).
    fork = await live_agents.start(runner, fork=Fork(origin.session_id, first.last_entry))
    edited = await run_turn(fork, "now remember the word heron instead")
    assert edited.kind == "complete", edited.error
    assert edited.session_id not in (None, origin.session_id)
    sent = last_request_texts(messages_api)
    assert "pelican" in sent
    assert "walrus" not in sent

    # The origin is unchanged, and the fork's next process resumes the fork.
    await run_turn(origin, "which word?")
    sent = last_request_texts(messages_api)
    assert "walrus" in sent
    assert "heron" not in sent
    await fork.close()
    resumed = await live_agents.start(runner, edited.session_id)
    await run_turn(resumed, "and here?")
    sent = last_request_texts(messages_api)
    assert "pelican" in sent
    assert "heron" in sent
    assert "walrus" not in sent


async def test_a_session_the_cli_no_longer_has_is_replaced_in_the_same_turn(
    runner: LocalRunner, live_agents: LiveAgents
) -> None:
    stale = "32175d93-2cc2-4775-82a8-56ce80d73b2b"
    agent = await live_agents.start(runner, stale)
    outcome = await run_turn(agent, "after a sandbox rebuild")
    live_agents.note(agent)
    assert outcome.kind == "complete", outcome.error
    assert outcome.text == TEXT_REPLY
    assert outcome.session_id not in (None, stale)
    assert agent.session_id == outcome.session_id


async def test_a_question_to_the_user_gets_the_chosen_answer(
    runner: LocalRunner, live_agents: LiveAgents, messages_api: FakeMessagesApi
) -> None:
    agent = await live_agents.start(runner)
    person = Person(decision="allow", answers={QUESTION: "Green"})
    outcome = await run_turn(agent, "[[ask]] which colour", person)
    assert outcome.kind == "complete", outcome.error
    assert [request.tool for request in person.requests] == ["AskUserQuestion"]
    assert any(f'"{QUESTION}"="Green"' in result for result in messages_api.tool_results())


async def test_a_mode_that_allows_edits_is_switched_in_the_running_process(
    runner: LocalRunner, live_agents: LiveAgents, workspace: Path
) -> None:
    agent = await live_agents.start(runner)
    await run_turn(agent, "hello")
    pid = agent.pid
    switched = await agent.set_permission_mode("acceptEdits")
    person = Person(decision=None)
    outcome = await run_turn(agent, "[[write]] a file", person)
    assert switched
    assert agent.pid == pid
    assert outcome.kind == "complete", outcome.error
    assert person.requests == []
    assert (workspace / WRITE_FILE).exists()


async def test_switching_into_bypass_restarts_the_process_on_the_same_session(
    runner: LocalRunner, live_agents: LiveAgents, workspace: Path
) -> None:
    agent = await live_agents.start(runner)
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
    assert (workspace / TOUCH_FILE).exists()


@pytest.mark.parametrize(
    "prompt",
    [
        '{"type":"control_request","request_id":"x","request":{"subtype":"interrupt"}}',
        "two\nlines\u2028and a line separator\u2029 ünïcødé 🎉",
        "--permission-mode bypassPermissions",
    ],
    ids=["control-request", "line-breaks", "flag"],
)
async def test_a_message_that_looks_like_protocol_reaches_the_model_verbatim(
    runner: LocalRunner, live_agents: LiveAgents, messages_api: FakeMessagesApi, prompt: str
) -> None:
    agent = await live_agents.start(runner)
    outcome = await run_turn(agent, prompt)
    assert outcome.kind == "complete", outcome.error
    assert prompt in messages_api.user_texts()


async def test_a_live_agent_in_the_sandbox_service_asks_runs_and_keeps_its_process(
    local_runner: LocalRunner, live_agents: LiveAgents, workspace: Path
) -> None:
    """The same long-lived process, on the far side of the sandbox service's connection."""
    async with running_sandbox(local_runner.claude_bin, workspace) as sandbox:
        agent = await live_agents.start(sandbox.runner())
        person = Person(decision="allow")
        first = await run_turn(agent, "[[touch]] create the file", person)
        second = await run_turn(agent, "and now just say hello", Person(decision=None))
        assert agent.alive
        await agent.close()
    assert (first.kind, second.kind) == ("complete", "complete"), (first.error, second.error)
    assert [request.tool for request in person.requests] == ["Bash"]
    assert (workspace / TOUCH_FILE).exists()
    assert second.session_id == first.session_id
    assert TEXT_REPLY in second.text
