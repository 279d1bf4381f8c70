"""The REAL Claude Code CLI as two people's agents, here and through the sandbox service: the fake Messages
API receives each person's own credential for their turns only, never the other's nor the operator's, and
the CLI keeps its state in the person's own configuration directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sandchat.agent_users import AgentLogin, AgentUser
from sandchat_worker.agent_runners import AgentRunner, LocalRunner

from tests.sandbox_service import running_sandbox
from tests.worker.fake_messages_api import TEXT_REPLY, FakeMessagesApi
from tests.worker.live_agents import LiveAgents, run_turn

pytestmark = pytest.mark.realcli

ALICE = AgentUser("alice-1", AgentLogin("api_key", "sk-alice-0001"))
BOB = AgentUser("bob-2", AgentLogin("api_key", "sk-bob-0002"))


@pytest.fixture(params=["local", "sandbox"])
async def people_runner(
    request: pytest.FixtureRequest, local_runner: LocalRunner, tmp_path: Path
) -> AsyncIterator[tuple[AgentRunner, Path]]:
    """The CLI started here (people's directories under the workspace) or by the sandbox service."""
    if request.param == "local":
        workspace = tmp_path / "people"
        yield LocalRunner(local_runner.claude_bin, workspace=str(workspace)), workspace
        return
    async with running_sandbox(local_runner.claude_bin, tmp_path / "sandbox-workspace") as sandbox:
        yield sandbox.runner(), (tmp_path / "sandbox-workspace").resolve()


async def test_each_persons_turns_reach_the_api_with_their_own_credential_only(
    people_runner: tuple[AgentRunner, Path], live_agents: LiveAgents, messages_api: FakeMessagesApi
) -> None:
    runner, workspace = people_runner
    alice = await live_agents.start(runner, permission_mode="bypassPermissions", user=ALICE, thread_id="a")
    bob = await live_agents.start(runner, permission_mode="bypassPermissions", user=BOB, thread_id="b")

    for agent, prompt in ((alice, "Alice asks one"), (bob, "Bob asks one"), (alice, "Alice asks two")):
        outcome = await run_turn(agent, prompt)
        assert outcome.kind == "complete", outcome.error
        assert outcome.text == TEXT_REPLY

    assert messages_api.credentials_of("Alice asks") == {"sk-alice-0001"}
    assert messages_api.credentials_of("Bob asks") == {"sk-bob-0002"}
    assert len(messages_api.credentials) >= 3
    assert "test" not in messages_api.credentials  # the operator's key (the worker's environment)
    for user in (ALICE, BOB):
        config = workspace / "users" / user.user_id / "claude"
        assert any(config.rglob("*.jsonl")), f"no session of {user.user_id} in their configuration directory"
