"""The probe classifies every state of the agent, through the runner, and never raises."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sandchat.agent_health import PROBE_INTERVAL_S
from sandchat_worker.agent_probe import ProbeResult, probe
from sandchat_worker.agent_runners import DockerSandboxRunner, LocalRunner, SimulatorRunner
from sandchat_worker.worker_app import probe_due

from tests.worker.fake_docker import PASSTHROUGH, recorded_argvs

SANDBOX = DockerSandboxRunner("my-sandbox", "/workspace", "claude", "docker", PASSTHROUGH)
SBX = DockerSandboxRunner("my-sandbox", "/workspace", "claude", "sbx", PASSTHROUGH)


@pytest.mark.parametrize("runner", [SANDBOX, SBX], ids=["docker", "sbx"])
async def test_a_logged_in_cli_in_the_sandbox_is_healthy(docker_log: Path, runner: DockerSandboxRunner) -> None:
    result = await probe(runner)
    assert result.status == "healthy"
    assert result.health_status == "healthy"
    [argv] = recorded_argvs(docker_log)
    assert argv[-4:] == ["claude", "auth", "status", "--json"]


async def test_the_simulator_is_healthy() -> None:
    assert (await probe(SimulatorRunner())).status == "healthy"


@pytest.mark.parametrize(("auth", "says"), [("logged-out", "not logged in"), ("api-key", "API key")])
async def test_no_claude_login_is_unauthenticated(
    docker_log: Path, monkeypatch: pytest.MonkeyPatch, auth: str, says: str
) -> None:
    monkeypatch.setenv("SIMULATOR_AUTH", auth)
    result = await probe(SANDBOX)
    assert result.status == "unauthenticated"
    assert says in result.message
    assert "claude auth login" in result.message


@pytest.mark.parametrize(
    ("mode", "runner", "says"),
    [
        ("stopped", SANDBOX, "Docker is not running"),
        (
            "sandbox",
            DockerSandboxRunner("other-sandbox", "/workspace", "claude", "docker", PASSTHROUGH),
            "docker sandbox create",
        ),
        ("sandbox", DockerSandboxRunner("other-sandbox", "/workspace", "claude", "sbx", PASSTHROUGH), "`sbx create"),
        ("no-cli", SANDBOX, "CLAUDE_BIN"),
    ],
    ids=["docker-stopped", "no-sandbox", "no-sbx-sandbox", "no-cli"],
)
async def test_nothing_to_ask_is_unavailable(
    docker_log: Path, monkeypatch: pytest.MonkeyPatch, mode: str, runner: DockerSandboxRunner, says: str
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_MODE", mode)
    result = await probe(runner)
    assert result.status == "unavailable"
    assert says in result.message


@pytest.mark.parametrize(("runner", "says"), [(SANDBOX, "docker was not found"), (SBX, "sbx was not found")])
async def test_no_docker_is_unavailable_and_names_the_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: DockerSandboxRunner, says: str
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = await probe(runner)
    assert result.status == "unavailable"
    assert says in result.message


async def test_a_missing_local_cli_is_unavailable() -> None:
    result = await probe(LocalRunner("/nonexistent/claude"))
    assert result.status == "unavailable"
    assert "make install" in result.message


async def test_a_probe_that_gets_no_answer_times_out(docker_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_MODE", "hang")
    started = time.monotonic()
    result = await probe(SANDBOX, timeout_s=0.5)
    assert time.monotonic() - started < 3
    assert result.status == "timeout"
    assert result.health_status == "unavailable"


def test_a_worker_whose_turns_just_worked_skips_the_probe_until_they_stop() -> None:
    healthy = ProbeResult("healthy", "Logged in.")
    now = 10_000.0
    assert not probe_due(healthy, answered_at=now - 1, now=now)
    assert probe_due(healthy, answered_at=now - PROBE_INTERVAL_S - 1, now=now)
    assert probe_due(healthy, answered_at=float("-inf"), now=now)
    # A probe that found a problem is repeated whatever the turns did: only a probe says it is solved.
    assert probe_due(ProbeResult("unauthenticated", "Not logged in."), answered_at=now - 1, now=now)
