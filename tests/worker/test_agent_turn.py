"""One agent turn with the simulator, run here and through the sandbox service: replies, sessions, tools,
and every way a turn can end badly. The turn code is the same for both; only the process differs."""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psutil
import pytest
from sandchat_worker.agent_events import StatusNote, TextDelta, ToolOutput, ToolUse, TurnOutcome
from sandchat_worker.agent_runners import AgentRunner, LocalRunner, SimulatorRunner, simulator_command
from sandchat_worker.agent_stream import MAX_LINE_BYTES, OVERSIZED_LINE_NOTE
from sandchat_worker.agent_turn import run_agent_turn

from tests.sandbox_service import running_sandbox
from tests.worker.conftest import CLI_DATA, SIMULATOR_PASSTHROUGH, Recorder


@pytest.fixture(params=["simulator", "sandbox"])
async def runner(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AgentRunner]:
    if request.param == "simulator":
        yield SimulatorRunner()
        return
    [simulator] = simulator_command()
    async with running_sandbox(simulator, tmp_path / "workspace", SIMULATOR_PASSTHROUGH) as sandbox:
        yield sandbox.runner()


async def turn(
    runner: AgentRunner,
    prompt: str,
    session_id: str | None = None,
    *,
    recorder: Recorder | None = None,
    cancel: asyncio.Event | None = None,
    timeout_s: float = 30,
) -> TurnOutcome:
    return await run_agent_turn(
        runner,
        prompt,
        session_id,
        on_events=recorder or Recorder(),
        cancel=cancel or asyncio.Event(),
        inactivity_timeout_s=timeout_s,
    )


@pytest.fixture
def no_agent_processes_left() -> Callable[[], bool]:
    """True when no process started during the test is left; what ran before it (a private
    redis-server, another fixture's service) is not the test's agent."""
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    return lambda: all(child.pid in before for child in psutil.Process().children(recursive=True))


async def test_a_reply_streams_and_completes_with_a_session(runner: AgentRunner, recorder: Recorder) -> None:
    outcome = await turn(runner, "hello", recorder=recorder)
    assert outcome.kind == "complete"
    assert outcome.text.startswith("You said: hello\n\n")
    assert outcome.text == recorder.text
    assert outcome.session_id
    assert outcome.cost_usd is not None
    assert outcome.num_turns == 1
    assert outcome.error is None
    for batch in recorder.batches:  # coalesced: never two text deltas side by side
        assert not any(isinstance(a, TextDelta) and isinstance(b, TextDelta) for a, b in itertools.pairwise(batch))


@pytest.mark.parametrize("prompt", ["--help", "-p", "--resume=x", "$(id)", "; rm -rf ~", "two\nlines ünï 🎉"])
async def test_a_flag_like_prompt_is_text_to_the_agent(runner: AgentRunner, prompt: str) -> None:
    outcome = await turn(runner, prompt)
    assert outcome.kind == "complete"
    assert outcome.text.startswith(f"You said: {prompt}\n\n")


async def test_resuming_a_known_session_keeps_it(runner: AgentRunner) -> None:
    first = await turn(runner, "one")
    second = await turn(runner, "two", first.session_id)
    assert second.kind == "complete"
    assert second.session_id == first.session_id


async def test_a_session_the_agent_no_longer_has_is_replaced_within_the_same_turn(runner: AgentRunner) -> None:
    stale = "32175d93-2cc2-4775-82a8-56ce80d73b2b"
    outcome = await turn(runner, "hello again", stale)
    assert outcome.kind == "complete"
    assert outcome.text.startswith("You said: hello again")
    assert outcome.session_id
    assert outcome.session_id != stale
    assert (await turn(runner, "and again", outcome.session_id)).session_id == outcome.session_id


async def test_tool_use_and_its_output_are_streamed(runner: AgentRunner, recorder: Recorder) -> None:
    outcome = await turn(runner, "[[tool]] run something", recorder=recorder)
    assert outcome.kind == "complete"
    assert outcome.num_turns == 2
    [tool] = recorder.tools
    assert tool.name == "Bash"
    assert tool.input == {"command": "echo hi", "description": "Say hi"}
    assert recorder.tool_outputs == [ToolOutput(tool.tool_use_id, "hi", is_error=False)]
    kinds = [type(event) for event in recorder.events if not isinstance(event, TextDelta)]
    assert kinds == [ToolUse, ToolOutput]


async def test_api_retries_reach_the_user_as_status_notes(runner: AgentRunner, recorder: Recorder) -> None:
    outcome = await turn(runner, "[[retry]]", recorder=recorder)
    assert outcome.kind == "complete"
    notes = [event for event in recorder.events if isinstance(event, StatusNote)]
    assert notes == [
        StatusNote("Claude API retrying (attempt 1/10): overloaded"),
        StatusNote("Claude API retrying (attempt 2/10): overloaded"),
    ]


