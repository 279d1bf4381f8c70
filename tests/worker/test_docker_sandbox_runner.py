"""The docker-sandbox runner against a fake `docker` on PATH: exact argv, sessions, and a sandbox that is not there."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sandchat.settings import build_settings
from sandchat_worker.agent_events import TurnOutcome
from sandchat_worker.agent_runners import DockerSandboxRunner, LocalRunner, SimulatorRunner, build_runner
from sandchat_worker.agent_turn import run_agent_turn

from tests.worker.conftest import Recorder
from tests.worker.fake_docker import install_fake_docker, path_with, recorded_argvs

TURN_ARGS = [
    "-p",
    "--output-format",
    "stream-json",
    "--verbose",
    "--include-partial-messages",
    "--permission-mode",
    "bypassPermissions",
]


@pytest.fixture
def docker_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    log = install_fake_docker(folder)
    monkeypatch.setenv("PATH", path_with(folder))
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    return log


async def sandbox_turn(prompt: str, session_id: str | None = None, sandbox: str = "my-sandbox") -> TurnOutcome:
    return await run_agent_turn(
        DockerSandboxRunner(sandbox, "/workspace", "claude"),
        prompt,
        session_id,
        on_events=Recorder(),
        cancel=asyncio.Event(),
        inactivity_timeout_s=30,
    )


def test_settings_choose_the_runner() -> None:
    settings = build_settings(agent_runner="docker-sandbox", sandbox_name="box", sandbox_workspace="/w", claude_bin="c")
    assert build_runner(settings) == DockerSandboxRunner("box", "/w", "c")
    assert build_runner(build_settings(agent_runner="local", claude_bin="/opt/claude")) == LocalRunner("/opt/claude")
    assert isinstance(build_runner(build_settings(agent_runner="simulator")), SimulatorRunner)


async def test_the_cli_runs_in_the_sandbox_with_the_prompt_on_stdin_only(docker_log: Path) -> None:
    prompt = "--help; $(id)"
    outcome = await sandbox_turn(prompt)
    assert outcome.kind == "complete"
    assert outcome.text.startswith(f"You said: {prompt}\n\n")
    [argv] = recorded_argvs(docker_log)
    assert argv == ["sandbox", "exec", "-i", "-w", "/workspace", "my-sandbox", "claude", *TURN_ARGS]


async def test_a_thread_session_is_resumed_in_the_equals_form(docker_log: Path) -> None:
    first = await sandbox_turn("one")
    second = await sandbox_turn("two", first.session_id)
    assert second.session_id == first.session_id
    assert recorded_argvs(docker_log)[1][-1] == f"--resume={first.session_id}"


@pytest.mark.parametrize(
    ("mode", "sandbox"),
    [("sandbox", "missing-sandbox"), ("stopped", "my-sandbox"), ("no-cli", "my-sandbox")],
    ids=["missing-sandbox", "docker-stopped", "cli-missing-in-sandbox"],
)
async def test_no_sandbox_to_run_in_is_offline(
    docker_log: Path, monkeypatch: pytest.MonkeyPatch, mode: str, sandbox: str
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_MODE", mode)
    outcome = await sandbox_turn("hello", sandbox=sandbox)
    assert outcome.kind == "offline"
    assert outcome.text == ""
    assert outcome.error


async def test_no_docker_at_all_is_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    outcome = await sandbox_turn("hello")
    assert outcome.kind == "offline"
    assert outcome.error is not None
    assert "docker" in outcome.error
