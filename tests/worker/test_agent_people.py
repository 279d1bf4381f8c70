"""Each person's agent works in their own directory, with their own Claude configuration directory and
login, under every runner; the sandbox service refuses a person's run outside their directories."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path

import msgspec
import pytest
from sandchat import sandbox_protocol as protocol
from sandchat.agent_users import AgentLogin, AgentUser
from sandchat_worker.agent_runners import AgentRunner, DockerSandboxRunner, SimulatorRunner, simulator_command
from sandchat_worker.agent_session import AgentSpec
from websockets.asyncio.client import connect

from tests.sandbox_service import running_sandbox
from tests.worker.conftest import SIMULATOR_PASSTHROUGH
from tests.worker.fake_docker import PASSTHROUGH, install_fake_docker, path_with, recorded_calls
from tests.worker.live_agents import LiveAgents, run_turn

ALICE = AgentUser("alice-1", AgentLogin("oauth_token", "alice-oauth-secret-0001"))
BOB = AgentUser("bob-2", AgentLogin("api_key", "bob-api-secret-0002"))
OPERATOR_SECRETS = {"CLAUDE_CODE_OAUTH_TOKEN": "operator-oauth-9999", "ANTHROPIC_API_KEY": "operator-key-9999"}


@pytest.fixture(autouse=True)
def operator_login(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker (and the sandbox service) run with the operator's own login in their environment."""
    for name, value in OPERATOR_SECRETS.items():
        monkeypatch.setenv(name, value)


async def agent_report(
    live_agents: LiveAgents, runner: AgentRunner, user: AgentUser | None
) -> tuple[str, dict[str, str]]:
    """What the agent itself sees: its working directory and environment (the simulator's [[env]])."""
    agent = await live_agents.start(runner, permission_mode="bypassPermissions", user=user, thread_id=f"t-{user}")
    outcome = await run_turn(agent, "[[env]]")
    assert outcome.kind == "complete", outcome.error
    cwd = re.search(r"^cwd: (.*)$", outcome.text, re.MULTILINE)
    assert cwd is not None, outcome.text
    env = dict(line.split("=", 1) for line in outcome.text.split("env:\n", 1)[1].splitlines() if "=" in line)
    return cwd.group(1), env


def assert_own_place(cwd: str, env: dict[str, str], workspace: Path, user: AgentUser) -> None:
    home = workspace / "users" / user.user_id
    assert cwd == str(home / "work")
    assert env["CLAUDE_CONFIG_DIR"] == str(home / "claude")
    assert user.login is not None
    assert {name: env.get(name) for name in OPERATOR_SECRETS} == {
        name: user.login.secret if name == next(iter(user.login.environment())) else None for name in OPERATOR_SECRETS
    }


def assert_nobody_elses(env: dict[str, str], *others: AgentUser) -> None:
    seen = "\n".join(env.values())
    for secret in OPERATOR_SECRETS.values():
        assert secret not in seen
    for other in others:
        assert other.login is not None
        assert other.login.secret not in seen
        assert other.user_id not in seen


async def test_two_people_get_their_own_directories_configuration_and_login(
    live_agents: LiveAgents, tmp_path: Path
) -> None:
    workspace = tmp_path / "workspace"
    runner = SimulatorRunner(workspace=str(workspace))

    alice_cwd, alice_env = await agent_report(live_agents, runner, ALICE)
    bob_cwd, bob_env = await agent_report(live_agents, runner, BOB)

    assert_own_place(alice_cwd, alice_env, workspace, ALICE)
    assert_own_place(bob_cwd, bob_env, workspace, BOB)
    assert_nobody_elses(alice_env, BOB)
    assert_nobody_elses(bob_env, ALICE)
    for user in (ALICE, BOB):
        home = workspace / "users" / user.user_id
        assert stat.S_IMODE(home.joinpath("work").stat().st_mode) == 0o700
        assert stat.S_IMODE(home.joinpath("claude").stat().st_mode) == 0o700


