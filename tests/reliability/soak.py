"""`make soak`: the whole stack under continuous load, then proof that nothing was lost or leaked.

50 chats at a time (SOAK_CHATS) for 10 minutes (SOAK_MINUTES), each sending one message after the
other on its own WebSocket and starting a new thread every few turns. At the end every turn a
client saw start is checked in the database: the user message stored verbatim, the assistant
message `complete` with exactly the text that was streamed. Each service's memory (RSS) is sampled
throughout; after warm-up (the first fifth) it must stay within 10 % of its level at the end of
warm-up. The figures are printed and written between the soak markers of docs/reliability.md.

    make soak                      # 10 minutes
    SOAK_MINUTES=2 make soak       # shorter
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import httpx
import psutil
from sandchat_dev.stack import free_port
from websockets.asyncio.client import connect

from tests.stack import ROOT, Stack, stack_env

DOC = ROOT / "docs" / "reliability.md"
START_MARK = "<!-- soak:start -->"
END_MARK = "<!-- soak:end -->"
TURNS_PER_THREAD = 5
SAMPLE_EVERY_S = 5.0
MAX_GROWTH = 0.10


@dataclass
class Turn:
    thread_id: str
    content: str
    user_message_id: str = ""
    message_id: str = ""
    final: str = ""
    text: str = ""
    seconds: float = 0.0


@dataclass
class Load:
    turns: list[Turn] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    disconnects: int = 0


async def _chat(index: int, stack: Stack, http: httpx.AsyncClient, load: Load, until: float) -> None:
    gateway = stack.gateway_url(index % len(stack.gateway_ports))
    sent = 0
    thread_id = ""
    while time.monotonic() < until:
        try:
            async with connect(gateway, max_size=None) as websocket:
                while time.monotonic() < until:
                    if sent % TURNS_PER_THREAD == 0:
                        response = await http.post("/threads", json={})
                        response.raise_for_status()
                        thread_id = response.json()["thread"]["id"]
                    sent += 1
                    turn = Turn(thread_id, f"soak chat {index} turn {sent} {uuid.uuid4().hex}")
                    started_at = time.monotonic()
                    await websocket.send(
                        json.dumps({"type": "message", "threadId": thread_id, "content": turn.content})
                    )
                    while True:
                        event = json.loads(await asyncio.wait_for(websocket.recv(), 60))
                        if event["type"] == "started":
                            turn.user_message_id, turn.message_id = event["userMessageId"], event["messageId"]
                            load.turns.append(turn)
                        elif event["type"] == "token":
                            turn.text += event["text"]
                        elif event["type"] == "error" and not turn.message_id:
                            load.refused[event["code"]] = load.refused.get(event["code"], 0) + 1
                            break
                        elif event["type"] in ("done", "error") and "seq" in event:
                            turn.final = event["type"] if event["type"] == "done" else event["code"]
                            break
                    turn.seconds = time.monotonic() - started_at
        except (OSError, TimeoutError, httpx.HTTPError) as exc:
            load.disconnects += 1
            print(f"soak: chat {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
            await asyncio.sleep(1)
        except Exception as exc:  # a closed WebSocket: reconnect, like the browser does
            load.disconnects += 1
            print(f"soak: chat {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
            await asyncio.sleep(1)


async def _sample_memory(stack: Stack, samples: dict[str, list[tuple[float, int]]], until: float) -> None:
    started = time.monotonic()
    while time.monotonic() < until:
        for service in stack.services:
            if service.process is not None and service.running:
                rss = psutil.Process(service.process.pid).memory_info().rss
                samples.setdefault(service.name, []).append((time.monotonic() - started, rss))
        await asyncio.sleep(SAMPLE_EVERY_S)


async def _check(stack: Stack, load: Load) -> list[str]:
    """Every started turn: user message stored verbatim, reply complete with exactly the streamed text."""
    problems: list[str] = []
    by_thread: dict[str, list[Turn]] = {}
    for turn in load.turns:
        by_thread.setdefault(turn.thread_id, []).append(turn)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
        for thread_id, turns in by_thread.items():
            stored = {m["id"]: m for m in (await http.get(f"/threads/{thread_id}/messages")).json()["messages"]}
            for turn in turns:
                user = stored.get(turn.user_message_id)
                reply = stored.get(turn.message_id)
                if user is None or user["content"] != turn.content:
                    problems.append(f"user message of {turn.content!r} not stored")
                if reply is None:
                    problems.append(f"reply to {turn.content!r} missing")
                elif turn.final and (reply["status"], reply["content"]) != ("complete", turn.text):
                    problems.append(f"reply to {turn.content!r}: {reply['status']}, {len(reply['content'])} chars")
                elif not turn.final and reply["status"] == "streaming":
                    problems.append(f"reply to {turn.content!r} cut by the end of the soak and still streaming")
    return problems


def _growth(samples: list[tuple[float, int]], minutes: float) -> tuple[int, int, int, float]:
    """RSS at the end of warm-up, at the end, the peak, and the growth after warm-up."""
    warm_up_s = minutes * 60 / 5
    after = [rss for at, rss in samples if at >= warm_up_s] or [rss for _, rss in samples]
    window = max(1, len(after) // 10)
    baseline = int(statistics.median(after[:window]))
    final = int(statistics.median(after[-window:]))
    return baseline, final, max(after), (final - baseline) / baseline


def _report(
    minutes: float, chats: int, load: Load, problems: list[str], memory: dict[str, tuple[int, int, int, float]]
) -> str:
    finished = [turn for turn in load.turns if turn.final]
    done = sum(turn.final == "done" for turn in finished)
    latencies = sorted(turn.seconds for turn in finished) or [0.0]
    mib = 1024 * 1024
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {minutes:g} min, {chats} chats at a time, "
        f"2 gateways, 2 workers, SQLite, simulator runner ({os.cpu_count()} CPUs).",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| turns started | {len(load.turns)} |",
        f"| turns ended `done` | {done} |",
        f"| turns ended otherwise | {len(finished) - done} |",
        f"| turns cut by the end of the run | {len(load.turns) - len(finished)} |",
        f"| messages refused | {sum(load.refused.values())} {dict(load.refused) or ''} |",
        f"| WebSocket reconnects | {load.disconnects} |",
        f"| throughput | {len(finished) / (minutes * 60):.1f} turns/s |",
        f"| turn time p50 / p99 | {latencies[len(latencies) // 2]:.2f} s / "
        f"{latencies[int(len(latencies) * 0.99)]:.2f} s |",
        f"| **lost or mismatched messages** | **{len(problems)}** |",
        "",
        "| service | RSS after warm-up | RSS at end | peak | growth |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, (baseline, final, peak, growth) in sorted(memory.items()):
        lines.append(
            f"| {name} | {baseline / mib:.1f} MiB | {final / mib:.1f} MiB | {peak / mib:.1f} MiB | {growth:+.1%} |"
        )
    return "\n".join(lines)


def _write_doc(report: str) -> None:
    text = DOC.read_text() if DOC.exists() else f"# Reliability\n\n## Soak\n\n{START_MARK}\n{END_MARK}\n"
    if START_MARK not in text:
        text += f"\n## Soak\n\n{START_MARK}\n{END_MARK}\n"
    head, rest = text.split(START_MARK, 1)
    tail = rest.split(END_MARK, 1)[1]
    DOC.write_text(f"{head}{START_MARK}\n{report}\n{END_MARK}{tail}")


async def _soak(stack: Stack, minutes: float, chats: int) -> int:
    load = Load()
    samples: dict[str, list[tuple[float, int]]] = {}
    until = time.monotonic() + minutes * 60
    limits = httpx.Limits(max_connections=chats)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, limits=limits) as http:
        await asyncio.gather(
            _sample_memory(stack, samples, until), *(_chat(index, stack, http, load, until) for index in range(chats))
        )
    await asyncio.sleep(3)  # turns cut by the deadline end on their own
    problems = await _check(stack, load)
    memory = {name: _growth(series, minutes) for name, series in samples.items()}
    report = _report(minutes, chats, load, problems, memory)
    print(report)
    for problem in problems[:20]:
        print(f"soak: LOST {problem}", file=sys.stderr)
    _write_doc(report)
    leaking = [name for name, (*_, growth) in memory.items() if growth >= MAX_GROWTH]
    if leaking:
        print(f"soak: memory grew by 10 % or more after warm-up: {', '.join(leaking)}", file=sys.stderr)
    return 1 if problems or leaking else 0


@contextlib.contextmanager
def _quiet_stack(sink: IO[str], env: dict[str, str]) -> Iterator[Stack]:
    """Like :func:`tests.stack.running_stack` with 2 gateways and 2 workers, the services' logs kept, not printed."""
    api_port, ports = free_port(), [free_port(), free_port()]
    origins = f"http://127.0.0.1:{api_port}"
    stack = Stack(stack_env(API_PORT=str(api_port), ALLOWED_ORIGINS=origins, **env), api_port, ports, sink=sink)
    try:
        stack.start(workers=2)
        yield stack
    finally:
        stack.stop()


def main() -> None:
    minutes = float(os.environ.get("SOAK_MINUTES", "10"))
    chats = int(os.environ.get("SOAK_CHATS", "50"))
    redis_url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    with tempfile.TemporaryDirectory(prefix="sandchat-soak-") as tmp:
        env = {
            "DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'soak.db'}",
            "REDIS_URL": redis_url,
            "REDIS_NAMESPACE": f"sandchat-soak-{uuid.uuid4().hex[:8]}",
            "AGENT_RUNNER": "simulator",
            "SIMULATOR_STATE_DIR": str(Path(tmp) / "simulator"),
            "SIMULATOR_TOKENS": os.environ.get("SIMULATOR_TOKENS", "40"),
            "SIMULATOR_DELAY_MS": os.environ.get("SIMULATOR_DELAY_MS", "25"),
            "LOG_LEVEL": "INFO",
        }
        with open(os.devnull, "w") as quiet, _quiet_stack(quiet, env) as stack:
            code = asyncio.run(_soak(stack, minutes, chats))
    raise SystemExit(code)


if __name__ == "__main__":
    main()
