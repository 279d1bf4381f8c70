"""Fixtures for the agent runner: a private simulator state, a recorder of streamed events, and the
real CLI (pinned) talking to a fake Messages API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import pytest
from sandchat_worker.agent_events import AgentEvent, TextDelta, ToolOutput, ToolUse
from sandchat_worker.agent_runners import LocalRunner

from tests.worker.fake_docker import install_fake_docker, path_with
from tests.worker.fake_messages_api import FakeMessagesApi, cli_environment, serve_fake_messages_api

if TYPE_CHECKING:
    from tests.worker.live_agents import LiveAgents

CLI_DATA = Path(__file__).resolve().parents[1] / "data" / "claude-cli"
# What the simulator reads, for a runner whose agent sees only the allow-list (the sandbox service's).
SIMULATOR_PASSTHROUGH = (
    "SIMULATOR_STATE_DIR",
    "SIMULATOR_DELAY_MS",
    "SIMULATOR_TOKENS",
    "SIMULATOR_MODE",
    "SIMULATOR_AUTH",
)
CLAUDE_BIN = Path(__file__).resolve().parents[2] / "services/worker/claude-cli/node_modules/.bin/claude"
EventT = TypeVar("EventT", bound=AgentEvent)


@pytest.fixture(autouse=True)
def simulator_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own simulator sessions and a fast simulator."""
    state = tmp_path / "simulator"
    monkeypatch.setenv("SIMULATOR_STATE_DIR", str(state))
    monkeypatch.setenv("SIMULATOR_DELAY_MS", "0")
    monkeypatch.delenv("SIMULATOR_MODE", raising=False)
    monkeypatch.delenv("SIMULATOR_AUTH", raising=False)
    return state


class EventsOf(Generic[EventT]):
    """A recorder's events of one type, as an attribute of it (``tools = EventsOf(ToolUse)``)."""

    def __init__(self, event_type: type[EventT]) -> None:
        self.event_type = event_type

    def __get__(self, recorder: Recorder, owner: type[Recorder] | None = None) -> list[EventT]:
        return [event for event in recorder.events if isinstance(event, self.event_type)]


@dataclass
class Recorder:
    """Receives on_events batches the way the turn job would."""

    batches: list[list[AgentEvent]] = field(default_factory=list)
    first_text: asyncio.Event = field(default_factory=asyncio.Event)

    tools = EventsOf(ToolUse)
    tool_outputs = EventsOf(ToolOutput)

    async def __call__(self, events: Sequence[AgentEvent]) -> None:
        self.batches.append(list(events))
        if any(isinstance(event, TextDelta) for event in events):
            self.first_text.set()

    @property
    def events(self) -> list[AgentEvent]:
        return [event for batch in self.batches for event in batch]

    @property
    def text(self) -> str:
        return "".join(event.text for event in self.events if isinstance(event, TextDelta))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def claude_bin() -> Path:
    if not CLAUDE_BIN.exists():
        pytest.fail(f"The Claude Code CLI is not installed at {CLAUDE_BIN}: run `make install`.", pytrace=False)
    return CLAUDE_BIN


@pytest.fixture(scope="module")
def messages_api() -> Iterator[FakeMessagesApi]:
    with serve_fake_messages_api() as api:
        yield api


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The agent's working directory (the CLI runs in the test's current directory)."""
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def local_runner(
    claude_bin: Path, messages_api: FakeMessagesApi, tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> LocalRunner:
    """The CLI with a throwaway home, talking only to the fake API on loopback."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(workspace)
    for name, value in cli_environment(messages_api, home).items():
        monkeypatch.setenv(name, value)
    return LocalRunner(str(claude_bin))


@pytest.fixture
def runner(local_runner: LocalRunner) -> LocalRunner:
    """The real CLI on this host (a test module may run it through other runners too)."""
    return local_runner


@pytest.fixture
async def live_agents() -> AsyncIterator[LiveAgents]:
    """Live agents started by the test; all ended after it, with no process of theirs left."""
    from tests.worker.live_agents import LiveAgents  # noqa: PLC0415 - it imports Recorder from here

    agents = LiveAgents()
    try:
        yield agents
    finally:
        await agents.close()


@pytest.fixture
def docker_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake `docker` and `sbx` first on PATH (tests/worker/fake_docker.py); the file of their calls."""
    folder = tmp_path / "bin"
    log = install_fake_docker(folder)
    monkeypatch.setenv("PATH", path_with(folder))
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    return log