async def test_the_operators_login_serves_a_person_without_one_only_when_shared(
    live_agents: LiveAgents, tmp_path: Path
) -> None:
    runner = SimulatorRunner(workspace=str(tmp_path))

    _, shared = await agent_report(live_agents, runner, AgentUser("carol-3", shared_login=True))
    _, alone = await agent_report(live_agents, runner, AgentUser("dave-4", shared_login=False))

    assert {name: shared.get(name) for name in OPERATOR_SECRETS} == OPERATOR_SECRETS
    assert shared["CLAUDE_CONFIG_DIR"] == str(tmp_path / "users" / "carol-3" / "claude")
    assert not set(OPERATOR_SECRETS) & set(alone)


async def test_the_operators_own_agent_runs_in_the_workspace_as_before(live_agents: LiveAgents, tmp_path: Path) -> None:
    cwd, env = await agent_report(live_agents, SimulatorRunner(workspace=str(tmp_path)), None)

    assert cwd == str(tmp_path)
    assert "CLAUDE_CONFIG_DIR" not in env
    assert {name: env.get(name) for name in OPERATOR_SECRETS} == OPERATOR_SECRETS
    assert not (tmp_path / "users").exists()


async def test_a_changed_login_starts_a_new_agent_process(live_agents: LiveAgents, tmp_path: Path) -> None:
    from sandchat_worker.agent_pool import AgentPool  # noqa: PLC0415

    pool = AgentPool(SimulatorRunner(workspace=str(tmp_path)), max_agents=4, idle_s=60)
    try:
        first = await pool.checkout(AgentSpec("thread-a", None, "bypassPermissions", user=ALICE))
        pool.checkin(first)
        renewed = AgentUser(ALICE.user_id, AgentLogin("oauth_token", "alice-oauth-secret-0003"))
        second = await pool.checkout(AgentSpec("thread-a", None, "bypassPermissions", user=renewed))
        pool.checkin(second)
        outcome = await run_turn(second, "[[env]]")
    finally:
        await pool.close_all()
    assert first is not second
    assert "alice-oauth-secret-0003" in outcome.text
    assert "alice-oauth-secret-0001" not in outcome.text


