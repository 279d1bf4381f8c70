"""What observability costs: time to first token and relay CPU with tracing on versus off, same run.

Two stacks run side by side on the same Redis: "off" as shipped (metrics on, as always; tracing
off) and "on" (metrics and tracing, every span exported over OTLP/HTTP to the span store in
this process, bench/span_timeline.py). Their turns alternate, round by round, so both see the same
machine load. Metrics themselves are never off; their own cost per call is measured in-process
(:func:`metric_call_ns`) and multiplied by the calls a token makes.
"""

from __future__ import annotations

import asyncio
import time

import psutil
from sandchat import metrics

from bench.client import TurnTrace, new_threads, open_socket, run_turn
from bench.report import Figure, ScenarioResult, summary
from bench.span_timeline import SpanStore
from tests.stack import Stack

PROMPT = "benchmark"
CONNECTIONS = 8  # the gateway allows one connection 5 requests a second after a burst of 20
MODES = ("off", "on")


def metric_call_ns(calls: int = 200_000) -> dict[str, float]:
    """Nanoseconds per call of the metric operations on the relay's path (counter, histogram)."""
    counter = metrics.RELAY_FRAMES
    started = time.perf_counter_ns()
    for _ in range(calls):
        counter.inc()
    inc_ns = (time.perf_counter_ns() - started) / calls
    histogram = metrics.FIRST_TOKEN
    started = time.perf_counter_ns()
    for _ in range(calls):
        histogram.observe(0.05)
    observe_ns = (time.perf_counter_ns() - started) / calls
    return {"counter_inc_ns": inc_ns, "histogram_observe_ns": observe_ns}


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def observability_cost(
    stacks: dict[str, Stack], spans: SpanStore, turns: int, chats: int, rounds: int
) -> ScenarioResult:
    tokens_per_turn = int(stacks["off"].env["SIMULATOR_TOKENS"])
    result = ScenarioResult(
        "observability_cost", {"turns": turns, "chats": chats, "rounds": rounds, "tokens_per_turn": tokens_per_turn}
    )
    first_token_ms: dict[str, list[float]] = {mode: [] for mode in MODES}
    failures = dict.fromkeys(MODES, 0)
    threads = {mode: await new_threads(stacks[mode].api_url, turns + 5 + chats * rounds) for mode in MODES}
    sockets = {mode: [await open_socket(stacks[mode].gateway_url()) for _ in range(CONNECTIONS)] for mode in MODES}
    try:
        # Time to first token: one turn at a time, alternating stacks (and which goes first).
        for index in range(turns + 5):
            for mode in MODES if index % 2 else reversed(MODES):
                trace = await run_turn(sockets[mode][index % CONNECTIONS], threads[mode][index], PROMPT, timeout=60)
                if index < 5:
                    continue  # warm-up
                if not trace.ok or trace.first_token_at is None:
                    failures[mode] += 1
                    continue
                first_token_ms[mode].append((trace.first_token_at - trace.sent_at) * 1000)
        # Relay CPU: `chats` turns at once on one stack, then the other, `rounds` times.
        cpu_s: dict[str, dict[str, float]] = {mode: {"gateway": 0.0, "worker": 0.0} for mode in MODES}
        deltas = dict.fromkeys(MODES, 0)
        for round_index in range(rounds):
            for mode in MODES if round_index % 2 else reversed(MODES):
                stack = stacks[mode]
                processes = {
                    name: psutil.Process(stack.service(name).process.pid)  # type: ignore[union-attr]
                    for name in ("gateway", "worker")
                }
                before = {name: _cpu_s(process) for name, process in processes.items()}
                first = turns + 5 + round_index * chats
                chat_sockets = await asyncio.gather(*(open_socket(stack.gateway_url()) for _ in range(chats)))
                try:
                    traces: list[TurnTrace | BaseException] = await asyncio.gather(
                        *(
                            run_turn(ws, thread_id, PROMPT, timeout=120)
                            for ws, thread_id in zip(chat_sockets, threads[mode][first : first + chats], strict=True)
                        ),
                        return_exceptions=True,
                    )
                finally:
                    await asyncio.gather(*(ws.close() for ws in chat_sockets), return_exceptions=True)
                await asyncio.sleep(0.3)
                for name, process in processes.items():
                    cpu_s[mode][name] += _cpu_s(process) - before[name]
                done = [t for t in traces if isinstance(t, TurnTrace) and t.ok]
                failures[mode] += chats - len(done)
                deltas[mode] += len(done) * tokens_per_turn
    finally:
        for mode in MODES:
            await asyncio.gather(*(ws.close() for ws in sockets[mode]), return_exceptions=True)
    ttft = {mode: summary(first_token_ms[mode]) for mode in MODES}
    per_k = {
        mode: {name: seconds * 1000 / max(deltas[mode], 1) for name, seconds in cpu_s[mode].items()} for mode in MODES
    }
    calls = metric_call_ns()
    result.raw = {
        "first_token_ms": ttft,
        "cpu_s_per_1000_deltas": per_k,
        "deltas_relayed": deltas,
        "failures": failures,
        "metric_call_ns": calls,
        "spans_exported_requests": spans.exports,
    }
    result.figures = [
        Figure("first token p50, tracing on", ttft["on"]["p50"], "ms", ttft["off"]["p50"]),
        Figure("first token p95, tracing on", ttft["on"]["p95"], "ms", ttft["off"]["p95"]),
        Figure("first token p99, tracing on", ttft["on"]["p99"], "ms", ttft["off"]["p99"]),
    ]
    for name in ("gateway", "worker"):
        result.figures.append(Figure(f"CPU/1k deltas {name}, tracing on", per_k["on"][name], "s", per_k["off"][name]))
    result.figures.append(Figure("metric counter inc", calls["counter_inc_ns"], "ns"))
    result.figures.append(Figure("metric histogram observe", calls["histogram_observe_ns"], "ns"))
    result.notes.append("baseline = the same figure with tracing off (metrics are always on), same run, interleaved")
    if any(failures.values()):
        result.notes.append(f"turns that did not end in done: {failures}")
    return result
