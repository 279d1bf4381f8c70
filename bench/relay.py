"""The relay scenarios: time to first token, throughput, concurrency. Each runs its floor in the same run."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from sandchat.agent_cli import turn_args
from sandchat_worker.agent_runners import simulator_command
from sandchat_worker.simulator import _reply_deltas

from bench.client import TurnTrace, new_threads, open_socket, run_turn
from bench.floor import run_simulator
from bench.report import Figure, ScenarioResult, summary
from tests.stack import Stack

PROMPT = "benchmark"
TTFT_CONNECTIONS = 8


def _expected_text(tokens: int) -> str:
    return "".join(_reply_deltas(PROMPT, tokens, markdown=False))


async def time_to_first_token(stack: Stack, env: dict[str, str], turns: int) -> ScenarioResult:
    """Message -> first token over the WebSocket, interleaved with the floor (spawn -> first delta)."""
    result = ScenarioResult("time_to_first_token", {"turns": turns, "SIMULATOR_TOKENS": env["SIMULATOR_TOKENS"]})
    threads = await new_threads(stack.api_url, turns + 5)
    relay_ms: list[float] = []
    floor_ms: list[float] = []
    to_started_ms: list[float] = []  # message sent -> `started` (gateway: store the messages, lock, enqueue)
    to_agent_ms: list[float] = []  # message sent -> the agent wrote its first delta (queue, worker, spawn)
    from_agent_ms: list[float] = []  # the agent wrote it -> the client has it (publish, fan-out, socket)
    failures = 0
    # Several connections, used in turn: the gateway allows one connection 5 requests a second
    # (after a burst of 20) and drops the rest, and turns here can come faster than that.
    websockets = [await open_socket(stack.gateway_url()) for _ in range(TTFT_CONNECTIONS)]
    try:
        for index, thread_id in enumerate(threads):
            floor = await run_simulator(env, PROMPT)
            try:
                trace = await run_turn(websockets[index % TTFT_CONNECTIONS], thread_id, PROMPT, timeout=30)
            except TimeoutError:
                failures += 1
                continue
            if index < 5:  # warm-up: the first turns fill caches and connection pools
                continue
            if not trace.ok or trace.first_token_at is None:
                failures += 1
                continue
            floor_ms.append(floor.first_delta_s * 1000)
            relay_ms.append((trace.first_token_at - trace.sent_at) * 1000)
            if trace.started_at is not None:
                to_started_ms.append((trace.started_at - trace.sent_at) * 1000)
            if trace.stamps:
                to_agent_ms.append((trace.stamps[0] - trace.sent_wall) * 1000)
                from_agent_ms.append(trace.delivery_s[0] * 1000)
    finally:
        await asyncio.gather(*(websocket.close() for websocket in websockets))
    relay, floor_summary = summary(relay_ms), summary(floor_ms)
    # Quantile by quantile: the relay's pX minus the floor's pX (both measured interleaved, same load).
    over = {p: relay[p] - floor_summary[p] for p in ("p50", "p95", "p99")}
    result.raw = {
        "relay_ms": relay,
        "floor_ms": floor_summary,
        "over_floor_ms": over,
        "message_to_started_ms": summary(to_started_ms),
        "message_to_agent_write_ms": summary(to_agent_ms),
        "agent_write_to_client_ms": summary(from_agent_ms),
        "failures": failures,
    }
    result.figures = [
        Figure("first token p50", relay["p50"], "ms", floor_summary["p50"]),
        Figure("first token p99", relay["p99"], "ms", floor_summary["p99"]),
        Figure("over floor p50", over["p50"], "ms", target="<= 15 ms", met=over["p50"] <= 15),
        Figure("over floor p95", over["p95"], "ms"),
        Figure("over floor p99", over["p99"], "ms", target="<= 40 ms", met=over["p99"] <= 40),
    ]
    if failures:
        result.notes.append(f"{failures} turns did not end in done")
    return result


REPLAY_SCRIPT = """#!/bin/sh
# The agent for the recorded-stream benchmark: prints a recorded simulator turn as fast as a pipe takes it.
if [ "$1" = auth ]; then echo '{"loggedIn": true, "authMethod": "claude.ai", "apiProvider": "firstParty"}'; exit 0; fi
exec cat "$0.ndjson"
"""


async def record_agent(workdir: Path, env: dict[str, str], deltas: int) -> Path:
    """A stand-in CLI that replays one recorded simulator turn of ``deltas`` deltas at pipe speed."""
    script = workdir / "recorded-agent"
    process = await asyncio.create_subprocess_exec(
        *simulator_command(),
        *turn_args(None),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **env, "SIMULATOR_TOKENS": str(deltas), "SIMULATOR_DELAY_MS": "0"},
    )
    recording, _ = await process.communicate(PROMPT.encode())
    script.with_name(script.name + ".ndjson").write_bytes(recording)
    script.write_text(REPLAY_SCRIPT)
    script.chmod(0o755)
    return script


async def relay_throughput(
    stack: Stack, env: dict[str, str], deltas: int, *, recorded: Path | None = None
) -> ScenarioResult:
    """One long turn at full speed: characters per second at the client vs read from the agent directly.

    With ``recorded``, the agent is a recorded turn replayed by ``cat``: a producer much faster than
    the simulator, so the relay itself is the bottleneck.
    """
    name = "relay_throughput_recorded" if recorded else "relay_throughput"
    result = ScenarioResult(name, {"deltas": deltas, "SIMULATOR_DELAY_MS": 0, "agent": str(recorded or "simulator")})
    floor = await run_simulator(env, PROMPT, [str(recorded)] if recorded else None)
    (thread_id,) = await new_threads(stack.api_url, 1)
    websocket = await open_socket(stack.gateway_url())
    try:
        trace = await run_turn(websocket, thread_id, PROMPT, timeout=600)
    finally:
        await websocket.close()
    text = "".join(trace.text)
    assert trace.first_token_at is not None
    assert trace.last_token_at is not None
    stream_s = max(trace.last_token_at - trace.first_token_at, 1e-9)
    relay_cps = len(text) / stream_s
    floor_cps = floor.chars / max(floor.stream_s, 1e-9)
    exact = text == _expected_text(deltas)
    result.raw = {
        "relay": {"chars": len(text), "tokens": len(trace.seqs) - 1, "stream_s": stream_s, "exact": exact},
        "floor": {"chars": floor.chars, "deltas": floor.deltas, "stream_s": floor.stream_s},
        "relay_total_s": (trace.last_token_at - trace.sent_at),
    }
    result.figures = [
        Figure("chars/s at client", relay_cps, "ch/s", floor_cps, ">= 50% of floor", relay_cps >= 0.5 * floor_cps),
        Figure("chars/s absolute", relay_cps, "ch/s", target=">= 200,000 ch/s", met=relay_cps >= 200_000),
        Figure("tokens (frames) at client", len(trace.seqs) - 1, "", floor.deltas),
        Figure("text exact", float(exact), "", target="1", met=exact),
    ]
    return result


def _cpu(process: psutil.Process) -> tuple[float, float]:
    """(own CPU seconds, CPU seconds of reaped children: the simulators a worker ran)."""
    times = process.cpu_times()
    return times.user + times.system, times.children_user + times.children_system


async def concurrency(stack: Stack, env: dict[str, str], chats: int) -> ScenarioResult:
    """Many chats at once: completion, lost/doubled text, per-delta delivery latency, CPU per 1,000 deltas."""
    tokens = int(env["SIMULATOR_TOKENS"])
    settings: dict[str, Any] = {"chats": chats, "deltas": tokens, "delay_ms": int(env["SIMULATOR_DELAY_MS"])}
    settings["workers"] = len(stack.workers())
    result = ScenarioResult("concurrency", settings)
    threads = await new_threads(stack.api_url, chats)
    sockets = await asyncio.gather(*(open_socket(stack.gateway_url()) for _ in range(chats)))
    processes = {service.name: psutil.Process(service.process.pid) for service in stack.services if service.process}
    idle_before = {name: _cpu(process)[0] for name, process in processes.items()}
    await asyncio.sleep(2.0)
    idle = {name: (_cpu(process)[0] - idle_before[name]) / 2.0 * 100 for name, process in processes.items()}
    before = {name: _cpu(process) for name, process in processes.items()}
    started = time.perf_counter()
    try:
        traces: list[TurnTrace | BaseException] = await asyncio.gather(
            *(run_turn(ws, thread_id, PROMPT) for ws, thread_id in zip(sockets, threads, strict=True)),
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    wall_s = time.perf_counter() - started
    await asyncio.sleep(0.5)  # let the workers reap their last simulators
    after = {name: _cpu(process) for name, process in processes.items()}

    expected = _expected_text(tokens)
    ended = [t for t in traces if isinstance(t, TurnTrace)]
    done = [t for t in ended if t.ok]
    # Lost or doubled: a completed reply that is not the simulator's exact text, any turn whose seqs
    # are not 1, 2, 3 … without gaps, or a stored reply that differs from what its client received.
    wrong = [t for t in ended if not t.seqs_in_order or (t.ok and "".join(t.text) != expected)]
    stored_wrong = await _stored_mismatches(stack.api_url, threads, traces)
    failures: dict[str, int] = {}
    for trace in ended:
        if not trace.ok:
            code = str((trace.final or {}).get("code", "no final event"))
            failures[code] = failures.get(code, 0) + 1
    delivery_ms = [d * 1000 for t in done for d in t.delivery_s]
    delivered = summary(delivery_ms)
    total_deltas = len(done) * tokens
    per_k = 1000 / max(total_deltas, 1)
    cpu = {name: (after[name][0] - before[name][0]) * per_k for name in processes}
    agent_cpu = sum(after[name][1] - before[name][1] for name in processes if name.startswith("worker")) * per_k
    result.raw = {
        "completed": len(done),
        "wall_s": wall_s,
        "wrong_text_or_seq": len(wrong),
        "failed_turns_by_code": failures,
        "stored_text_mismatch": stored_wrong,
        "delivery_ms": delivered,
        "cpu_s_per_1000_deltas": {**cpu, "simulators (the agent)": agent_cpu},
        "idle_cpu_percent": idle,
        "errors": [repr(t) for t in traces if isinstance(t, BaseException)][:5]
        + [str(t.final) for t in traces if isinstance(t, TurnTrace) and not t.ok][:5],
    }
    lost = len(wrong) + stored_wrong
    result.figures = [
        Figure("completed", len(done), "chats", chats, f"{chats}", len(done) == chats),
        Figure("lost or doubled", lost, "turns", target="0", met=lost == 0),
        Figure("delivery p50", delivered.get("p50", float("nan")), "ms"),
        Figure(
            "delivery p99",
            delivered.get("p99", float("nan")),
            "ms",
            target="<= 50 ms",
            met=delivered.get("p99", float("inf")) <= 50,
        ),
    ]
    for name in sorted(cpu):
        result.figures.append(Figure(f"CPU/1k deltas {name}", cpu[name], "s", agent_cpu))
    for name in sorted(idle):
        result.figures.append(Figure(f"idle CPU {name}", idle[name], "%"))
    result.notes.append("CPU baseline = the simulators' own CPU per 1,000 deltas (the agent).")
    if failures:
        result.notes.append(f"turns that ended in an error (not counted as lost text): {failures}")
    return result


async def _stored_mismatches(api_url: str, threads: list[str], traces: list[TurnTrace | BaseException]) -> int:
    """Turns whose stored assistant message differs from what the client received."""
    mismatches = 0
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        for thread_id, trace in zip(threads, traces, strict=True):
            if not isinstance(trace, TurnTrace) or trace.started_at is None or trace.final is None:
                continue  # refused before the turn existed: nothing stored to compare
            messages = (await http.get(f"/threads/{thread_id}/messages")).json()["messages"]
            reply = messages[-1]
            if reply["content"] != "".join(trace.text) or reply["status"] == "streaming":
                mismatches += 1
    return mismatches
