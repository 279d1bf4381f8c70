"""Fixtures for the agent runner: a private simulator state and a recorder of streamed events."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sandchat_worker.agent_events import AgentEvent, TextDelta, ToolOutput, ToolUse

CLI_DATA = Path(__file__).resolve().parents[1] / "data" / "claude-cli"
# What the simulator reads, for a runner whose agent sees only the allow-list (the sandbox service's).
SIMULATOR_PASSTHROUGH = (
    "SIMULATOR_STATE_DIR",
    "SIMULATOR_DELAY_MS",
    "SIMULATOR_TOKENS",
    "SIMULATOR_MODE",
    "SIMULATOR_AUTH",
)


@pytest.fixture(autouse=True)
def simulator_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own simulator sessions and a fast simulator."""
    state = tmp_path / "simulator"
    monkeypatch.setenv("SIMULATOR_STATE_DIR", str(state))
    monkeypatch.setenv("SIMULATOR_DELAY_MS", "0")
    monkeypatch.delenv("SIMULATOR_MODE", raising=False)
    monkeypatch.delenv("SIMULATOR_AUTH", raising=False)
    return state


@dataclass
class Recorder:
    """Receives on_events batches the way the turn job would."""

    batches: list[list[AgentEvent]] = field(default_factory=list)
    first_text: asyncio.Event = field(default_factory=asyncio.Event)

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

    @property
    def tools(self) -> list[ToolUse]:
        return [event for event in self.events if isinstance(event, ToolUse)]

    @property
    def tool_outputs(self) -> list[ToolOutput]:
        return [event for event in self.events if isinstance(event, ToolOutput)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
