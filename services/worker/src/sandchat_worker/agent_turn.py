"""One agent turn: start the CLI through a runner, stream its events, and say how it ended.

The CLI runs in its own process group (so a kill reaches everything it started), here or in the
sandbox: the runner hands back an :class:`~sandchat.agent_process.AgentProcess` either way. It reads
the prompt on stdin and prints NDJSON on stdout. Agent problems never raise: they end the turn with a
:class:`~sandchat_worker.agent_events.TurnOutcome` of the matching kind, whose error is a fixed
sentence (sandchat_worker.agent_failures); what the agent said on stderr goes to the log only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from sandchat.agent_cli import turn_args
from sandchat.agent_process import AgentOutput, AgentProcess, AgentStartError

from sandchat_worker.agent_events import AgentEvent, StatusNote, TextDelta, TurnOutcome, merge_text_deltas
from sandchat_worker.agent_outcome import Stop, TurnEnding, turn_outcome
from sandchat_worker.agent_runners import AgentRunner
from sandchat_worker.agent_stream import OVERSIZED_LINE_NOTE, AgentStreamParser, LineSplitter

log = logging.getLogger(__name__)

OnEvents = Callable[[Sequence[AgentEvent]], Awaitable[None]]

# One read takes whatever has arrived, up to this much: a burst of tokens becomes one batch,
# and a multi-MB line (big tool output) is assembled from several reads (up to MAX_LINE_BYTES).
READ_CHUNK_BYTES: Final = 1 << 20
STDERR_TAIL_BYTES: Final = 8 * 1024
# SIGTERM first so the CLI can tidy up, SIGKILL after this; keeps a cancel well under 1 s.
KILL_GRACE_S: Final = 0.4
# After stdout closes, how long an exiting CLI may take before it is killed.
EXIT_WAIT_S: Final = 10.0

# Benchmarks only: with SIMULATOR_STAMP=1 the simulator stamps each delta with the time it wrote it,
# and the earliest stamp of each read rides along to the client (see docs/performance.md). Off, it
# costs one boolean test per read.
RELAY_STAMPS: Final = os.environ.get("SIMULATOR_STAMP") == "1"
_STAMP: Final = re.compile(rb'"sandchat_stamp":([0-9.eE+-]+)')


@dataclass(frozen=True, slots=True)
class StampedText(TextDelta):
    """A text delta carrying when the agent wrote its first part (benchmarks only)."""

    stamp: float


@dataclass(frozen=True, slots=True)
class _RunOptions:
    """What every run of the CLI in one turn shares (a turn runs it twice when its session was lost)."""

    on_events: OnEvents
    cancel: asyncio.Event
    inactivity_timeout_s: float


@dataclass(slots=True)
class _CliRun:
    """One run of the CLI: its ending, filled in as the run goes, and what completes it at the end."""

    ending: TurnEnding = field(default_factory=TurnEnding)
    parser: AgentStreamParser = field(default_factory=AgentStreamParser)
    stderr_tail: bytearray = field(default_factory=bytearray)


async def run_agent_turn(
    runner: AgentRunner,
    prompt: str,
    session_id: str | None,
    *,
    on_events: OnEvents,
    cancel: asyncio.Event,
    inactivity_timeout_s: float,
) -> TurnOutcome:
    """Run one turn to its end; errors come back as the outcome's kind, never as exceptions."""
    options = _RunOptions(on_events=on_events, cancel=cancel, inactivity_timeout_s=inactivity_timeout_s)
    run = await _run_cli(runner, prompt, session_id, options)
    result = run.parser.result
    if session_id and result is not None and result.is_stale_session and not run.ending.text:
        # The agent lost the thread's session (new sandbox, wiped home): start a fresh one in this turn.
        log.info("agent session %s is gone; starting a new one", session_id)
        run = await _run_cli(runner, prompt, None, options)
        session_id = None
    return _outcome(run, session_id, inactivity_timeout_s)


