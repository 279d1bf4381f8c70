"""Turn start: many first messages at the same instant on the default SQLite, next to one at a time.

Each of ``turns`` clients (one WebSocket and one new thread each) sends its message at once; the
baseline is the same stack starting turns one at a time, measured right before. What clients
observe: how many got `started` (none may be refused), message -> `started`, and whether every turn
ended; from the services' logs, how often a store had to be tried again because SQLite stayed busy
past its timeout.
"""

from __future__ import annotations

import asyncio

from bench.client import TurnTrace, new_threads, open_socket, run_turn
from bench.report import Figure, ScenarioResult, summary
from tests.stack import Stack

PROMPT = "benchmark"
ALONE = 20  # turns started one at a time first: the baseline
BUSY = "database busy"  # the gateway's log line for a store tried again (sandchat.turns.beginning)
LOCKED = "database is locked"


def _log_count(stack: Stack, text: str) -> int:
    return sum(text in line for service in stack.services for line in service.log)


async def start_burst(stack: Stack, turns: int) -> ScenarioResult:
    result = ScenarioResult("start_burst", {"turns": turns, "alone": ALONE, "database": "sqlite"})
    alone_threads = await new_threads(stack.api_url, ALONE)
    alone_ms: list[float] = []
    websocket = await open_socket(stack.gateway_url())
    try:
        for thread_id in alone_threads:
            trace = await run_turn(websocket, thread_id, PROMPT, timeout=60)
            if trace.started_at is not None:
                alone_ms.append((trace.started_at - trace.sent_at) * 1000)
    finally:
        await websocket.close()

    threads = await new_threads(stack.api_url, turns)
    sockets = await asyncio.gather(*(open_socket(stack.gateway_url()) for _ in range(turns)))
    busy_before, locked_before = _log_count(stack, BUSY), _log_count(stack, LOCKED)
    traces = [TurnTrace() for _ in threads]
    try:
        outcomes = await asyncio.gather(
            *(
                run_turn(ws, thread_id, PROMPT, timeout=180, trace=trace)
                for ws, thread_id, trace in zip(sockets, threads, traces, strict=True)
            ),
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    started = [trace for trace in traces if trace.started_at is not None]
    refused = turns - len(started)
    done = sum(trace.ok for trace in traces)
    unfinished = sum(trace.final is None for trace in started)
    burst_ms = [(trace.started_at - trace.sent_at) * 1000 for trace in started if trace.started_at is not None]
    busy = _log_count(stack, BUSY) - busy_before
    locked = _log_count(stack, LOCKED) - locked_before
    alone, burst = summary(alone_ms), summary(burst_ms)
    result.raw = {
        "alone_message_to_started_ms": alone,
        "burst_message_to_started_ms": burst,
        "refused": refused,
        "done": done,
        "started_but_no_final_event": unfinished,
        "stores_tried_again": busy,
        "database_locked_log_lines": locked,
        "errors": [str(trace.final) for trace in traces if trace.final and not trace.ok][:5]
        + [repr(outcome) for outcome in outcomes if isinstance(outcome, BaseException)][:5],
    }
    result.figures = [
        Figure("refused", refused, "turns", target="0", met=refused == 0),
        Figure("stores tried again (busy)", busy, "", target="0", met=busy == 0),
        Figure("'database is locked' in logs", locked, "lines", target="0", met=locked == 0),
        Figure("ended in done", done, "turns", turns, f"{turns}", done == turns),
        Figure("started, no final event", unfinished, "turns", target="0", met=unfinished == 0),
        Figure("message -> started p50", burst.get("p50", float("nan")), "ms", alone.get("p50")),
        Figure("message -> started p99", burst.get("p99", float("nan")), "ms", alone.get("p99")),
    ]
    result.notes.append(f"baseline: {ALONE} turns started one at a time on the same stack, right before")
    return result
