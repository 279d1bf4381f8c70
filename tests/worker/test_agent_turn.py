"""One agent turn with the simulator: replies, sessions, tools, and every way a turn can end badly."""

from __future__ import annotations

import asyncio
import itertools
import time

import psutil
import pytest
from sandchat_worker.agent_events import StatusNote, TextDelta, ToolOutput, ToolUse, TurnOutcome
from sandchat_worker.agent_runners import AgentRunner, LocalRunner, SimulatorRunner
from sandchat_worker.agent_turn import run_agent_turn

from tests.worker.conftest import Recorder


async def turn(
    prompt: str,
    session_id: str | None = None,
    *,
    recorder: Recorder | None = None,
    cancel: asyncio.Event | None = None,
    timeout_s: float = 30,
    runner: AgentRunner | None = None,
) -> TurnOutcome:
    return await run_agent_turn(
        runner or SimulatorRunner(),
        prompt,
        session_id,
        on_events=recorder or Recorder(),
        cancel=cancel or asyncio.Event(),
        inactivity_timeout_s=timeout_s,
    )


def no_agent_processes_left() -> bool:
    return not psutil.Process().children(recursive=True)


async def test_a_reply_streams_and_completes_with_a_session(recorder: Recorder) -> None:
    outcome = await turn("hello", recorder=recorder)
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
async def test_a_flag_like_prompt_is_text_to_the_agent(prompt: str) -> None:
    outcome = await turn(prompt)
    assert outcome.kind == "complete"
    assert outcome.text.startswith(f"You said: {prompt}\n\n")


async def test_resuming_a_known_session_keeps_it() -> None:
    first = await turn("one")
    second = await turn("two", first.session_id)
    assert second.kind == "complete"
    assert second.session_id == first.session_id


async def test_a_session_the_agent_no_longer_has_is_replaced_within_the_same_turn() -> None:
    stale = "32175d93-2cc2-4775-82a8-56ce80d73b2b"
    outcome = await turn("hello again", stale)
    assert outcome.kind == "complete"
    assert outcome.text.startswith("You said: hello again")
    assert outcome.session_id
    assert outcome.session_id != stale
    assert (await turn("and again", outcome.session_id)).session_id == outcome.session_id


async def test_tool_use_and_its_output_are_streamed(recorder: Recorder) -> None:
    outcome = await turn("[[tool]] run something", recorder=recorder)
    assert outcome.kind == "complete"
    assert outcome.num_turns == 2
    [tool] = recorder.tools
    assert tool.name == "Bash"
    assert tool.input == {"command": "echo hi", "description": "Say hi"}
    assert recorder.tool_outputs == [ToolOutput(tool.tool_use_id, "hi", is_error=False)]
    kinds = [type(event) for event in recorder.events if not isinstance(event, TextDelta)]
    assert kinds == [ToolUse, ToolOutput]


async def test_api_retries_reach_the_user_as_status_notes(recorder: Recorder) -> None:
    outcome = await turn("[[retry]]", recorder=recorder)
    assert outcome.kind == "complete"
    notes = [event for event in recorder.events if isinstance(event, StatusNote)]
    assert notes == [
        StatusNote("Claude API retrying (attempt 1/10): overloaded"),
        StatusNote("Claude API retrying (attempt 2/10): overloaded"),
    ]


async def test_rejected_credentials_end_the_turn_at_once_as_unauthenticated() -> None:
    started = time.monotonic()
    outcome = await turn("[[auth-fail]]")
    # The simulator would retry for over four minutes, like the real CLI.
    assert time.monotonic() - started < 3
    assert outcome.kind == "unauthenticated"
    assert outcome.error is not None
    assert "not logged in" in outcome.error
    assert no_agent_processes_left()


async def test_an_error_result_is_reported_with_its_message() -> None:
    outcome = await turn("[[fail]]")
    assert outcome.kind == "error"
    assert outcome.text.startswith("You said: [[fail]]")
    assert outcome.error is not None
    assert "API Error: 500" in outcome.error


async def test_an_agent_dying_mid_stream_keeps_the_text_and_shows_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMULATOR_TOKENS", "10")
    outcome = await turn("[[die]]")
    assert outcome.kind == "error"
    assert outcome.text.startswith("You said: [[die]]")
    assert outcome.error is not None
    assert "exit code 1" in outcome.error
    assert "crashed mid-stream" in outcome.error
    assert outcome.session_id  # the thread can still resume what the agent saved


async def test_an_agent_that_goes_silent_is_killed_as_a_timeout() -> None:
    started = time.monotonic()
    outcome = await turn("[[hang]]", timeout_s=0.5)
    assert time.monotonic() - started < 3
    assert outcome.kind == "timeout"
    assert outcome.text.startswith("You said: [[hang]]")
    assert outcome.error is not None
    assert "0.5 seconds" in outcome.error
    assert no_agent_processes_left()


async def test_cancel_kills_the_agent_within_a_second_and_keeps_the_text(recorder: Recorder) -> None:
    cancel = asyncio.Event()
    running = asyncio.create_task(turn("[[hang]]", recorder=recorder, cancel=cancel))
    await asyncio.wait_for(recorder.first_text.wait(), 10)
    asked = time.monotonic()
    cancel.set()
    outcome = await running
    assert time.monotonic() - asked < 1
    assert outcome.kind == "cancelled"
    assert outcome.text == recorder.text
    assert outcome.text.startswith("You said: [[hang]]")
    assert no_agent_processes_left()


async def test_cancelling_the_turn_task_kills_the_agent_and_propagates(recorder: Recorder) -> None:
    running = asyncio.create_task(turn("[[hang]]", recorder=recorder))
    await asyncio.wait_for(recorder.first_text.wait(), 10)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert no_agent_processes_left()


async def test_a_failing_event_consumer_does_not_leave_the_agent_running() -> None:
    async def broken(_: object) -> None:
        raise RuntimeError("consumer failed")

    with pytest.raises(RuntimeError, match="consumer failed"):
        await run_agent_turn(
            SimulatorRunner(), "hello", None, on_events=broken, cancel=asyncio.Event(), inactivity_timeout_s=30
        )
    assert no_agent_processes_left()


async def test_a_missing_cli_is_offline(tmp_path: object) -> None:
    outcome = await turn("hello", runner=LocalRunner("/nonexistent/bin/claude"))
    assert outcome.kind == "offline"
    assert outcome.error is not None
    assert "/nonexistent" not in outcome.error


async def test_a_long_prompt_reaches_the_agent_whole() -> None:
    prompt = "x" * 300_000  # larger than a pipe buffer
    outcome = await turn(prompt)
    assert outcome.kind == "complete"
    assert outcome.text.startswith("You said: " + "x" * 200 + "\n\n")
