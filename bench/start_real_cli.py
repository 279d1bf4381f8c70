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
from typing import Any

from sandchat.agent_cli import live_args
from sandchat.agent_env import agent_environment
from sandchat.agent_process import AgentProcess, spawn
from sandchat_dev.stack import PINNED_CLI
from sandchat_worker.agent_control import user_message

from bench.client import TurnTrace, new_threads, open_socket, run_turn
from bench.report import Figure, ScenarioResult, summary
from bench.span_timeline import SpanStore, legs
from tests.stack import Stack
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


async def real_cli_first_token(
    stacks: dict[str, Stack], env: dict[str, str], threads_count: int, spans: SpanStore | None = None
) -> ScenarioResult:
    """Per thread: the floor, then each stack's new-agent and live-agent turns (the stacks' order alternates).

    Several stacks (e.g. ``before``/``after`` an optimisation, one code tree each) measure an A/B in
    one run: each turn of each stack sits right beside the same floor, under the same load.
    """
    result = ScenarioResult("start_real_cli", {"threads": threads_count, "cli": PINNED_CLI.name, "stacks": [*stacks]})
    threads = {label: await new_threads(stack.api_url, threads_count + WARM_UP) for label, stack in stacks.items()}
    samples: dict[str, dict[str, list[float]]] = {
        label: {name: [] for name in ("one_shot", "one_shot_floor", "live", "live_floor", "to_started")}
        for label in stacks
    }
    failures = dict.fromkeys(stacks, 0)
    measured: dict[str, list[str]] = {label: [] for label in stacks}
    websockets = {label: await open_socket(stack.gateway_url()) for label, stack in stacks.items()}
    try:
        for index in range(threads_count + WARM_UP):
            floor = await CliFloor.start(env)
            try:
                cold_floor = await floor.turn(since=floor.started)
                warm_floor = await floor.turn()
            finally:
                await floor.close()
            labels = list(stacks) if index % 2 == 0 else list(reversed(stacks))
            for label in labels:
                thread_id, websocket = threads[label][index], websockets[label]
                cold_trace = await run_turn(websocket, thread_id, PROMPT, timeout=60)
                warm = _first_token_ms(await run_turn(websocket, thread_id, PROMPT, timeout=60))
                cold = _first_token_ms(cold_trace)
                await asyncio.sleep(0.25)  # one connection may send 5 requests a second after a burst
                if index < WARM_UP:
                    continue
                if cold is None or warm is None or cold_trace.started_at is None:
                    failures[label] += 1
                    continue
                to_started = (cold_trace.started_at - cold_trace.sent_at) * 1000
                pair = {"one_shot": cold, "one_shot_floor": cold_floor, "live": warm, "live_floor": warm_floor}
                for name, value in {**pair, "to_started": to_started}.items():
                    samples[label][name].append(value)
                measured[label].append(thread_id)
    finally:
        await asyncio.gather(*(websocket.close() for websocket in websockets.values()))
    result.raw = {label: _stats(samples[label], failures[label]) for label in stacks}
    if spans is not None:
        for label in stacks:
            result.raw[label]["legs_p50_ms"] = await _legs(spans, measured[label])
    for label in stacks:
        result.figures += _figures(label if len(stacks) > 1 else "", result.raw[label])
    return result


async def _legs(spans: SpanStore, thread_ids: list[str]) -> dict[str, dict[str, float]]:
    """Per path (new agent, live agent), each leg's median over the threads' turns (bench/span_timeline.py)."""
    for _ in range(50):  # the services export every 100 ms: wait for the last turns' spans
        if all(len(spans.turns_of_thread(thread_id)) >= 2 for thread_id in thread_ids[-3:]):
            break
        await asyncio.sleep(0.1)
    per_path: dict[str, dict[str, list[float]]] = {"one_shot": {}, "live": {}}
    for thread_id in thread_ids:
        for path, turn in zip(("one_shot", "live"), spans.turns_of_thread(thread_id), strict=False):
            for leg, ms in (legs(turn) or {}).items():
                per_path[path].setdefault(leg, []).append(ms)
    return {path: {leg: statistics.median(values) for leg, values in found.items()} for path, found in per_path.items()}


def _stats(samples: dict[str, list[float]], failures: int) -> dict[str, Any]:
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
    return {
        **{f"{name}_ms": value for name, value in stats.items()},
        "over_floor_ms": over,
        "paired_median_over_floor_ms": paired,
        "failures": failures,
    }


def _figures(label: str, raw: dict[str, Any]) -> list[Figure]:
    name = f"[{label}] " if label else ""
    over, paired, nan = raw["over_floor_ms"], raw["paired_median_over_floor_ms"], float("nan")
    figures: list[Figure] = []
    for path, what in (("one_shot", "new agent"), ("live", "live agent")):
        p50, p99 = over[path]["p50"], over[path]["p99"]
        figures += [
            Figure(
                f"{name}first token, {what} p50",
                raw[f"{path}_ms"].get("p50", nan),
                "ms",
                raw[f"{path}_floor_ms"].get("p50"),
            ),
            Figure(f"{name}over floor, {what} p50", p50, "ms", target="<= 8 ms", met=p50 <= 8),
            Figure(f"{name}over floor, {what} p90", over[path]["p90"], "ms"),
            Figure(f"{name}over floor, {what} p99", p99, "ms", target="<= 20 ms", met=p99 <= 20),
            Figure(f"{name}over floor, {what}, paired median", paired[path], "ms"),
        ]
    for path, what in (("one_shot", "new agent"), ("live", "live agent")):
        for leg, ms in raw.get("legs_p50_ms", {}).get(path, {}).items():
            figures.append(Figure(f"{name}{what}, {leg} p50", ms, "ms"))
    failures = raw["failures"]
    return [
        *figures,
        Figure(f"{name}message -> started p50", raw["to_started_ms"].get("p50", nan), "ms"),
        Figure(f"{name}failed turns", failures, "", target="0", met=failures == 0),
    ]
