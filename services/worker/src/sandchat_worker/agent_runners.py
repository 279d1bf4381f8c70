"""Where the agent CLI runs: the sandbox service, a Docker sandbox, this host, or simulated.

Setting each up is in docs/operating.md#agent-setup; what each lets the agent reach, in docs/security.md.

A runner starts the CLI with arguments from sandchat.agent_cli and hands back an
:class:`~sandchat.agent_process.AgentProcess`; streaming and stopping it is the same for every
runner (:mod:`sandchat_worker.agent_turn`). The prompt is never part of the argv: it goes to the CLI
on stdin, so no message can ever be read as a flag. Whatever the runner starts sees only the
allow-listed environment of sandchat.agent_env, never the worker's settings.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from sandchat.agent_env import agent_environment
from sandchat.agent_groups import new_run_id
from sandchat.agent_process import AgentProcess, spawn
from sandchat.settings import Settings

from sandchat_worker.sandbox_client import start_remote

# What the docker (or sbx) CLI on the host needs to find its engine; the agent in the sandbox sees
# none of it (`exec` passes no environment but what `-e` names).
DOCKER_PREFIXES: Final = ("DOCKER_",)
DOCKER_NAMES: Final = frozenset({"XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"})


class AgentRunner(Protocol):
    @property
    def name(self) -> str:
        """`sandbox`, `docker-sandbox`, `local` or `simulator`."""
        ...

    async def start(self, cli_args: Sequence[str]) -> AgentProcess:
        """The CLI running with these arguments; raises AgentStartError when it cannot be started."""
        ...


async def _start_here(
    argv: list[str], passthrough: Sequence[str], *, prefixes: tuple[str, ...] = (), names: frozenset[str] = frozenset()
) -> AgentProcess:
    run_id = new_run_id()
    env = agent_environment(os.environ, passthrough, extra_prefixes=prefixes, extra_names=names, run_marker=run_id)
    return await spawn(argv, env, run_id)


@dataclass(frozen=True, slots=True)
class SandboxRunner:
    """The CLI in the sandbox service's container (compose's default): one WebSocket per run."""

    url: str
    token: str
    name: str = "sandbox"

    async def start(self, cli_args: Sequence[str]) -> AgentProcess:
        return await start_remote(self.url, self.token, cli_args)


@dataclass(frozen=True, slots=True)
class DockerSandboxRunner:
    sandbox_name: str
    workspace: str
    claude_bin: str
    cli: Literal["docker", "sbx"] = "docker"
    env_passthrough: tuple[str, ...] = ()
    name: str = "docker-sandbox"

    def command(self, cli_args: Sequence[str]) -> list[str]:
        # -i keeps stdin attached: that is how the prompt reaches the CLI inside the sandbox.
        exec_args = ["exec", "-i", "-w", self.workspace, self.sandbox_name, self.claude_bin, *cli_args]
        return ["docker", "sandbox", *exec_args] if self.cli == "docker" else ["sbx", *exec_args]

    async def start(self, cli_args: Sequence[str]) -> AgentProcess:
        return await _start_here(
            self.command(cli_args), self.env_passthrough, prefixes=DOCKER_PREFIXES, names=DOCKER_NAMES
        )


@dataclass(frozen=True, slots=True)
class LocalRunner:
    claude_bin: str
    env_passthrough: tuple[str, ...] = ()
    name: str = "local"

    async def start(self, cli_args: Sequence[str]) -> AgentProcess:
        return await _start_here([self.claude_bin, *cli_args], self.env_passthrough)


@dataclass(frozen=True, slots=True)
class SimulatorRunner:
    env_passthrough: tuple[str, ...] = ()
    name: str = "simulator"

    async def start(self, cli_args: Sequence[str]) -> AgentProcess:
        # The simulator is a process like any agent: the same allow-list, plus its own SIMULATOR_* knobs.
        return await _start_here([*simulator_command(), *cli_args], self.env_passthrough, prefixes=("SIMULATOR_",))


def simulator_command() -> list[str]:
    """The simulator's console script next to this interpreter, else the module through it.

    The console script skips runpy's module lookup, which makes the per-turn start a little faster.
    """
    script = os.path.join(os.path.dirname(sys.executable), "sandchat-fake-claude")
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", "sandchat_worker.simulator"]


def build_runner(settings: Settings) -> AgentRunner:
    """The configured runner; raises SettingsError when AGENT_RUNNER=sandbox has no usable SANDBOX_TOKEN."""
    passthrough = settings.agent_env_passthrough
    match settings.agent_runner:
        case "sandbox":
            return SandboxRunner(settings.sandbox_url, settings.sandbox_token_value())
        case "docker-sandbox":
            return DockerSandboxRunner(
                settings.sandbox_name,
                settings.sandbox_workspace,
                settings.claude_bin,
                settings.sandbox_cli,
                passthrough,
            )
        case "local":
            return LocalRunner(settings.claude_bin, passthrough)
        case "simulator":
            return SimulatorRunner(passthrough)
