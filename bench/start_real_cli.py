"""Turn start with the REAL Claude Code CLI (the pinned one) against the tests' fake Messages API.

Per new thread, interleaved: the floor — the same CLI spawned directly with the worker's arguments
and environment, the message written at once, its first text delta read — then the thread's first
message through the stack (a new live agent: the one-shot path); then the live path: one more
message to a CLI process kept running (floor) and the thread's second message through the stack.
What the stack adds is the relay's quantile minus its floor's, and the median of the per-pair
differences (pairs are run back to back, so they see the same load).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandchat.agent_cli import live_args
from sandchat.agent_env import agent_environment
from sandchat.agent_process import AgentProcess, spawn
from sandchat_worker.agent_control import user_message

from bench.client import TurnTrace, new_threads, open_socket, run_turn
from bench.report import Figure, ScenarioResult, summary
from tests.stack import PINNED_CLI, Stack
from tests.worker.fake_messages_api import TEXT_REPLY, serve_fake_messages_api

PROMPT = "benchmark"
WARM_UP = 2
TEXT_DELTA = b'"text_delta"'
RESULT = b'"type":"result"'


@contextmanager
def real_cli_env(workdir: Path) -> Iterator[dict[str, str]]:
    """The stack's settings for the real CLI: the local runner, a throwaway home, the fake API on loopback."""
    home = workdir / "cli-home"
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    with serve_fake_messages_api() as api:
        yield {
            "AGENT_RUNNER": "local",
            "CLAUDE_BIN": str(PINNED_CLI),
            "HOME": str(home),
            "CLAUDE_CONFIG_DIR": str(home / ".claude"),
            "ANTHROPIC_BASE_URL": api.base_url,
            "ANTHROPIC_API_KEY": "test",
            "IS_SANDBOX": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }


class CliFloor:
    """The CLI run directly, as the worker's local runner starts it (same argv, environment, spawn)."""

    def __init__(self, process: AgentProcess, started: float) -> None:
        self.process = process
        self.started = started
        self.pending = b""

    @classmethod
    async def start(cls, env: dict[str, str]) -> CliFloor:
        started = time.perf_counter()
        args = live_args(str(uuid.uuid4()), resume=False, permission_mode="bypassPermissions")
        run_id = uuid.uuid4().hex
        process = await spawn(
            [str(PINNED_CLI), *args], agent_environment({**os.environ, **env}, run_marker=run_id), run_id
        )
        return cls(process, started)

    async def turn(self, since: float | None = None) -> float:
        """Write the message, read its first text delta and then its result; ms from ``since`` (or now)."""
        since = since or time.perf_counter()
        self.process.stdin.write(user_message(PROMPT))
        await self.process.stdin.drain()
        first: float | None = None
        while True:
            chunk = await self.process.stdout.read(1 << 20)
            if not chunk:
                raise RuntimeError("the CLI ended before its result")
            now = time.perf_counter()
            *lines, self.pending = (self.pending + chunk).split(b"\n")
            for line in lines:
                if first is None and TEXT_DELTA in line:
                    first = now
                if RESULT in line:
                    if first is None:
                        raise RuntimeError(f"the CLI's result came without text: {line[:200]!r}")
                    return (first - since) * 1000

    async def close(self) -> None:
        self.process.signal_group(signal.SIGKILL)
        await self.process.wait()
        self.process.close()


def _first_token_ms(trace: TurnTrace) -> float | None:
    if not trace.ok or trace.first_token_at is None or "".join(trace.text) != TEXT_REPLY:
        return None
    return (trace.first_token_at - trace.sent_at) * 1000


async def real_cli_first_token(stack: Stack, env: dict[str, str], threads_count: int) -> ScenarioResult:
    result = ScenarioResult("start_real_cli", {"threads": threads_count, "cli": PINNED_CLI.name})
    threads = await new_threads(stack.api_url, threads_count + WARM_UP)
    samples: dict[str, list[float]] = {
        name: [] for name in ("one_shot", "one_shot_floor", "live", "live_floor", "to_started")
    }
    failures = 0
    websocket = await open_socket(stack.gateway_url())
    try:
        for index, thread_id in enumerate(threads):
            floor = await CliFloor.start(env)
            try:
                cold_floor = await floor.turn(since=floor.started)
                warm_floor = await floor.turn()
            finally:
                await floor.close()
            cold_trace = await run_turn(websocket, thread_id, PROMPT, timeout=60)
            warm = _first_token_ms(await run_turn(websocket, thread_id, PROMPT, timeout=60))
            cold = _first_token_ms(cold_trace)
            await asyncio.sleep(0.25)  # one connection may send 5 requests a second after a burst
            if index < WARM_UP:
                continue
            if cold is None or warm is None or cold_trace.started_at is None:
                failures += 1
                continue
            to_started = (cold_trace.started_at - cold_trace.sent_at) * 1000
            pair = {"one_shot": cold, "one_shot_floor": cold_floor, "live": warm, "live_floor": warm_floor}
            for name, value in {**pair, "to_started": to_started}.items():
                samples[name].append(value)
    finally:
        await websocket.close()
    stats = {name: summary(values) for name, values in samples.items()}
    over = {
        path: {p: stats[path].get(p, 0.0) - stats[f"{path}_floor"].get(p, 0.0) for p in ("p50", "p90", "p99")}
        for path in ("one_shot", "live")
    }
    paired = {
        path: statistics.median(a - b for a, b in zip(samples[path], samples[f"{path}_floor"], strict=True))
        if samples[path]
        else float("nan")
        for path in ("one_shot", "live")
    }
    result.raw = {
        **{f"{name}_ms": value for name, value in stats.items()},
        "over_floor_ms": over,
        "paired_median_over_floor_ms": paired,
        "failures": failures,
    }
    one_shot = over["one_shot"]
    result.figures = [
        Figure(
            "first token, new agent p50",
            stats["one_shot"].get("p50", float("nan")),
            "ms",
            stats["one_shot_floor"].get("p50"),
        ),
        Figure("over floor, new agent p50", one_shot["p50"], "ms", target="<= 8 ms", met=one_shot["p50"] <= 8),
        Figure("over floor, new agent p90", one_shot["p90"], "ms"),
        Figure("over floor, new agent p99", one_shot["p99"], "ms", target="<= 20 ms", met=one_shot["p99"] <= 20),
        Figure("over floor, new agent, paired median", paired["one_shot"], "ms"),
        Figure(
            "first token, live agent p50", stats["live"].get("p50", float("nan")), "ms", stats["live_floor"].get("p50")
        ),
        Figure("over floor, live agent p50", over["live"]["p50"], "ms", target="<= 8 ms", met=over["live"]["p50"] <= 8),
        Figure(
            "over floor, live agent p99", over["live"]["p99"], "ms", target="<= 20 ms", met=over["live"]["p99"] <= 20
        ),
        Figure("message -> started p50", stats["to_started"].get("p50", float("nan")), "ms"),
        Figure("failed turns", failures, "", target="0", met=failures == 0),
    ]
    return result