async def _run_cli(runner: AgentRunner, prompt: str, session_id: str | None, options: _RunOptions) -> _CliRun:
    run = _CliRun()
    ending = run.ending
    try:
        process = await runner.start(turn_args(session_id))
    except AgentStartError as exc:
        ending.not_started = str(exc)
        return run
    feeding = asyncio.create_task(_feed_prompt(process, prompt))
    collecting = asyncio.create_task(collect_stderr(process, run.stderr_tail))
    cancelled = asyncio.create_task(options.cancel.wait())
    try:
        ending.stopped = await _stream(process, run, options.on_events, cancelled, options.inactivity_timeout_s)
        if ending.stopped is None:
            ending.stopped = await _wait_for_exit(process, cancelled, options.inactivity_timeout_s)
    finally:
        # Also on CancelledError and on a failing on_events: never leave the agent running.
        await _stop(process)
        cancelled.cancel()
        feeding.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(collecting, 1.0)
        process.close()
        ending.returncode = process.returncode
        ending.lost = process.lost
    return run


async def _stream(
    process: AgentProcess,
    run: _CliRun,
    on_events: OnEvents,
    cancelled: asyncio.Task[Literal[True]],
    inactivity_timeout_s: float,
) -> Stop | None:
    """Read stdout until EOF; returns why it stopped early, or None at EOF."""
    splitter = LineSplitter()
    while True:
        if cancelled.done():
            return "cancelled"
        reading = asyncio.ensure_future(process.stdout.read(READ_CHUNK_BYTES))
        done, _ = await asyncio.wait({reading, cancelled}, timeout=inactivity_timeout_s, return_when="FIRST_COMPLETED")
        if reading not in done:
            reading.cancel()
            return "cancelled" if cancelled in done else "timeout"
        chunk = reading.result()
        oversized = splitter.oversized
        lines = splitter.feed(chunk) if chunk else splitter.finish()
        events: list[AgentEvent] = []
        for line in lines:
            events += run.parser.feed(line)
        if splitter.oversized > oversized:
            events.append(StatusNote(OVERSIZED_LINE_NOTE))
        if events:
            run.ending.text += [event.text for event in events if isinstance(event, TextDelta)]
            merged = merge_text_deltas(events)
            if RELAY_STAMPS:
                stamp_first_text(merged, lines)
            await on_events(merged)
        if run.parser.auth_failed:
            # The CLI would retry rejected credentials ten times over minutes; none can succeed.
            return "unauthenticated"
        if not chunk:
            return None


def stamp_first_text(events: list[AgentEvent], lines: list[bytes]) -> None:
    stamp = next((match.group(1) for line in lines if (match := _STAMP.search(line))), None)
    for index, event in enumerate(events):
        if isinstance(event, TextDelta):
            if stamp is not None:
                events[index] = StampedText(event.text, float(stamp))
            return


async def _wait_for_exit(
    process: AgentProcess, cancelled: asyncio.Task[Literal[True]], inactivity_timeout_s: float
) -> Stop | None:
    exiting = asyncio.ensure_future(process.wait())
    done, _ = await asyncio.wait(
        {exiting, cancelled}, timeout=min(EXIT_WAIT_S, inactivity_timeout_s), return_when="FIRST_COMPLETED"
    )
    if exiting in done:
        return None
    exiting.cancel()
    return "cancelled" if cancelled in done else "timeout"


async def _feed_prompt(process: AgentProcess, prompt: str) -> None:
    # A CLI that dies before reading its prompt shows up in its exit, not here.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(prompt.encode())
        await process.stdin.drain()
    process.stdin.close()


async def collect_stderr(process: AgentProcess, tail: bytearray) -> None:
    while chunk := await process.stderr.read(READ_CHUNK_BYTES):
        tail += chunk
        del tail[:-STDERR_TAIL_BYTES]


async def _stop(process: AgentProcess) -> None:
    """Kill the CLI's whole process group: SIGTERM, then SIGKILL after a short grace."""
    if process.returncode is None:
        process.signal_group(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), KILL_GRACE_S)
    # Whatever the CLI started (tool commands) dies with it.
    process.signal_group(signal.SIGKILL)
    await process.wait()
    # Drain what is left so the pipes reach EOF and the transport closes cleanly.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_drain(process.stdout), 1.0)


async def _drain(stream: AgentOutput) -> None:
    while await stream.read(READ_CHUNK_BYTES):
        pass


def _outcome(run: _CliRun, session_id: str | None, inactivity_timeout_s: float) -> TurnOutcome:
    ending, parser = run.ending, run.parser
    ending.result, ending.session_id, ending.auth_failed = parser.result, parser.session_id, parser.auth_failed
    ending.stderr_tail = bytes(run.stderr_tail)
    return turn_outcome(ending, session_id, inactivity_timeout_s)