async def test_rejected_credentials_end_the_turn_at_once_as_unauthenticated(
    runner: AgentRunner, recorder: Recorder, no_agent_processes_left: Callable[[], bool]
) -> None:
    outcome = await turn(runner, "[[auth-fail]]", recorder=recorder)
    # The simulator would retry ten times for over four minutes, like the real CLI: the turn ends at
    # the first rejected attempt instead.
    assert [note for note in recorder.events if isinstance(note, StatusNote)] == [
        StatusNote("Claude API retrying (attempt 1/10): authentication_failed")
    ]
    assert outcome.kind == "unauthenticated"
    assert outcome.error is not None
    assert "not logged in" in outcome.error
    assert no_agent_processes_left()


async def test_an_api_error_reads_as_one_sentence_and_its_detail_goes_to_the_log(
    runner: AgentRunner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcome = await turn(runner, "[[fail]]")
    assert outcome.kind == "error"
    assert outcome.text.startswith("You said: [[fail]]")
    assert outcome.error == "The Claude API answered with an error (HTTP 500, api_error); try again."
    assert "Internal server error" in caplog.text


async def test_an_agent_dying_mid_stream_keeps_the_text_and_logs_its_stderr(
    runner: AgentRunner, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SIMULATOR_TOKENS", "10")
    outcome = await turn(runner, "[[die]]")
    assert outcome.kind == "error"
    assert outcome.text.startswith("You said: [[die]]")
    assert outcome.error == "The agent stopped unexpectedly (exit code 1)."
    assert "crashed mid-stream" in caplog.text
    assert outcome.session_id  # the thread can still resume what the agent saved


async def test_an_agent_that_goes_silent_is_killed_as_a_timeout(
    runner: AgentRunner, no_agent_processes_left: Callable[[], bool]
) -> None:
    outcome = await turn(runner, "[[hang]]", timeout_s=0.5)
    assert outcome.kind == "timeout"
    assert outcome.text.startswith("You said: [[hang]]")
    assert outcome.error is not None
    assert "0.5 seconds" in outcome.error
    assert no_agent_processes_left()


async def test_cancel_kills_the_agent_and_keeps_the_text(
    runner: AgentRunner, recorder: Recorder, no_agent_processes_left: Callable[[], bool]
) -> None:
    cancel = asyncio.Event()
    running = asyncio.create_task(turn(runner, "[[hang]]", recorder=recorder, cancel=cancel))
    await asyncio.wait_for(recorder.first_text.wait(), 10)
    cancel.set()
    outcome = await running
    assert outcome.kind == "cancelled"
    assert outcome.text == recorder.text
    assert outcome.text.startswith("You said: [[hang]]")
    assert no_agent_processes_left()


async def test_cancelling_the_turn_task_kills_the_agent_and_propagates(
    runner: AgentRunner, recorder: Recorder, no_agent_processes_left: Callable[[], bool]
) -> None:
    running = asyncio.create_task(turn(runner, "[[hang]]", recorder=recorder))
    await asyncio.wait_for(recorder.first_text.wait(), 10)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert no_agent_processes_left()


async def test_a_failing_event_consumer_does_not_leave_the_agent_running(
    runner: AgentRunner, no_agent_processes_left: Callable[[], bool]
) -> None:
    async def broken(_: object) -> None:
        raise RuntimeError("consumer failed")

    with pytest.raises(RuntimeError, match="consumer failed"):
        await run_agent_turn(runner, "hello", None, on_events=broken, cancel=asyncio.Event(), inactivity_timeout_s=30)
    assert no_agent_processes_left()


async def test_a_missing_cli_is_offline(tmp_path: object) -> None:
    outcome = await turn(LocalRunner("/nonexistent/bin/claude"), "hello")
    assert outcome.kind == "offline"
    assert outcome.error is not None
    assert "/nonexistent" not in outcome.error


async def test_a_long_prompt_reaches_the_agent_whole(runner: AgentRunner) -> None:
    prompt = "x" * 300_000  # larger than a pipe buffer
    outcome = await turn(runner, prompt)
    assert outcome.kind == "complete"
    assert outcome.text.startswith("You said: " + "x" * 200 + "\n\n")


async def test_an_agent_line_over_the_limit_is_skipped_with_a_note_and_the_reply_completes(
    tmp_path: Path, recorder: Recorder
) -> None:
    # A CLI replaying a real transcript, with one line of MAX_LINE_BYTES + 1 after its first.
    transcript = CLI_DATA / "text-reply.jsonl"
    cli = tmp_path / "claude"
    cli.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"lines = open({str(transcript)!r}, 'rb').read().splitlines(keepends=True)\n"
        "sys.stdout.buffer.write(lines[0])\n"
        f"sys.stdout.buffer.write(b'x' * {MAX_LINE_BYTES + 1} + b'\\n')\n"
        "sys.stdout.buffer.writelines(lines[1:])\n"
    )
    cli.chmod(0o755)
    outcome = await turn(LocalRunner(str(cli)), "hello", recorder=recorder)
    assert outcome.kind == "complete"
    assert outcome.text == recorder.text
    assert outcome.text.startswith("Hello!")
    assert StatusNote(OVERSIZED_LINE_NOTE) in recorder.events
