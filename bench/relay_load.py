"""The relay under a model-like load: CPU per delta in steady state, and many paced chats at once.

The producer is :mod:`bench.relay_player`: a recorded real-CLI stream (tests/data/claude-cli)
replayed with pacing by a small process per live agent, so the agents' own CPU stays small and is
reported apart. CPU is read from ``/proc`` (psutil) for the gateway, the workers and a private
``redis-server`` (the shared one serves other people's tests too).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import psutil
import redis

from bench.client import TurnTrace, new_threads, open_socket, run_turn
from bench.relay import _stored_mismatches
from bench.relay_player import reply_text
from bench.report import Figure, ScenarioResult, summary
from tests import backends
from tests.stack import Stack, running_stack

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "tests" / "data" / "claude-cli" / "text-reply.jsonl"
PLAYER = Path(__file__).resolve().parent / "relay_player.py"
SOURCES = ("shared/src", "services/gateway/src", "services/worker/src", "services/api/src")


@dataclass(frozen=True, slots=True)
class Player:
    path: Path
    texts: list[str]
    deltas: int

    def text(self, deltas: int | None = None) -> str:
        return reply_text(self.texts, self.deltas if deltas is None else deltas)


def install_player(workdir: Path, deltas: int, interval_s: float) -> Player:
    """The player as an executable (``CLAUDE_BIN``) with its recording and pace beside it."""
    lines = RECORDING.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    is_delta = [
        record.get("type") == "stream_event" and record["event"].get("type") == "content_block_delta"
        for record in records
    ]
    first, last = is_delta.index(True), len(is_delta) - 1 - is_delta[::-1].index(True)
    texts = [records[index]["event"]["delta"]["text"] for index in range(first, last + 1)]
    # The delta line without its opening brace, cut around its text.
    template = lines[first][1:]
    marker = '"text":' + json.dumps(texts[0])
    before, _, after = template.partition(marker)
    config = {
        "session": records[0]["session_id"],
        "opening": lines[:first],
        # The `assistant` copy of a streamed message repeats its text: the worker skips it; so does the player.
        "closing": [
            line
            for line, record in zip(lines[last + 1 :], records[last + 1 :], strict=True)
            if record.get("type") != "assistant"
        ],
        "delta_before": before + '"text":"',
        "delta_after": '"' + after,
        "texts": texts,
        "deltas": deltas,
        "interval_s": interval_s,
    }
    path = workdir / f"relay-player-{deltas}-{interval_s:g}"
    path.write_text(f"#!{sys.executable} -SI\n" + PLAYER.read_text())
    path.chmod(0o755)
    Path(str(path) + ".json").write_text(json.dumps(config))
    return Player(path, texts, deltas)


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[str, psutil.Process]]:
    with backends.private_redis() as url:
        client = redis.Redis.from_url(url)
        info: dict[str, Any] = client.info("server")  # type: ignore[assignment]
        pid = int(info["process_id"])
        client.close()
        yield url, psutil.Process(pid)


def tree_pythonpath(tree: str) -> str:
    """PYTHONPATH that runs the services from another checkout (the "before" of an A/B)."""
    return ":".join(str(Path(tree) / source) for source in SOURCES)


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def _agents(stack: Stack) -> list[psutil.Process]:
    agents: list[psutil.Process] = []
    for worker in stack.workers():
        if worker.process is not None:
            with contextlib.suppress(psutil.Error):
                agents += psutil.Process(worker.process.pid).children(recursive=True)
    return agents


@dataclass(slots=True)
class Sample:
    wall: float
    cpu: dict[str, float]
    worker_rss: float
    agents_cpu: float


class Meter:
    """CPU seconds of the relay's processes (gateway, workers, Redis) and of the agents, sampled on demand."""

    def __init__(self, stack: Stack, redis_server: psutil.Process) -> None:
        self.processes = {
            s.name: psutil.Process(s.process.pid) for s in stack.services if s.process and s.name != "api"
        }
        self.processes["redis"] = redis_server
        self.stack = stack
        self.samples: list[Sample] = []
        self._agent_cpu: dict[int, float] = {}

    def sample(self) -> Sample:
        for agent in _agents(self.stack):
            self._agent_cpu[agent.pid] = max(self._agent_cpu.get(agent.pid, 0.0), _cpu(agent))
        rss = sum(p.memory_info().rss for name, p in self.processes.items() if name.startswith("worker"))
        sample = Sample(
            time.time(), {n: _cpu(p) for n, p in self.processes.items()}, rss, sum(self._agent_cpu.values())
        )
        self.samples.append(sample)
        return sample

    async def every(self, seconds: float) -> None:
        while True:
            self.sample()
            await asyncio.sleep(seconds)


