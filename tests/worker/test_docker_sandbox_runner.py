"""The docker-sandbox runner against a fake `docker`/`sbx` on PATH: exact argv, sessions, its environment,
and a sandbox that is not there."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import pytest
from sandchat.agent_cli import TURN_ARGS
from sandchat.settings import build_settings
from sandchat_worker.agent_events import TurnOutcome
from sandchat_worker.agent_runners import DockerSandboxRunner, LocalRunner, SandboxRunner, SimulatorRunner, build_runner
from sandchat_worker.agent_turn import run_agent_turn

from tests.worker.conftest import Recorder
from tests.worker.fake_docker import PASSTHROUGH, recorded_calls

Cli = Literal["docker", "sbx"]
CLIS: tuple[Cli, ...] = ("docker", "sbx")
EXEC_PREFIX = {"docker": ["sandbox", "exec", "-i"], "sbx": ["exec", "-i"]}


def sandbox_runner(cli: Cli = "docker", sandbox: str = "my-sandbox") -> DockerSandboxRunner:
    return DockerSandboxRunner(sandbox, "/workspace", "claude", cli, PASSTHROUGH)


async def sandbox_turn(
    prompt: str, session_id: str | None = None, *, sandbox: str = "my-sandbox", cli: Cli = "docker"
) -> TurnOutcome:
    return await run_agent_turn(
        sandbox_runner(cli, sandbox),
        prompt,
        session_id,
        on_events=Recorder(),
        cancel=asyncio.Event(),
        inactivity_timeout_s=30,
    )


def test_settings_choose_the_runner() -> None:
    settings = build_settings(
        agent_runner="docker-sandbox", sandbox_name="box", sandbox_workspace="/w", claude_bin="c", sandbox_cli="sbx"
    )
    assert build_runner(settings) == DockerSandboxRunner("box", "/w", "c", "sbx")
    assert build_runner(build_settings(agent_runner="local", claude_bin="/opt/claude")) == LocalRunner("/opt/claude")
    assert isinstance(build_runner(build_settings(agent_runner="simulator")), SimulatorRunner)
    token = "t" * 32
    sandbox = build_settings(agent_runner="sandbox", sandbox_url="ws://sandbox:8002/", sandbox_token=token)
    assert build_runner(sandbox) == SandboxRunner("ws://sandbox:8002", token)


@pytest.mark.parametrize("cli", CLIS)
async def test_the_cli_runs_in_the_sandbox_with_the_prompt_on_stdin_only(docker_log: Path, cli: Cli) -> None:
    prompt = "--help; $(id)"
    outcome = await sandbox_turn(prompt, cli=cli)
    assert outcome.kind == "complete"
    assert outcome.text.startswith(f"You said: {prompt}\n\n")
    [call] = recorded_calls(docker_log)
    assert call["tool"] == cli
    assert call["argv"] == [*EXEC_PREFIX[cli], "-w", "/workspace", "my-sandbox", "claude", *TURN_ARGS]


async def test_the_docker_cli_gets_no_setting_of_the_worker(docker_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "AUTH_TOKEN": "tok-secret",
        "DATABASE_URL": "postgresql+asyncpg://u:pw@db/x",
        "SANDBOX_TOKEN": "s" * 20,
        "REDIS_URL": "redis://:pw@r/0",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    assert (await sandbox_turn("hello")).kind == "complete"
    [call] = recorded_calls(docker_log)
    assert not set(secrets) & set(call["env"])
    assert call["env"]["DOCKER_HOST"] == "unix:///run/user/1000/docker.sock"


async def test_a_thread_session_is_resumed_in_the_equals_form(docker_log: Path) -> None:
    first = await sandbox_turn("one")
    second = await sandbox_turn("two", first.session_id)
    assert second.session_id == first.session_id
    assert recorded_calls(docker_log)[1]["argv"][-1] == f"--resume={first.session_id}"


@pytest.mark.parametrize("cli", CLIS)
@pytest.mark.parametrize(
    ("mode", "sandbox"),
    [("sandbox", "missing-sandbox"), ("stopped", "my-sandbox"), ("no-cli", "my-sandbox")],
    ids=["missing-sandbox", "docker-stopped", "cli-missing-in-sandbox"],
)
async def test_no_sandbox_to_run_in_is_offline(
    docker_log: Path, monkeypatch: pytest.MonkeyPatch, mode: str, sandbox: str, cli: Cli
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_MODE", mode)
    outcome = await sandbox_turn("hello", sandbox=sandbox, cli=cli)
    assert outcome.kind == "offline"
    assert outcome.text == ""
    assert outcome.error


@pytest.mark.parametrize("cli", CLIS)
async def test_no_docker_at_all_is_offline_and_names_the_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    outcome = await sandbox_turn("hello", cli=cli)
    assert outcome.kind == "offline"
    assert outcome.error is not None
    assert f"{cli} could not be started" in outcome.error
