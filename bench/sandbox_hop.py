"""The sandbox hop: what running the agent behind `sandchat-sandbox` costs, and how fast it dies.

- First token: one turn of the simulator through run_agent_turn, from the call to the first text
  event, with the local runner (the worker spawns it) and with the sandbox runner (a WebSocket to a
  separate `sandchat-sandbox` process that spawns it). Interleaved, so load affects both alike.
- Kill on disconnect: an agent that hangs (with a child, like a tool) behind the sandbox; the worker's
  socket is cut; how long until every process of the run is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import psutil
from sandchat.agent_cli import turn_args
from sandchat_dev.stack import free_port
from sandchat_worker.agent_events import AgentEvent, TextDelta
from sandchat_worker.agent_runners import AgentRunner, LocalRunner, SandboxRunner, simulator_command
from sandchat_worker.agent_turn import run_agent_turn
from sandchat_worker.sandbox_client import RemoteAgentProcess

from bench.floor import environment
from bench.report import Figure, ScenarioResult, summary
from tests.stack import BIN

SIMULATOR_ENV = ("SIMULATOR_STATE_DIR", "SIMULATOR_TOKENS", "SIMULATOR_DELAY_MS")


@contextlib.asynccontextmanager
async def sandbox_process(workdir: Path, env: dict[str, str]) -> AsyncIterator[tuple[SandboxRunner, int]]:
    """`sandchat-sandbox` as a separate process running the simulator; its runner and pid."""
    port, token = free_port(), secrets.token_urlsafe(24)
    workspace = workdir / "sandbox-workspace"
    workspace.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [str(BIN / "sandchat-sandbox")],
        env={
            **os.environ,
            **env,
            "SANDBOX_PORT": str(port),
            "SANDBOX_TOKEN": token,
            "SANDBOX_WORKSPACE": str(workspace),
            "CLAUDE_BIN": simulator_command()[0],
            "AGENT_ENV_PASSTHROUGH": ",".join(SIMULATOR_ENV),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        runner = SandboxRunner(f"ws://127.0.0.1:{port}", token)
        deadline = time.monotonic() + 30
        while True:
            try:
                probe = await runner.start(["auth", "status", "--json"])
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
                continue
            probe.stdin.close()
            await probe.wait()
            probe.close()
            break
        yield runner, process.pid
    finally:
        process.terminate()
        process.wait(15)


async def _first_token_ms(runner: AgentRunner) -> float:
    started = time.perf_counter()
    first: list[float] = []

    async def on_events(events: Sequence[AgentEvent]) -> None:
        if not first and any(isinstance(event, TextDelta) for event in events):
            first.append(time.perf_counter())

    outcome = await run_agent_turn(
        runner, "benchmark", None, on_events=on_events, cancel=asyncio.Event(), inactivity_timeout_s=30
    )
    assert outcome.kind == "complete", outcome.error
    return (first[0] - started) * 1000


async def _kill_on_disconnect_ms(runner: SandboxRunner, sandbox_pid: int) -> float:
    process = await runner.start(turn_args(None))
    assert isinstance(process, RemoteAgentProcess)
    process.stdin.write(b"[[hang]]")
    process.stdin.close()
    sandbox = psutil.Process(sandbox_pid)
    deadline = time.monotonic() + 10
    while len(agents := sandbox.children(recursive=True)) < 2:  # the CLI and the tool it started
        assert time.monotonic() < deadline, "the hanging agent never started its tool"
        await asyncio.sleep(0.01)
    process._websocket.transport.abort()
    cut = time.perf_counter()
    while any(_running(agent) for agent in agents):
        assert time.perf_counter() - cut < 10, "the agent outlived its connection by 10 s"
        await asyncio.sleep(0.005)
    gone = time.perf_counter()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(process.wait(), 5)
    return (gone - cut) * 1000


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def sandbox_hop(workdir: Path, env: dict[str, str], turns: int) -> ScenarioResult:
    env = {**env, "SIMULATOR_TOKENS": "5", "SIMULATOR_DELAY_MS": "0"}
    result = ScenarioResult("sandbox_hop", {"turns": turns, "SIMULATOR_TOKENS": "5"})
    local_ms: list[float] = []
    sandbox_ms: list[float] = []
    kill_ms: list[float] = []
    with environment(env):  # what the local runner's agent reads (through the same allow-list)
        local = LocalRunner(simulator_command()[0], SIMULATOR_ENV)
        async with sandbox_process(workdir, env) as (remote, sandbox_pid):
            for index in range(turns + 5):
                local_first = await _first_token_ms(local)
                sandbox_first = await _first_token_ms(remote)
                if index >= 5:  # warm-up
                    local_ms.append(local_first)
                    sandbox_ms.append(sandbox_first)
            for _ in range(max(10, turns // 10)):
                kill_ms.append(await _kill_on_disconnect_ms(remote, sandbox_pid))
    local_summary, sandbox_summary, kill_summary = summary(local_ms), summary(sandbox_ms), summary(kill_ms)
    added = [remote - here for here, remote in zip(local_ms, sandbox_ms, strict=True)]
    result.raw = {
        "first_token_local_ms": local_summary,
        "first_token_sandbox_ms": sandbox_summary,
        "added_by_the_hop_ms": summary(added),
        "kill_on_disconnect_ms": kill_summary,
    }
    for pct in ("p50", "p95"):
        result.figures.append(
            Figure(
                f"first token via the sandbox {pct} (local runner = baseline)",
                sandbox_summary[pct],
                "ms",
                local_summary[pct],
            )
        )
    result.figures.append(Figure("added by the hop p50", summary(added)["p50"], "ms"))
    result.figures.append(
        Figure(
            "agent group gone after a cut connection p95",
            kill_summary["p95"],
            "ms",
            target="< 5000 ms",
            met=kill_summary["p95"] < 5000,
        )
    )
    result.notes.append(
        "first token = run_agent_turn called -> first text event; the sandbox is a separate process on loopback"
    )
    return result
