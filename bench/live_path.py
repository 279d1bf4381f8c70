"""Time to first token on the live path next to the one-shot path, interleaved in one run.

Through the stack, a thread's first message starts its agent's process (what every turn cost when
each turn was a process of its own: the one-shot path); its next message is one more line to the
process already running (the live path). Each has its floor, measured the same way right beside it:

- one-shot floor: spawn the simulator for one turn and read its first text delta (bench/floor.py);
- live floor: write one more message to a simulator process already running and read its first
  text delta (no queue, no Redis, no gateway).

What the relay adds on each path is its figure minus its floor, quantile by quantile.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

from sandchat.agent_cli import live_args
from sandchat.agent_process import AgentProcess
from sandchat_worker.agent_control import user_message
from sandchat_worker.agent_runners import SimulatorRunner

from bench.client import TurnTrace, new_threads, open_socket, run_turn
from bench.floor import agent_lines, environment, run_simulator
from bench.report import Figure, ScenarioResult, summary
from tests.stack import Stack

PROMPT = "benchmark"
WARM_UP = 3


class LiveFloor:
    """One simulator process kept running, as a worker keeps a thread's live agent."""

    def __init__(self, process: AgentProcess) -> None:
        self.process = process
        self.lines = agent_lines(process.stdout)

    @classmethod
    async def start(cls, env: dict[str, str]) -> LiveFloor:
        with environment(env):  # the runner passes the SIMULATOR_* knobs of this process on
            process = await SimulatorRunner().start(
                live_args(str(uuid.uuid4()), resume=False, permission_mode="bypassPermissions")
            )
        floor = cls(process)
        await floor.first_delta_s()  # the process's own start is the one-shot path's cost, not this one's
        return floor

    async def first_delta_s(self) -> float:
        """Message written -> its first text delta read; then read the turn to its end."""
        started = time.perf_counter()
        self.process.stdin.write(user_message(PROMPT))
        await self.process.stdin.drain()
        first: float | None = None
        async for line in self.lines:
            if first is None and b'"text_delta"' in line:
                first = time.perf_counter() - started
            if b'"result"' in line and b'"type":"result"' in line.replace(b" ", b""):
                break
        if first is None:
            raise RuntimeError("the live simulator printed no text")
        return first

    async def close(self) -> None:
        self.process.stdin.close()
        self.process.signal_group(signal.SIGKILL)
        await self.process.wait()
        self.process.close()


def _first_token_ms(trace: TurnTrace, failures: dict[str, int]) -> float | None:
    """The turn's first token, or None for a turn that failed (counted by its final event's code)."""
    if not trace.ok or trace.first_token_at is None:
        code = str((trace.final or {}).get("code", "no final event"))
        failures[code] = failures.get(code, 0) + 1
        return None
    return (trace.first_token_at - trace.sent_at) * 1000


async def live_and_one_shot(stack: Stack, env: dict[str, str], pairs: int) -> ScenarioResult:
    """Per thread: its first message (one-shot path) and its second (live path), each beside its floor."""
    result = ScenarioResult("first_token_live_path", {"pairs": pairs, "SIMULATOR_TOKENS": env["SIMULATOR_TOKENS"]})
    threads = await new_threads(stack.api_url, pairs + WARM_UP)
    samples: dict[str, list[float]] = {"one_shot": [], "one_shot_floor": [], "live": [], "live_floor": []}
    failures: dict[str, int] = {}
    websocket = await open_socket(stack.gateway_url())
    live_floor = await LiveFloor.start(env)
    try:
        for index, thread_id in enumerate(threads):
            one_shot_floor = (await run_simulator(env, PROMPT)).first_delta_s * 1000
            cold = _first_token_ms(await run_turn(websocket, thread_id, PROMPT, timeout=30), failures)
            warm_floor = await live_floor.first_delta_s() * 1000
            warm = _first_token_ms(await run_turn(websocket, thread_id, PROMPT, timeout=30), failures)
            # One connection may send 5 requests a second after a burst of 20: two messages per 0.4 s stay under it.
            await asyncio.sleep(0.4)
            if index < WARM_UP:
                continue
            if cold is None or warm is None:
                continue
            samples["one_shot"].append(cold)
            samples["one_shot_floor"].append(one_shot_floor)
            samples["live"].append(warm)
            samples["live_floor"].append(warm_floor)
    finally:
        await live_floor.close()
        await websocket.close()
    stats = {name: summary(values) for name, values in samples.items()}
    over = {
        path: {p: stats[path][p] - stats[f"{path}_floor"][p] for p in ("p50", "p95", "p99")}
        for path in ("one_shot", "live")
    }
    result.raw = {**{f"{name}_ms": value for name, value in stats.items()}, "over_floor_ms": over, "failures": failures}
    failed = sum(failures.values())
    result.figures = [
        Figure("first token, one-shot path p50", stats["one_shot"]["p50"], "ms", stats["one_shot_floor"]["p50"]),
        Figure("first token, live path p50", stats["live"]["p50"], "ms", stats["live_floor"]["p50"]),
        Figure("first token, live path p99", stats["live"]["p99"], "ms", stats["live_floor"]["p99"]),
        Figure("live / one-shot, first token p50", stats["live"]["p50"], "ms", stats["one_shot"]["p50"]),
        Figure("relay over floor, one-shot p50", over["one_shot"]["p50"], "ms"),
        Figure(
            "relay over floor, live p50", over["live"]["p50"], "ms", target="<= 15 ms", met=over["live"]["p50"] <= 15
        ),
        Figure(
            "relay over floor, live p99", over["live"]["p99"], "ms", target="<= 40 ms", met=over["live"]["p99"] <= 40
        ),
        Figure("failed turns", failed, "", target="0", met=failed == 0),
    ]
    return result
