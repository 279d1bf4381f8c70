"""Live agents measured on their own (no stack): `python -m bench.live_agent [--runs N]`.

For the simulator and for the real CLI (pinned) against the fake Messages API on loopback:
- a turn of a new process vs a turn of a process that already ran one: message written → the
  turn's `system/init`, and → its first text delta (read straight off the process's stdout);
- the same first text delta through :class:`LiveAgent` (what the worker sees), and a one-shot turn
  (`run_agent_turn`, a process per turn) beside it;
- stop → the turn's end through :class:`LiveAgent` (the `interrupt` control request, mid-reply);
- the memory of one idle live agent (RSS of its whole process group after a turn).
Medians and 90th percentiles of ``--runs`` runs, in milliseconds (MB for memory).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import psutil
from sandchat.agent_cli import live_args
from sandchat_worker.agent_control import user_message
from sandchat_worker.agent_events import AgentEvent, TextDelta
from sandchat_worker.agent_runners import AgentRunner, LocalRunner, SimulatorRunner
from sandchat_worker.agent_session import AgentSpec, LiveAgent
from sandchat_worker.agent_turn import run_agent_turn

from bench.floor import agent_lines
from tests.worker.fake_messages_api import cli_environment, serve_fake_messages_api

ROOT = Path(__file__).resolve().parents[1]
CLAUDE_BIN = ROOT / "services/worker/claude-cli/node_modules/.bin/claude"


async def raw_turns(runner: AgentRunner) -> tuple[list[float], list[float]]:
    """[init, first delta] of turn 1 and of turn 2 of one process, seconds from the message written."""
    process = await runner.start(
        live_args(str(uuid.uuid4()), resume=False, permission_mode="default", allowed_tools=())
    )
    lines = agent_lines(process.stdout)
    times: list[list[float]] = []
    try:
        for prompt in ("first message", "second message"):
            started = time.perf_counter()
            process.stdin.write(user_message(prompt))
            await process.stdin.drain()
            init = first = 0.0
            while line := await anext(lines, b""):
                if not init and b'"subtype":"init"' in line.replace(b" ", b""):
                    init = time.perf_counter() - started
                if not first and b'"text_delta"' in line:
                    first = time.perf_counter() - started
                if b'"type":"result"' in line.replace(b" ", b""):
                    break
            times.append([init, first])
    finally:
        process.stdin.close()
        process.signal_group(signal.SIGKILL)
        await process.wait()
        process.close()
    return times[0], times[1]


class FirstText:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.at: float | None = None

    async def __call__(self, events: Sequence[AgentEvent]) -> None:
        if self.at is None and any(isinstance(event, TextDelta) for event in events):
            self.at = time.perf_counter() - self.started


async def agent_turns(runner: AgentRunner) -> tuple[float, float, float, float]:
    """LiveAgent: first text of a new agent's turn (from start()), of its second turn, stop → end, idle RSS (MB)."""
    first = FirstText()
    agent = await LiveAgent.start(runner, AgentSpec("bench", None, "default"))
    try:
        await agent.run_turn("hello", on_events=first, stop=asyncio.Event(), inactivity_timeout_s=60)
        second = FirstText()
        await agent.run_turn("hello again", on_events=second, stop=asyncio.Event(), inactivity_timeout_s=60)
        rss = group_rss_mb(agent.pid)
        stop = asyncio.Event()
        stopped: list[float] = []

        async def stop_at_first_text(events: Sequence[AgentEvent]) -> None:
            if not stop.is_set() and any(isinstance(event, TextDelta) for event in events):
                stopped.append(time.perf_counter())
                stop.set()

        outcome = await agent.run_turn(
            "[[slow]] a long one", on_events=stop_at_first_text, stop=stop, inactivity_timeout_s=60
        )
        assert outcome.kind == "cancelled", outcome
        interrupt = time.perf_counter() - stopped[0]
    finally:
        await agent.close()
    assert first.at is not None
    assert second.at is not None
    return first.at, second.at, interrupt, rss


async def one_shot_first_text(runner: AgentRunner) -> float:
    first = FirstText()
    await run_agent_turn(runner, "hello", None, on_events=first, cancel=asyncio.Event(), inactivity_timeout_s=60)
    assert first.at is not None
    return first.at


def group_rss_mb(pgid: int | None) -> float:
    total = 0
    for process in psutil.process_iter(["memory_info"]):
        try:
            if pgid is not None and os.getpgid(process.pid) == pgid:
                total += process.info["memory_info"].rss
        except (ProcessLookupError, psutil.Error):
            continue
    return total / 1e6


def summary(values: list[float], scale: float = 1000.0) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * scale:8.1f} {p90 * scale:8.1f}"


async def measure(name: str, runner: AgentRunner, runs: int) -> None:
    rows: dict[str, list[float]] = {}
    for _ in range(runs):
        (init1, first1), (init2, first2) = await raw_turns(runner)
        agent_first, agent_second, interrupt, rss = await agent_turns(runner)
        one_shot = await one_shot_first_text(runner)
        for key, value in (
            ("raw: message → init, new process", init1),
            ("raw: message → init, second turn", init2),
            ("raw: message → first token, new process", first1),
            ("raw: message → first token, second turn", first2),
            ("LiveAgent: start → first token, first turn", agent_first),
            ("LiveAgent: message → first token, second turn", agent_second),
            ("one-shot turn: spawn → first token", one_shot),
            ("LiveAgent: stop → turn ended (interrupt)", interrupt),
        ):
            rows.setdefault(key, []).append(value)
        rows.setdefault("idle live agent RSS (MB)", []).append(rss / 1000.0)
    print(f"\n{name} ({runs} runs)                              median      p90")
    for key, values in rows.items():
        print(f"  {key:52} {summary(values)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.live_agent", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        home, workspace = Path(scratch, "home"), Path(scratch, "workspace")
        home.mkdir()
        workspace.mkdir()
        os.chdir(workspace)
        os.environ.update(SIMULATOR_STATE_DIR=str(Path(scratch, "simulator")), SIMULATOR_DELAY_MS="20")
        asyncio.run(measure("simulator", SimulatorRunner(), args.runs))
        if not CLAUDE_BIN.exists():
            sys.exit(f"The Claude Code CLI is not installed at {CLAUDE_BIN}: run `make install`.")
        with serve_fake_messages_api() as api:
            os.environ.update(cli_environment(api, home))
            asyncio.run(measure("real CLI vs fake Messages API", LocalRunner(str(CLAUDE_BIN)), args.runs))


if __name__ == "__main__":
    main()
