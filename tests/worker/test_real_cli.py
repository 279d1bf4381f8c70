"""The REAL Claude Code CLI (the pinned npm package) through the local and the sandbox runner, against a
fake Messages API.

Proves what the simulator can only imitate: the flags we pass (and that the sandbox service lets them
through), the prompt on stdin arriving verbatim, the event shapes the parser reads, sessions, and how
rejected credentials look. The sandbox service runs in this process, the CLI as its child.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sandchat_worker.agent_events import ToolOutput, TurnOutcome
from sandchat_worker.agent_runners import AgentRunner, LocalRunner
from sandchat_worker.agent_turn import run_agent_turn

from tests.sandbox_service import running_sandbox
from tests.worker.conftest import Recorder
from tests.worker.fake_messages_api import TEXT_REPLY, TOOL_COMMAND, FakeMessagesApi

pytestmark = pytest.mark.realcli


@pytest.fixture(params=["local", "sandbox"])
async def runner(
    request: pytest.FixtureRequest, local_runner: LocalRunner, tmp_path: Path
) -> AsyncIterator[AgentRunner]:
    """The same CLI and environment, started here or by the sandbox service (in its workspace)."""
    if request.param == "local":
        yield local_runner
        return
    async with running_sandbox(local_runner.claude_bin, tmp_path / "workspace") as sandbox:
        yield sandbox.runner()


async def turn(
    runner: AgentRunner, prompt: str, session_id: str | None = None, recorder: Recorder | None = None
) -> TurnOutcome:
    return await run_agent_turn(
        runner, prompt, session_id, on_events=recorder or Recorder(), cancel=asyncio.Event(), inactivity_timeout_s=60
    )


async def test_a_text_reply_streams_token_by_token(runner: AgentRunner, recorder: Recorder) -> None:
    outcome = await turn(runner, "Say hello", recorder=recorder)
    assert outcome.kind == "complete", outcome.error
    assert outcome.text == TEXT_REPLY
    assert recorder.text == TEXT_REPLY
    assert outcome.session_id
    assert outcome.cost_usd is not None
    assert outcome.num_turns == 1


async def test_the_cli_runs_a_tool_and_reports_its_output(runner: AgentRunner, recorder: Recorder) -> None:
    outcome = await turn(runner, "[[tool]] say hi", recorder=recorder)
    assert outcome.kind == "complete", outcome.error
    [tool] = recorder.tools
    assert tool.name == "Bash"
    assert tool.input["command"] == TOOL_COMMAND
    assert recorder.tool_outputs == [ToolOutput(tool.tool_use_id, "hi", is_error=False)]
    assert outcome.text == "Let me check.Done."
    assert outcome.num_turns == 2


async def test_resuming_a_known_session_keeps_it(runner: AgentRunner) -> None:
    first = await turn(runner, "first message")
    second = await turn(runner, "second message", first.session_id)
    assert second.kind == "complete", second.error
    assert second.session_id == first.session_id


async def test_resuming_an_unknown_session_starts_a_new_one_in_the_same_turn(runner: AgentRunner) -> None:
    stale = "32175d93-2cc2-4775-82a8-56ce80d73b2b"
    outcome = await turn(runner, "after a sandbox rebuild", stale)
    assert outcome.kind == "complete", outcome.error
    assert outcome.text == TEXT_REPLY
    assert outcome.session_id
    assert outcome.session_id != stale


async def test_rejected_credentials_end_the_turn_fast(runner: AgentRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "reject")  # the fake API answers 401
    started = time.monotonic()
    outcome = await turn(runner, "hello")
    # Left alone the CLI retries ten times with growing delays (over a minute).
    assert time.monotonic() - started < 15
    assert outcome.kind == "unauthenticated"


@pytest.mark.parametrize(
    "prompt",
    ["--help", "-p", "--resume=x", "$(id)", "; rm -rf ~", "two\nlines\n  ünïcødé 🎉 \"quotes\" 'single'\n"],
    ids=["help", "p", "resume", "command-substitution", "shell-chain", "newlines-unicode"],
)
async def test_a_flag_like_prompt_reaches_the_api_verbatim(
    local_runner: LocalRunner, messages_api: FakeMessagesApi, prompt: str
) -> None:
    outcome = await turn(local_runner, prompt)
    assert outcome.kind == "complete", outcome.error
    assert outcome.text == TEXT_REPLY
    assert prompt in messages_api.user_texts()