async def test_the_docker_sandbox_runs_each_person_in_their_directories_without_a_secret_in_any_argv(
    live_agents: LiveAgents, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = install_fake_docker(tmp_path / "bin")
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    workspace = tmp_path / "sandbox-workspace"  # the fake runs "inside the sandbox" on this host
    runner = DockerSandboxRunner(
        "my-sandbox", str(workspace), "claude", "docker", (*PASSTHROUGH, *SIMULATOR_PASSTHROUGH)
    )

    alice_cwd, alice_env = await agent_report(live_agents, runner, ALICE)
    bob_cwd, bob_env = await agent_report(live_agents, runner, BOB)

    assert_own_place(alice_cwd, alice_env, workspace, ALICE)
    assert_own_place(bob_cwd, bob_env, workspace, BOB)
    calls = recorded_calls(log)
    made = [call["argv"] for call in calls if "mkdir" in call["argv"]]
    assert made == [
        ["sandbox", "exec", "-w", str(workspace), "my-sandbox", "mkdir", "-p", "-m", "700", "--",
         str(workspace / "users" / user.user_id / "work"), str(workspace / "users" / user.user_id / "claude")]
        for user in (ALICE, BOB)
    ]  # fmt: skip
    everything_passed = "\n".join(" ".join(call["argv"]) for call in calls)
    for secret in [*OPERATOR_SECRETS.values(), "alice-oauth-secret", "bob-api-secret"]:
        assert secret not in everything_passed
    alice_call = next(
        call
        for call in calls
        if [*call["argv"][:5]] == ["sandbox", "exec", "-i", "-w", str(workspace / "users/alice-1/work")]
    )
    assert alice_call["env"]["CLAUDE_CODE_OAUTH_TOKEN"] == "alice-oauth-secret-0001"
    assert "ANTHROPIC_API_KEY" not in alice_call["env"]


async def test_the_sandbox_service_maps_each_person_to_their_directories(
    live_agents: LiveAgents, tmp_path: Path
) -> None:
    workspace = tmp_path / "sandbox-workspace"
    async with running_sandbox(simulator_command()[0], workspace, SIMULATOR_PASSTHROUGH) as sandbox:
        alice_cwd, alice_env = await agent_report(live_agents, sandbox.runner(), ALICE)
        bob_cwd, bob_env = await agent_report(live_agents, sandbox.runner(), BOB)
        for agent in live_agents.agents:
            await agent.close()

    assert_own_place(alice_cwd, alice_env, workspace.resolve(), ALICE)
    assert_own_place(bob_cwd, bob_env, workspace.resolve(), BOB)
    assert_nobody_elses(alice_env, BOB)
    assert_nobody_elses(bob_env, ALICE)


async def _run_request(url: str, token: str, user: protocol.RunUser) -> protocol.ServerMessage:
    async with connect(url + protocol.RUN_PATH, additional_headers=protocol.bearer(token)) as websocket:
        await websocket.send(protocol.encode(protocol.RunRequest(["auth", "status", "--json"], user=user)))
        return protocol.decode_server(await asyncio.wait_for(websocket.recv(), 10))


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        (protocol.RunUser("alice-1", cwd="../../bob-2/work"), "outside the person's directory"),
        (protocol.RunUser("alice-1", cwd="/etc"), "outside the person's directory"),
        (protocol.RunUser("alice-1", cwd="escape"), "outside the person's directory"),
        (protocol.RunUser("../alice-1"), "a user id is"),
        (protocol.RunUser(".."), "a user id is"),
        (protocol.RunUser("alice-1", env={"LD_PRELOAD": "/tmp/x.so"}), "one login and nothing else"),
        (protocol.RunUser("mallory-5"), "a link out of the workspace"),
    ],
    ids=["dotdot", "absolute", "symlink-out", "bad-id", "dotdot-id", "extra-env", "linked-home"],
)
async def test_the_sandbox_service_refuses_a_path_outside_the_persons_directories(
    tmp_path: Path, user: protocol.RunUser, reason: str
) -> None:
    workspace = tmp_path / "sandbox-workspace"
    (workspace / "users" / "alice-1" / "work").mkdir(parents=True)
    (workspace / "users" / "bob-2" / "work").mkdir(parents=True)
    (workspace / "users" / "alice-1" / "work" / "escape").symlink_to(tmp_path)  # made by Alice's own agent
    (workspace / "users" / "mallory-5").symlink_to(workspace / "users" / "bob-2")
    async with running_sandbox(simulator_command()[0], workspace, SIMULATOR_PASSTHROUGH) as sandbox:
        answer = await _run_request(sandbox.url, sandbox.token, user)
        runs = sandbox.server.runs

    assert isinstance(answer, protocol.Refused)
    assert answer.reason == "bad_request"
    assert reason in answer.message
    assert runs == 0


async def test_a_persons_run_inside_their_directory_is_started(tmp_path: Path) -> None:
    workspace = tmp_path / "sandbox-workspace"
    (workspace / "users" / "alice-1" / "work" / "project").mkdir(parents=True)
    async with running_sandbox(simulator_command()[0], workspace, SIMULATOR_PASSTHROUGH) as sandbox:
        answer = await _run_request(sandbox.url, sandbox.token, protocol.RunUser("alice-1", cwd="project"))
    assert isinstance(answer, protocol.Started)


def test_an_older_sandbox_refuses_a_persons_run_rather_than_ignoring_the_person() -> None:
    class OldRunRequest(msgspec.Struct, tag="run", tag_field="type", forbid_unknown_fields=True):
        args: list[str]
        version: int = 1

    framed = protocol.encode(protocol.RunRequest(["-p"], user=protocol.RunUser("alice-1")))
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(framed, type=OldRunRequest)
    assert msgspec.json.decode(protocol.encode(protocol.RunRequest(["-p"])), type=OldRunRequest).args == ["-p"]
    assert os.sep == "/"
