"""The sandbox service, in-process with real agent processes: runs, streams, signals, refusals, and
the agent's process group killed when the worker's connection is cut."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sandchat import sandbox_protocol as protocol
from sandchat.agent_cli import PROBE_ARGS, turn_args
from sandchat.agent_process import AgentOutput, AgentStartError
from sandchat_dev.stack import free_port
from sandchat_sandbox.tokens import hashed
from sandchat_worker.sandbox_client import RemoteAgentProcess
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.sandbox.fake_agent import install_fake_agent, started
from tests.sandbox_service import RunningSandbox, running_sandbox

SESSION = "32175d93-2cc2-4775-82a8-56ce80d73b2b"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "workspace"


@pytest.fixture
async def sandbox(tmp_path: Path, workspace: Path) -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(str(install_fake_agent(tmp_path / "bin")), workspace) as running:
        yield running


async def start(sandbox: RunningSandbox, args: list[str] | None = None) -> RemoteAgentProcess:
    process = await sandbox.runner().start(turn_args(None) if args is None else args)
    assert isinstance(process, RemoteAgentProcess)
    return process


async def read_line(stream: AgentOutput, pending: bytearray, timeout: float = 10) -> str:
    async with asyncio.timeout(timeout):
        while b"\n" not in pending:
            chunk = await stream.read(1 << 16)
            assert chunk, f"EOF before a whole line: {bytes(pending)!r}"
            pending += chunk
    line, _, rest = bytes(pending).partition(b"\n")
    pending[:] = rest
    return line.decode()


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie is dead, only not yet reaped
    except FileNotFoundError:
        return True


async def wait_until_gone(pids: list[int], timeout: float) -> float:
    started_at = time.monotonic()
    while not all(gone(pid) for pid in pids):
        assert time.monotonic() - started_at < timeout, f"still running after {timeout}s: {pids}"
        await asyncio.sleep(0.02)
    return time.monotonic() - started_at


async def ask(process: RemoteAgentProcess, command: str) -> list[str]:
    """One command to the fake agent; the words of the line it answers on stdout."""
    process.stdin.write(f"{command}\n".encode())
    await process.stdin.drain()
    return (await read_line(process.stdout, bytearray())).split()


async def test_a_run_streams_stdin_and_stdout_both_ways_and_ends_with_the_exit_status(sandbox: RunningSandbox) -> None:
    args = turn_args(SESSION)
    process = await start(sandbox, args)
    out, err = bytearray(), bytearray()
    try:
        assert json.loads(await read_line(process.stderr, err)) == args
        for word in ("one", "two", "three"):  # each answer read before the next line is written
            process.stdin.write(f"echo {word}\n".encode())
            await process.stdin.drain()
            assert await read_line(process.stdout, out) == word
        process.stdin.write(b"exit 3\n")
        await process.stdin.drain()
        assert await asyncio.wait_for(process.wait(), 10) == 3
        assert process.returncode == 3
        assert not process.lost
    finally:
        process.close()


async def test_closing_stdin_reaches_the_agent(sandbox: RunningSandbox) -> None:
    process = await start(sandbox)
    try:
        process.stdin.write(b"echo " + b"x" * 300_000 + b"\n")  # more than a pipe holds
        process.stdin.close()
        output = await asyncio.wait_for(process.stdout.read(), 10)
        assert output == b"x" * 300_000 + b"\neof\n"
        assert await process.wait() == 0
    finally:
        process.close()


async def test_a_signal_reaches_the_agents_whole_process_group(sandbox: RunningSandbox) -> None:
    process = await start(sandbox)
    try:
        _, agent, child = await ask(process, "child")
        process.signal_group(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == -signal.SIGTERM
        await wait_until_gone([int(agent), int(child)], 5)
    finally:
        process.close()


async def test_cutting_the_connection_mid_run_kills_the_agents_process_group_within_5_s(
    sandbox: RunningSandbox,
) -> None:
    process = await start(sandbox)
    _, agent, child = await ask(process, "child")
    process._websocket.transport.abort()  # the worker vanishes: no close frame, the socket is just gone
    await wait_until_gone([int(agent), int(child)], 5)
    assert await process.wait() == -signal.SIGKILL
    assert process.lost


@pytest.mark.parametrize(
    "command",
    [
        "escape",  # a process that left the agent's process group
        "daemon",  # a process holding the agent's stdout open
    ],
)
async def test_a_process_the_agent_left_behind_neither_holds_up_the_end_of_the_run_nor_outlives_it(
    sandbox: RunningSandbox, command: str
) -> None:
    process = await start(sandbox)
    try:
        _, left_behind = await ask(process, command)
        process.stdin.close()
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        process.close()
    await wait_until_gone([int(left_behind)], 5)


async def test_the_probe_is_a_run_like_any_other(sandbox: RunningSandbox) -> None:
    process = await start(sandbox, list(PROBE_ARGS))
    try:
        assert json.loads(await read_line(process.stderr, bytearray())) == list(PROBE_ARGS)
    finally:
        process.close()


@pytest.mark.parametrize("presented", [None, "", "wrong-token-of-some-length", "Basic x"], ids=repr)
async def test_a_handshake_without_the_token_is_refused_and_starts_nothing(
    sandbox: RunningSandbox, workspace: Path, presented: str | None
) -> None:
    headers = {} if presented is None else {"Authorization": presented if " " in presented else f"Bearer {presented}"}
    with pytest.raises(InvalidStatus) as refused:
        await connect(sandbox.url + protocol.RUN_PATH, additional_headers=headers, proxy=None)
    assert refused.value.response.status_code == 401
    assert started(workspace) == []


async def test_the_runner_says_when_its_token_is_refused(sandbox: RunningSandbox, workspace: Path) -> None:
    with pytest.raises(AgentStartError, match="refused the worker's SANDBOX_TOKEN"):
        await sandbox.runner(token="a-token-the-sandbox-does-not-know").start(turn_args(None))
    assert started(workspace) == []


async def test_a_sandbox_holding_only_the_hash_of_the_token_accepts_the_token(tmp_path: Path) -> None:
    token = "the-worker-token-0123456789"
    agent = str(install_fake_agent(tmp_path / "bin"))
    async with running_sandbox(agent, tmp_path / "w", token=hashed(token)) as sandbox:
        process = await sandbox.runner(token=token).start(turn_args(None))
        process.stdin.close()
        assert await asyncio.wait_for(process.wait(), 10) == 0
        process.close()
        with pytest.raises(AgentStartError, match="SANDBOX_TOKEN"):
            await sandbox.runner(token=hashed(token)).start(turn_args(None))


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-p", "write me a poem"],
        ["-p", "--dangerously-skip-permissions"],
        ["-p", "--permission-mode", "yolo"],
        ["-p", "--resume", SESSION],
        ["-p", "--resume=../../etc/passwd"],
        ["-p", "--session-id", "not-a-uuid"],
        ["-p", "--output-format", "stream-json", "--output-format", "text"],
        ["-p", "--mcp-config", "/tmp/servers.json"],
        ["-p", "--", "--help"],
        ["-p", "--permission-prompt-tool", "mcp__evil__approve"],
        ["auth", "login"],
        ["auth", "status", "--json", "--verbose"],
        [],
    ],
    ids=lambda args: " ".join(args) or "empty",
)
async def test_an_argv_the_runners_would_never_build_is_refused_and_starts_nothing(
    sandbox: RunningSandbox, workspace: Path, args: list[str]
) -> None:
    refusal = await raw_first_answer(sandbox, protocol.encode(protocol.RunRequest(args)))
    assert isinstance(refusal, protocol.Refused)
    assert refusal.reason == "bad_request"
    assert started(workspace) == []


@pytest.mark.parametrize(
    "first",
    [
        '{"type":"run","version":2,"args":["-p"]}',
        '{"type":"run","version":1,"args":["-p"],"user":"someone-else"}',
        '{"type":"signal","signal":"SIGKILL"}',
        "not json",
    ],
    ids=["newer-version", "unknown-field", "not-a-run", "not-json"],
)
async def test_a_first_message_that_is_not_a_run_request_of_this_version_is_refused(
    sandbox: RunningSandbox, workspace: Path, first: str
) -> None:
    refusal = await raw_first_answer(sandbox, first)
    assert isinstance(refusal, protocol.Refused)
    assert refusal.reason == "bad_request"
    assert started(workspace) == []


async def raw_first_answer(sandbox: RunningSandbox, first: str) -> protocol.ServerMessage:
    async with connect(
        sandbox.url + protocol.RUN_PATH, additional_headers=protocol.bearer(sandbox.token), proxy=None
    ) as websocket:
        await websocket.send(first)
        return protocol.decode_server(await asyncio.wait_for(websocket.recv(), 10))


async def test_a_cli_that_cannot_be_started_is_reported_as_not_started(tmp_path: Path) -> None:
    async with running_sandbox(str(tmp_path / "no-such-claude"), tmp_path / "w") as sandbox:
        with pytest.raises(AgentStartError, match="could not start the agent: no-such-claude could not be started"):
            await sandbox.runner().start(turn_args(None))


async def test_the_agent_sees_the_allow_list_not_the_sandboxs_environment(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "SANDBOX_TOKEN": sandbox.token,
        "AUTH_TOKEN": "tok-secret-of-the-service",
        "DATABASE_URL": "postgresql+asyncpg://u:pw@db/x",
        "SOME_OTHER_SECRET": "x",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", "the agent's own login")
    process = await start(sandbox)
    try:
        process.stdin.write(b"env\n")
        process.stdin.close()
        environment = json.loads(await read_line(process.stdout, bytearray()))
    finally:
        process.close()
    assert not set(secrets) & set(environment)
    assert sandbox.token not in json.dumps(environment)
    assert environment["CLAUDE_CODE_OAUTH_TOKEN"] == "the agent's own login"
    assert environment["PATH"] == os.environ["PATH"]


async def test_health_answers_without_a_token(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(sandbox.url.replace("ws://", "http://") + protocol.HEALTH_PATH)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_the_service_writes_json_log_lines_when_log_format_is_json(tmp_path: Path, workspace: Path) -> None:
    workspace.mkdir(parents=True)
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "SANDBOX_PORT": str(port),
        "SANDBOX_TOKEN": "sbx-" + "t" * 32,
        "SANDBOX_WORKSPACE": str(workspace),
        "CLAUDE_BIN": str(install_fake_agent(tmp_path / "bin")),
        "LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("sandchat-sandbox")), env=env, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(30):
            first = await process.stderr.readline()
    finally:
        process.terminate()
        rest = (await process.communicate())[1]
    lines = [json.loads(line) for line in (first + rest).decode().splitlines()]
    assert lines[0]["service"] == "sandbox"
    assert lines[0]["level"] == "INFO"
    assert lines[0]["message"].startswith("sandbox on ws://")
    assert any(line["message"] == "sandbox stopped" for line in lines)
