"""The sandbox runner's own cases: the probe through the sandbox, a sandbox that is not there or does
not know the worker's token, and a sandbox that goes away mid-reply."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sandchat.settings import SettingsError, build_settings
from sandchat_dev.stack import free_port
from sandchat_sandbox.server import SandboxServer
from sandchat_worker.agent_probe import probe
from sandchat_worker.agent_runners import SandboxRunner, build_runner, simulator_command
from sandchat_worker.agent_turn import run_agent_turn

from tests.sandbox_service import running_sandbox
from tests.worker.conftest import SIMULATOR_PASSTHROUGH, Recorder


async def test_the_probe_goes_through_the_sandbox(tmp_path: Path) -> None:
    async with running_sandbox(simulator_command()[0], tmp_path / "w", SIMULATOR_PASSTHROUGH) as sandbox:
        result = await probe(sandbox.runner())
    assert result.status == "healthy"
    assert "(sandbox runner)" in result.message


async def test_a_logged_out_sandbox_says_where_to_log_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMULATOR_AUTH", "logged-out")
    async with running_sandbox(simulator_command()[0], tmp_path / "w", SIMULATOR_PASSTHROUGH) as sandbox:
        result = await probe(sandbox.runner())
    assert result.status == "unauthenticated"
    assert "docker compose run --rm sandbox claude auth login" in result.message


async def test_no_sandbox_listening_is_offline_for_turns_and_unavailable_for_the_probe() -> None:
    runner = SandboxRunner(f"ws://127.0.0.1:{free_port()}", "t" * 32)
    outcome = await run_agent_turn(
        runner, "hello", None, on_events=Recorder(), cancel=asyncio.Event(), inactivity_timeout_s=30
    )
    assert outcome.kind == "offline"
    result = await probe(runner)
    assert result.status == "unavailable"
    assert "is unreachable" in result.message


async def test_a_sandbox_that_does_not_know_the_token_is_named_in_the_probe(tmp_path: Path) -> None:
    async with running_sandbox(simulator_command()[0], tmp_path / "w", SIMULATOR_PASSTHROUGH) as sandbox:
        result = await probe(sandbox.runner(token="some-other-token-0123456789"))
    assert result.status == "unavailable"
    assert "refused the worker's SANDBOX_TOKEN" in result.message


async def test_a_sandbox_that_goes_away_mid_reply_ends_the_turn_with_a_clear_sentence(tmp_path: Path) -> None:
    recorder = Recorder()
    server = SandboxServer("t" * 32, simulator_command()[0], str(tmp_path), SIMULATOR_PASSTHROUGH)
    listening = await server.listen("127.0.0.1", 0)
    runner = SandboxRunner(f"ws://127.0.0.1:{next(iter(listening.sockets)).getsockname()[1]}", "t" * 32)
    running = asyncio.create_task(
        run_agent_turn(runner, "[[hang]]", None, on_events=recorder, cancel=asyncio.Event(), inactivity_timeout_s=30)
    )
    await asyncio.wait_for(recorder.first_text.wait(), 10)
    listening.close()  # the sandbox stops (a restart, its container gone)
    outcome = await asyncio.wait_for(running, 10)
    await listening.wait_closed()
    assert outcome.kind == "error"
    assert outcome.error == "The connection to the sandbox was lost; the agent was stopped."
    assert outcome.text.startswith("You said: [[hang]]")


def test_the_sandbox_runner_needs_a_token() -> None:
    with pytest.raises(SettingsError, match="SANDBOX_TOKEN"):
        build_runner(build_settings(agent_runner="sandbox"))


def test_the_token_may_come_from_a_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file-0123456789\n")
    runner = build_runner(build_settings(agent_runner="sandbox", sandbox_token_file=str(token_file)))
    assert runner == SandboxRunner("ws://127.0.0.1:8002", "from-a-file-0123456789")
