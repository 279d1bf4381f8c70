"""The two kinds of agent the live scenarios run against, and what each shows beyond the events a
person sees: the simulator, and the REAL Claude Code CLI (pinned) talking to the fake Messages API.

The events (text, approval requests, tool outputs) are the same for both and checked by the
scenarios themselves. Here is the rest: how the reply reads, what the model was sent, and the files
a tool made (the real CLI runs its tools in the workspace; the simulator only prints what they would).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sandchat_worker import simulator_sessions
from sandchat_worker.agent_events import TurnOutcome
from sandchat_worker.agent_runners import AgentRunner, SimulatorRunner

from tests.worker.fake_messages_api import SLOW_DELTA, SLOW_DELTAS, TEXT_REPLY, FakeMessagesApi
from tests.worker.live_agents import Person


class AgentKind(Protocol):
    """An agent to run a live scenario against."""

    @property
    def runner(self) -> AgentRunner: ...

    def check_reply(self, outcome: TurnOutcome, prompt: str) -> None:
        """``outcome`` has the whole reply to ``prompt``."""

    def check_stopped_reply(self, outcome: TurnOutcome, prompt: str) -> None:
        """``outcome`` has the beginning of the reply to ``prompt``, cut short by a stop."""

    def results_read(self, person: Person) -> list[str]:
        """The tool results the model was sent back (a tool's output, why it did not run, an answer)."""

    def conversation(self, outcome: TurnOutcome) -> str:
        """What the agent had of the conversation when it answered ``outcome``'s turn."""

    def check_made(self, name: str) -> None:
        """A tool made the file ``name`` (taken away again, so that a later turn's is seen afresh)."""

    def check_not_made(self, name: str) -> None:
        """No tool made the file ``name``."""


@dataclass(frozen=True)
class SimulatedAgent:
    """The simulator: it is its own model, and its tools run nothing (their outputs are all it shows)."""

    sessions: Path
    runner: AgentRunner = field(default_factory=SimulatorRunner)

    def check_reply(self, outcome: TurnOutcome, prompt: str) -> None:
        assert outcome.text.startswith(f"You said: {prompt}")

    def check_stopped_reply(self, outcome: TurnOutcome, prompt: str) -> None:
        self.check_reply(outcome, prompt)

    def results_read(self, person: Person) -> list[str]:
        return [output.output for output in person.tool_outputs]

    def conversation(self, outcome: TurnOutcome) -> str:
        assert outcome.session_id is not None
        return repr(simulator_sessions.history(self.sessions, outcome.session_id))

    def check_made(self, name: str) -> None:
        """Nothing to see: the simulator makes no files."""

    def check_not_made(self, name: str) -> None:
        """Nothing to see: the simulator makes no files."""


@dataclass(frozen=True)
class RealCliAgent:
    """The real CLI, running its tools in ``workspace`` and asking ``api`` for each reply."""

    runner: AgentRunner
    workspace: Path
    api: FakeMessagesApi

    def check_reply(self, outcome: TurnOutcome, prompt: str) -> None:
        assert outcome.text == TEXT_REPLY

    def check_stopped_reply(self, outcome: TurnOutcome, prompt: str) -> None:
        assert outcome.text.startswith(SLOW_DELTA)
        assert len(outcome.text) < len(SLOW_DELTA) * SLOW_DELTAS

    def results_read(self, person: Person) -> list[str]:
        """Every tool result the fake API received (from this module's tests so far)."""
        return self.api.tool_results()

    def conversation(self, outcome: TurnOutcome) -> str:
        """The messages of the latest request (the CLI sends the whole conversation each time)."""
        return last_request_texts(self.api)

    def check_made(self, name: str) -> None:
        path = self.workspace / name
        assert path.exists(), f"{name} is not in the workspace"
        path.unlink()

    def check_not_made(self, name: str) -> None:
        assert not (self.workspace / name).exists()


def last_request_texts(api: FakeMessagesApi) -> str:
    """Everything the CLI sent the model in its latest request (the conversation so far)."""
    return repr(api.requests[-1]["messages"])
