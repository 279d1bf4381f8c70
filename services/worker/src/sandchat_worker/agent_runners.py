"""Where the agent CLI runs (DESIGN §5): in the Docker sandbox, on this host, or simulated.

A runner only decides the argv; starting, streaming and stopping the process is the same for all
three (:mod:`sandchat_worker.agent_turn`). The prompt is never part of the argv: it goes to the
CLI on stdin, so no message can ever be read as a flag.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from sandchat.settings import Settings

# The arguments of a headless streamed turn; `--verbose` is required by stream-json and
# `--include-partial-messages` is what makes the CLI stream token deltas.
TURN_ARGS: Final = (
    "-p",
    "--output-format",
    "stream-json",
    "--verbose",
    "--include-partial-messages",
    "--permission-mode",
    "bypassPermissions",
)
# A live agent: one process for many turns, each a user message on stdin; the CLI asks before a tool
# (when its mode says so) on the same stream (`--permission-prompt-tool stdio`).
LIVE_ARGS: Final = (
    "-p",
    "--input-format",
    "stream-json",
    "--output-format",
    "stream-json",
    "--verbose",
    "--include-partial-messages",
    "--permission-prompt-tool",
    "stdio",
)
PROBE_ARGS: Final = ("auth", "status", "--json")


def turn_args(session_id: str | None) -> list[str]:
    """CLI arguments for one turn; the equals form keeps a session id from ever being its own argument."""
    args = list(TURN_ARGS)
    if session_id:
        args.append(f"--resume={session_id}")
    return args


def live_args(session_id: str, *, resume: bool, permission_mode: str, allowed_tools: Sequence[str]) -> list[str]:
    """CLI arguments of a live agent: resume ``session_id``, or start a new session with that id.

    Each value rides in its flag's equals form, one argument per allowed-tool rule (``Bash(npm test)``),
    so no value can ever be read as a flag or split into two.
    """
    args = [*LIVE_ARGS, f"--permission-mode={permission_mode}"]
    args.append(f"--resume={session_id}" if resume else f"--session-id={session_id}")
    args += [f"--allowedTools={rule}" for rule in allowed_tools]
    return args


class AgentRunner(Protocol):
    @property
    def name(self) -> str:
        """`docker-sandbox`, `local` or `simulator`."""
        ...

    def command(self, cli_args: Sequence[str]) -> list[str]:
        """The full argv that runs the CLI with these arguments."""
        ...


@dataclass(frozen=True, slots=True)
class DockerSandboxRunner:
    sandbox_name: str
    workspace: str
    claude_bin: str
    name: str = "docker-sandbox"

    def command(self, cli_args: Sequence[str]) -> list[str]:
        # -i keeps stdin attached: that is how the prompt reaches the CLI inside the sandbox.
        return ["docker", "sandbox", "exec", "-i", "-w", self.workspace, self.sandbox_name, self.claude_bin, *cli_args]


@dataclass(frozen=True, slots=True)
class LocalRunner:
    claude_bin: str
    name: str = "local"

    def command(self, cli_args: Sequence[str]) -> list[str]:
        return [self.claude_bin, *cli_args]


@dataclass(frozen=True, slots=True)
class SimulatorRunner:
    name: str = "simulator"

    def command(self, cli_args: Sequence[str]) -> list[str]:
        return [*simulator_command(), *cli_args]


def simulator_command() -> list[str]:
    """The simulator's console script next to this interpreter, else the module through it.

    The console script skips runpy's module lookup, which makes the per-turn start a little faster.
    """
    script = os.path.join(os.path.dirname(sys.executable), "sandchat-fake-claude")
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", "sandchat_worker.simulator"]


def build_runner(settings: Settings) -> AgentRunner:
    match settings.agent_runner:
        case "docker-sandbox":
            return DockerSandboxRunner(settings.sandbox_name, settings.sandbox_workspace, settings.claude_bin)
        case "local":
            return LocalRunner(settings.claude_bin)
        case "simulator":
            return SimulatorRunner()
