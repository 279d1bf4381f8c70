"""`make bench`: start the native stack per scenario, run it with its floor, print one table."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import resource
import socket
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from bench import api, live_path, observability, relay, relay_load, sandbox_hop, sockets, start_burst, start_real_cli
from bench.report import RESULTS, ScenarioResult, machine, table, write_result
from bench.span_timeline import FAST_EXPORT, SpanStore
from tests import backends
from tests.stack import Stack, running_stack

GROUPS = (
    "first_token",
    "start",
    "start_real_cli",
    "sandbox",
    "throughput",
    "concurrency",
    "relay",
    "observability",
    "api_sqlite",
    "api_postgres",
)
ROOT = Path(__file__).resolve().parents[1]
PROFILING = Path(__file__).resolve().parent / "profiling"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True, slots=True)
class Sizes:
    turns: int
    deltas: int
    chats: int
    connections: int
    requests: int
    threads: int = 10_000
    big_thread: int = 2_000


FULL = Sizes(turns=200, deltas=20_000, chats=200, connections=5_000, requests=500, threads=100_000, big_thread=10_000)
QUICK = Sizes(turns=40, deltas=5_000, chats=50, connections=1_000, requests=100)


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    with contextlib.suppress(OSError), socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1):
        return True
    return False


@contextlib.contextmanager
def _redis() -> Iterator[str]:
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS)
    if _answers(url):
        yield url
        return
    with backends.private_redis() as private:
        print(f"bench: nothing answers at {url}; using a private redis-server at {private}")
        yield private


def _raise_open_files_limit(needed: int) -> None:
    """Client and gateway sockets: the gateway inherits this process's limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(max(soft, needed), hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class Bench:
    def __init__(self, sizes: Sizes, redis_url: str, workdir: Path, quick: bool) -> None:
        self.sizes = sizes
        self.redis_url = redis_url
        self.workdir = workdir
        self.quick = quick
        self.run_id = uuid.uuid4().hex[:8]
        self.results: list[ScenarioResult] = []
        self.failed: list[str] = []

    def env(self, name: str, **extra: str) -> dict[str, str]:
        env = {
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.workdir / name}.db",
            "REDIS_URL": self.redis_url,
            "REDIS_NAMESPACE": f"bench-{self.run_id}-{name}",
            "AGENT_RUNNER": "simulator",
            "SIMULATOR_STATE_DIR": str(self.workdir / "simulator"),
            "LOG_LEVEL": "INFO",
        }
        env.update(extra)
        return env

    def record(self, name: str, run: Callable[[], Coroutine[Any, Any, ScenarioResult]]) -> None:
        print(f"bench: {name} ...", flush=True)
        started = time.perf_counter()
        try:
            result = asyncio.run(run())
        except Exception:
            self.failed.append(name)
            print(f"bench: {name} FAILED\n{traceback.format_exc()}", flush=True)
            return
        result.seconds = time.perf_counter() - started
        result.settings["quick"] = self.quick
        path = write_result(result, self.quick)
        self.results.append(result)
        print(f"bench: {name} done in {result.seconds:.1f}s -> {path.relative_to(RESULTS.parent.parent)}", flush=True)

    def scenario(
        self,
        name: str,
        stack_env: dict[str, str],
        workers: int,
        *runs: tuple[str, Callable[[Stack], Coroutine[Any, Any, ScenarioResult]]],
    ) -> None:
        try:
            with running_stack(workers, 1, **stack_env) as stack:
                for run_name, run in runs:
                    self.record(run_name, functools.partial(run, stack))
        except Exception:
            self.failed.append(name)
            print(f"bench: stack for {name} FAILED\n{traceback.format_exc()}", flush=True)

    def run_all(self) -> None:
        for group in GROUPS:
            getattr(self, group)()

    def first_token(self) -> None:
        sizes = self.sizes
        first = {"SIMULATOR_TOKENS": "5", "SIMULATOR_DELAY_MS": "0", "SIMULATOR_STAMP": "1"}
        self.scenario(
            "time_to_first_token",
            self.env("ttft", **first),
            1,
            ("time_to_first_token", lambda s: relay.time_to_first_token(s, self.env("ttft", **first), sizes.turns)),
            ("idle_sockets", lambda s: sockets.idle_sockets(s, sizes.connections)),
            (
                "first_token_live_path",
                lambda s: live_path.live_and_one_shot(s, self.env("ttft", **first), sizes.turns // 2),
            ),
        )

    def start(self) -> None:
        """Turn start: a burst of simultaneous first messages on SQLite (bench/start_*.py)."""
        sizes = self.sizes
        env = self.env("start", WORKER_MAX_JOBS=str(sizes.chats), SIMULATOR_TOKENS="5", SIMULATOR_DELAY_MS="0")
        self.scenario("start_burst", env, 2, ("start_burst", lambda s: start_burst.start_burst(s, sizes.chats)))

    def start_real_cli(self) -> None:
        """Time to first token with the real CLI against the tests' fake Messages API, beside the CLI run directly.

        With BENCH_BEFORE_TREE (another checkout of sandchat), a second stack runs that tree's services
        and its turns alternate with this tree's: an A/B in one run, under the same load.
        """
        threads = 10 if self.quick else 40
        before = os.environ.get("BENCH_BEFORE_TREE")
        spans = SpanStore()  # tracing on: where each turn's time goes (bench/span_timeline.py)
        with start_real_cli.real_cli_env(self.workdir) as cli, spans.serving() as endpoint:
            trees = {"before": Path(before), "after": ROOT} if before else {"": ROOT}
            tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, **FAST_EXPORT}
            try:
                with contextlib.ExitStack() as running:
                    stacks = {
                        label: running.enter_context(
                            running_stack(1, 1, **self.env(f"real-cli{label}", **cli, **tracing, **_code_tree(tree)))
                        )
                        for label, tree in trees.items()
                    }
                    self.record(
                        "start_real_cli",
                        lambda: start_real_cli.real_cli_first_token(stacks, cli, threads, spans),
                    )
            except Exception:
                self.failed.append("start_real_cli")
                print(f"bench: stacks for start_real_cli FAILED\n{traceback.format_exc()}", flush=True)

    def sandbox(self) -> None:
        env = {"SIMULATOR_STATE_DIR": str(self.workdir / "simulator")}
        self.record("sandbox_hop", lambda: sandbox_hop.sandbox_hop(self.workdir, env, self.sizes.turns))

    def throughput(self) -> None:
        sizes = self.sizes
        fast = {"SIMULATOR_TOKENS": str(sizes.deltas), "SIMULATOR_DELAY_MS": "0"}
        self.scenario(
            "relay_throughput",
            self.env("throughput", **fast),
            1,
            ("relay_throughput", lambda s: relay.relay_throughput(s, self.env("throughput", **fast), sizes.deltas)),
        )
        agent = asyncio.run(relay.record_agent(self.workdir, self.env("recorded"), sizes.deltas))
        self.scenario(
            "relay_throughput_recorded",
            self.env("recorded", AGENT_RUNNER="local", CLAUDE_BIN=str(agent)),
            1,
            (
                "relay_throughput_recorded",
                lambda s: relay.relay_throughput(s, self.env("recorded"), sizes.deltas, recorded=agent),
            ),
        )

    def concurrency(self) -> None:
        sizes = self.sizes
        paced = {"SIMULATOR_TOKENS": "40", "SIMULATOR_DELAY_MS": "25", "SIMULATOR_STAMP": "1"}
        jobs = str(max(50, -(-sizes.chats // 2)))
        self.scenario(
            "concurrency",
            self.env("concurrency", WORKER_MAX_JOBS=jobs, **paced),
            2,
            ("concurrency", lambda s: relay.concurrency(s, self.env("concurrency", **paced), sizes.chats)),
        )

    def relay(self) -> None:
        """The streaming path at a model's pace (bench/relay_load.py); BENCH_RELAY_BEFORE=<checkout> adds an A/B."""
        relay_load.run_group(self, os.environ.get("BENCH_RELAY_BEFORE"))

    def observability(self) -> None:
        """Tracing on versus off (metrics always on): two stacks side by side, turns interleaved."""
        sizes = self.sizes
        agent = {"SIMULATOR_TOKENS": "200", "SIMULATOR_DELAY_MS": "0"}
        chats, rounds = 20, (2 if self.quick else 4)
        spans = SpanStore()
        with spans.serving() as endpoint:
            off_env = self.env("obs-off", **agent)
            on_env = self.env("obs-on", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, **agent)
            try:
                with running_stack(1, 1, **off_env) as off, running_stack(1, 1, **on_env) as on:
                    stacks = {"off": off, "on": on}
                    self.record(
                        "observability_cost",
                        lambda: observability.observability_cost(stacks, spans, sizes.turns, chats, rounds),
                    )
            except Exception:
                self.failed.append("observability_cost")
                print(f"bench: stacks for observability_cost FAILED\n{traceback.format_exc()}", flush=True)

    def _api(self, backend: str, database_url: str) -> None:
        sizes = self.sizes
        seeded = {"threads": sizes.threads, "big_thread_messages": sizes.big_thread}
        env = self.env(f"api-{backend}", DATABASE_URL=database_url)

        async def run(stack: Stack) -> ScenarioResult:
            big = await api.seed(database_url, sizes.threads, sizes.big_thread)
            return await api.api_reads(stack, backend, big, sizes.requests, seeded)

        self.scenario(f"api_{backend}", env, 0, (f"api_{backend}", run))

    def api_sqlite(self) -> None:
        self._api("sqlite", f"sqlite+aiosqlite:///{self.workdir / 'api.db'}")

    def api_postgres(self) -> None:
        admin = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
        try:
            with backends.fresh_postgres_database(backends.asyncpg_url(admin)) as database_url:
                self._api("postgresql", database_url)
        except (OSError, asyncpg.PostgresError) as exc:
            print(
                f"bench: api_postgresql skipped: no PostgreSQL at {admin} ({exc}); set BENCH_POSTGRES_URL", flush=True
            )


def _code_tree(tree: Path) -> dict[str, str]:
    """The services of another checkout: its packages' sources first on PYTHONPATH (none for this one)."""
    if tree == ROOT:
        return {}
    sources = [tree / "shared/src", *sorted(tree.glob("services/*/src"))]
    return {"PYTHONPATH": os.pathsep.join(filter(None, [*map(str, sources), os.environ.get("PYTHONPATH")]))}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer turns and connections: about a minute")
    parser.add_argument("--profile", action="store_true", help="profile the services (pyinstrument) into bench/results")
    parser.add_argument(
        "--only", action="append", default=[], choices=GROUPS, help="run only this group of scenarios (repeatable)"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.profile:
        # Inherited by the services: bench/profiling/sitecustomize.py starts pyinstrument in each.
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROFILING), os.environ.get("PYTHONPATH")]))
        os.environ["BENCH_PROFILE_DIR"] = str(RESULTS)
    _raise_open_files_limit(2 * sizes.connections + 1024)
    RESULTS.mkdir(parents=True, exist_ok=True)
    log_path = RESULTS / "services.log"
    info = machine()
    print(
        f"bench: {info['cpu_model']}, {info['cores']} cores, {info['memory_bytes'] / 2**30:.0f} GiB, "
        f"Python {info['python']}, load {info['load_average'][0]:.1f}; service logs in {log_path}",
        flush=True,
    )
    started = time.perf_counter()
    with _redis() as redis_url, tempfile.TemporaryDirectory(prefix="sandchat-bench-") as workdir:
        bench = Bench(sizes, redis_url, Path(workdir), args.quick)
        with _services_log(log_path):
            if args.only:
                for group in args.only:
                    getattr(bench, group)()
            else:
                bench.run_all()
    print()
    print(table(bench.results))
    print(f"\nbench: {time.perf_counter() - started:.0f}s, load average now {os.getloadavg()[0]:.1f}")
    if bench.failed:
        print(f"bench: failed: {', '.join(bench.failed)}")
        sys.exit(1)


@contextlib.contextmanager
def _services_log(path: Path) -> Iterator[None]:
    """The services print to this process's stderr (tests/stack.py): send fd 2 to a file meanwhile."""
    saved = os.dup(2)
    with path.open("w") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