def _relay_cpu(a: Sample, b: Sample) -> float:
    return sum(b.cpu.values()) - sum(a.cpu.values())


def _arrivals(trace: TurnTrace) -> list[float]:
    """Wall-clock arrival of each stamped frame (every frame, at a model's pace)."""
    return [stamp + delay for stamp, delay in zip(trace.stamps, trace.delivery_s, strict=True)]


async def steady_state(stack: Stack, redis_server: psutil.Process, player: Player, turns: int) -> dict[str, Any]:
    """``turns`` long turns at once on live agents, one subscriber each; CPU per frame inside the window
    where all of them stream, the rest of the turns' CPU per turn, the worker's memory per running turn."""
    threads = await new_threads(stack.api_url, turns)
    sockets = await asyncio.gather(*(open_socket(stack.gateway_url()) for _ in range(turns)))
    meter = Meter(stack, redis_server)
    try:
        before_agents = meter.sample()
        # Warm-up: every thread's live agent starts with a short turn; the measured turns find it running.
        await asyncio.gather(*(run_turn(ws, t, "deltas=5", 300) for ws, t in zip(sockets, threads, strict=True)))
        await asyncio.sleep(1.0)
        idle_a = meter.sample()
        await asyncio.sleep(3.0)
        idle_b = meter.sample()
        idle_rate = _relay_cpu(idle_a, idle_b) / (idle_b.wall - idle_a.wall)
        start = meter.sample()
        sampler = asyncio.create_task(meter.every(0.5))
        try:
            traces = await asyncio.gather(
                *(run_turn(ws, t, "go", 600) for ws, t in zip(sockets, threads, strict=True)), return_exceptions=True
            )
        finally:
            sampler.cancel()
        await asyncio.sleep(1.0)
        end = meter.sample()
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    done = [t for t in traces if isinstance(t, TurnTrace) and t.ok]
    exact = sum(1 for t in done if "".join(t.text) == player.text() and t.seqs_in_order)
    arrivals = [_arrivals(t) for t in done]
    # The steady window: every turn streams (its first frame came), none has ended yet.
    window_from = max(a[0] for a in arrivals) + 0.5
    window_to = min(a[-1] for a in arrivals) - 0.5
    inside = [s for s in meter.samples if window_from <= s.wall <= window_to]
    if len(inside) < 2:
        raise RuntimeError("no steady window: the turns did not overlap long enough")
    a, b = inside[0], inside[-1]
    frames = sum(1 for turn in arrivals for at in turn if a.wall < at <= b.wall)
    # Deltas in the window: under load several reads' deltas merge into one frame; the text says how many.
    ends = list(itertools.accumulate(len(player.texts[i % len(player.texts)]) for i in range(player.deltas)))
    window_deltas = 0
    for trace, turn in zip(done, arrivals, strict=True):
        chars = list(itertools.accumulate(len(text) for text in trace.text))
        inside_chars = [c for c, at in zip(chars, turn, strict=True) if at <= b.wall]
        before_chars = [c for c, at in zip(chars, turn, strict=True) if at <= a.wall]
        window_deltas += bisect.bisect_right(ends, inside_chars[-1] if inside_chars else 0) - bisect.bisect_right(
            ends, before_chars[-1] if before_chars else 0
        )
    relay_cpu = _relay_cpu(a, b) - idle_rate * (b.wall - a.wall)
    per_frame = relay_cpu / max(frames, 1)
    per_service = {name: (b.cpu[name] - a.cpu[name]) / max(frames, 1) * 1000 for name in a.cpu}
    total_frames = sum(len(t.seqs) for t in done)
    deltas = len(done) * player.deltas
    whole = _relay_cpu(start, end) - idle_rate * (end.wall - start.wall)
    per_turn = (whole - per_frame * total_frames) / max(len(done), 1)
    rss_window = sorted(s.worker_rss for s in inside)[len(inside) // 2]
    return {
        "turns": turns,
        "completed": len(done),
        "exact": exact,
        "window_s": b.wall - a.wall,
        "window_frames": frames,
        "deltas_per_frame": deltas / max(total_frames, 1),
        "window_deltas": window_deltas,
        "relay_cpu_ms_per_delta": relay_cpu / max(window_deltas, 1) * 1000,
        "relay_cpu_ms_per_frame": per_frame * 1000,
        "relay_cpu_ms_per_frame_by_process": per_service,
        "agents_cpu_ms_per_frame": (b.agents_cpu - a.agents_cpu) / max(frames, 1) * 1000,
        "relay_cpu_ms_per_turn": per_turn * 1000,
        "idle_cpu_percent": idle_rate * 100,
        "worker_kb_per_running_turn": (rss_window - start.worker_rss) / turns / 1024,
        "worker_kb_per_live_agent": (start.worker_rss - before_agents.worker_rss) / turns / 1024,
        "delivery_ms": summary([d * 1000 for t in done for d in t.delivery_s]),
    }


async def many_chats(
    stack: Stack, redis_server: psutil.Process, player: Player, chats: int, ramp_s: float
) -> dict[str, Any]:
    """``chats`` paced turns, one new thread and WebSocket each, started evenly over ``ramp_s``."""
    threads = await new_threads(stack.api_url, chats)
    gateway = psutil.Process(stack.service("gateway").process.pid)  # type: ignore[union-attr]
    rss_before = gateway.memory_info().rss
    sockets = await asyncio.gather(*(open_socket(stack.gateway_url()) for _ in range(chats)))
    await asyncio.sleep(1.0)
    rss_idle = gateway.memory_info().rss
    meter = Meter(stack, redis_server)
    client_before = resource.getrusage(resource.RUSAGE_SELF)
    start = meter.sample()
    sampler = asyncio.create_task(meter.every(2.0))

    seconds_per_turn = player.deltas * float(json.loads(Path(f"{player.path}.json").read_text())["interval_s"])

    async def one(index: int) -> TurnTrace:
        await asyncio.sleep(index * ramp_s / chats)
        return await run_turn(sockets[index], threads[index], "go", seconds_per_turn + ramp_s + 60)

    ramp_end = time.time() + ramp_s
    try:
        traces: list[TurnTrace | BaseException] = await asyncio.gather(
            *(one(index) for index in range(chats)), return_exceptions=True
        )
    finally:
        sampler.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    end = meter.sample()
    client_after = resource.getrusage(resource.RUSAGE_SELF)
    expected = player.text()
    ended = [t for t in traces if isinstance(t, TurnTrace)]
    done = [t for t in ended if t.ok]
    wrong = [t for t in ended if not t.seqs_in_order or (t.ok and "".join(t.text) != expected)]
    refused = [t for t in traces if not isinstance(t, TurnTrace) or not t.ok]
    codes: dict[str, int] = {}
    for trace in refused:
        code = str((trace.final or {}).get("code", "no final event")) if isinstance(trace, TurnTrace) else repr(trace)
        codes[code[:80]] = codes.get(code[:80], 0) + 1
    stored_wrong = await _stored_mismatches(stack.api_url, threads, traces)
    frames = sum(len(t.seqs) for t in ended)
    client_cpu = (client_after.ru_utime + client_after.ru_stime) - (client_before.ru_utime + client_before.ru_stime)
    return {
        "chats": chats,
        "completed": len(done),
        "lost_or_doubled": len(wrong) + stored_wrong,
        "seq_gaps": sum(1 for t in ended if not t.seqs_in_order),
        "wrong_text": [
            {"chars": len("".join(t.text)), "expected": len(expected), "frames": len(t.seqs)}
            for t in ended
            if t.ok and "".join(t.text) != expected
        ][:5],
        "stored_mismatch": stored_wrong,
        "refused_or_failed": len(refused),
        "failures_by_code": codes,
        "delivery_ms": summary([d * 1000 for t in done for d in t.delivery_s]),
        # Written while turns were still starting (the ramp), and once every turn streamed.
        "delivery_ramp_ms": summary(
            [d * 1000 for t in done for s, d in zip(t.stamps, t.delivery_s, strict=True) if s < ramp_end]
        ),
        "delivery_after_ramp_ms": summary(
            [d * 1000 for t in done for s, d in zip(t.stamps, t.delivery_s, strict=True) if s >= ramp_end]
        ),
        "frames": frames,
        "wall_s": end.wall - start.wall,
        "relay_cpu_ms_per_frame": _relay_cpu(start, end) / max(frames, 1) * 1000,
        "relay_cpu_s_by_process": {name: end.cpu[name] - start.cpu[name] for name in start.cpu},
        "agents_cpu_s": end.agents_cpu - start.agents_cpu,
        "client_cpu_s": client_cpu,
        "gateway_kb_per_idle_socket": (rss_idle - rss_before) / chats / 1024,
        "load_average": psutil.getloadavg(),
    }


def stack_env(base: dict[str, str], redis_url: str, player: Player, jobs: int, before: str | None) -> dict[str, str]:
    env = {
        **base,
        "REDIS_URL": redis_url,
        "AGENT_RUNNER": "local",
        "CLAUDE_BIN": str(player.path),
        "SIMULATOR_STAMP": "1",
        "WORKER_MAX_JOBS": str(jobs),
        "WORKER_MAX_AGENTS": str(jobs),
    }
    if before:
        env["PYTHONPATH"] = tree_pythonpath(before)
    return env


async def relay_steady(
    workdir: Path, base_env: dict[str, str], turns: int, deltas: int, rate: float, before: str | None
) -> ScenarioResult:
    """The steady-state scenario, after an optional run of the "before" tree in the same process."""
    player = install_player(workdir, deltas, 1 / rate)
    settings = {"turns": turns, "deltas": deltas, "deltas_per_s": rate, "before": before or "-"}
    result = ScenarioResult("relay_steady", settings)
    runs: dict[str, dict[str, Any]] = {}
    for name, tree in (("before", before), ("after", None)):
        if name == "before" and tree is None:
            continue
        with private_redis() as (url, server):
            env = stack_env(
                {**base_env, "DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/steady-{name}.db"},
                url,
                player,
                turns + 10,
                tree,
            )
            with running_stack(1, 1, **env) as stack:
                runs[name] = await steady_state(stack, server, player, turns)
    after, base = runs["after"], runs.get("before")
    result.raw = runs

    def fig(name: str, key: str, unit: str, target: str = "", limit: float | None = None) -> Figure:
        value = after[key]
        return Figure(name, value, unit, base[key] if base else None, target, None if limit is None else value <= limit)

    result.figures = [
        fig("relay CPU per delta", "relay_cpu_ms_per_delta", "ms", "<= 0.15 ms", 0.15),
        fig("relay CPU per frame", "relay_cpu_ms_per_frame", "ms"),
        Figure("agents' CPU per frame (producer)", after["agents_cpu_ms_per_frame"], "ms"),
        fig("relay CPU per turn", "relay_cpu_ms_per_turn", "ms"),
        fig("worker memory per running turn", "worker_kb_per_running_turn", "KB", "<= 1 MB", 1024),
        fig("worker memory per live agent held", "worker_kb_per_live_agent", "KB"),
        Figure("turns exact", after["exact"], "", turns, f"{turns}", after["exact"] == turns),
    ]
    for process, value in sorted(after["relay_cpu_ms_per_frame_by_process"].items()):
        previous = base["relay_cpu_ms_per_frame_by_process"].get(process) if base else None
        result.figures.append(Figure(f"CPU per frame: {process}", value, "ms", previous))
    result.notes.append(
        f"{turns} turns of {deltas} deltas at {rate:g}/s on live agents, one subscriber each; "
        f"{after['deltas_per_frame']:.2f} deltas per frame; baseline = the 'before' tree in the same run"
        if base
        else "no 'before' tree given (BENCH_RELAY_BEFORE): no baseline column"
    )
    return result


async def relay_chats(
    workdir: Path, base_env: dict[str, str], backend: str, database_url: str, chats: int, seconds: float, ramp_s: float
) -> ScenarioResult:
    rate = 10.0
    player = install_player(workdir, int(seconds * rate), 1 / rate)
    result = ScenarioResult(
        f"relay_chats_{backend}", {"chats": chats, "deltas_per_s": rate, "seconds": seconds, "ramp_s": ramp_s}
    )
    with private_redis() as (url, server):
        env = stack_env({**base_env, "DATABASE_URL": database_url}, url, player, chats, None)
        with running_stack(2, 1, **env) as stack:
            raw = await many_chats(stack, server, player, chats, ramp_s)
    result.raw = raw
    delivery = raw["delivery_ms"]
    p99 = delivery.get("p99", float("inf"))
    result.figures = [
        Figure("completed", raw["completed"], "chats", chats, f"{chats}", raw["completed"] == chats),
        Figure("lost or doubled", raw["lost_or_doubled"], "turns", target="0", met=raw["lost_or_doubled"] == 0),
        Figure("refused or failed", raw["refused_or_failed"], "turns", target="0", met=raw["refused_or_failed"] == 0),
        Figure("delivery p50", delivery.get("p50", float("nan")), "ms"),
        Figure("delivery p99", p99, "ms", target="<= 100 ms", met=p99 <= 100),
        Figure("delivery p99 during the ramp", raw["delivery_ramp_ms"].get("p99", float("nan")), "ms"),
        Figure("delivery p99 after the ramp", raw["delivery_after_ramp_ms"].get("p99", float("nan")), "ms"),
        Figure("relay CPU per frame", raw["relay_cpu_ms_per_frame"], "ms"),
        Figure("producer CPU (all players)", raw["agents_cpu_s"], "s"),
        Figure("bench clients' CPU", raw["client_cpu_s"], "s"),
        Figure(
            "gateway memory per idle socket",
            raw["gateway_kb_per_idle_socket"],
            "KB",
            target="<= 20 KB",
            met=raw["gateway_kb_per_idle_socket"] <= 20,
        ),
    ]
    return result


class _Bench(Protocol):
    workdir: Path
    quick: bool

    def env(self, name: str, **extra: str) -> dict[str, str]: ...

    def record(self, name: str, run: Callable[[], Coroutine[Any, Any, ScenarioResult]]) -> None: ...


def run_group(bench: _Bench, before: str | None) -> None:
    """Steady state (with the A/B when ``before`` names a checkout), then the many chats on SQLite and PostgreSQL."""
    turns, deltas, rate = (10, 2000, 100.0) if bench.quick else (40, 2000, 50.0)
    chats, seconds, ramp = (100, 20.0, 10.0) if bench.quick else (500, 60.0, 30.0)
    workdir = bench.workdir
    bench.record("relay_steady", lambda: relay_steady(workdir, bench.env("steady"), turns, deltas, rate, before))
    sqlite = f"sqlite+aiosqlite:///{workdir / 'chats.db'}"
    bench.record(
        "relay_chats_sqlite", lambda: relay_chats(workdir, bench.env("chats"), "sqlite", sqlite, chats, seconds, ramp)
    )
    admin = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    try:
        with backends.fresh_postgres_database(backends.asyncpg_url(admin)) as url:
            bench.record(
                "relay_chats_postgresql",
                lambda: relay_chats(workdir, bench.env("chats-pg"), "postgresql", url, chats, seconds, ramp),
            )
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"bench: relay_chats_postgresql skipped: no PostgreSQL at {admin} ({exc})", flush=True)
