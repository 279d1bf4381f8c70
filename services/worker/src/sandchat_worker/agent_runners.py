"""Where the agent CLI runs: the sandbox service, a Docker sandbox, this host, or simulated.

Setting each up is in docs/operating.md#agent-setup; what each lets the agent reach, in docs/security.md.

A runner starts the CLI with arguments from sandchat.agent_cli and hands back an
:class:`~sandchat.agent_process.AgentProcess`; streaming and stopping it is the same for every
runner (:mod:`sandchat_worker.agent_turn`). The prompt is never part of the argv: it goes to the CLI
on stdin, so no message can ever be read as a flag. Whatever the runner starts sees only the
allow-listed environment of sandchat.agent_env, never the worker's settings.

A turn of a person (``user``) runs in that person's directories with their own configuration
directory and login (sandchat.agent_users); without one, as the operator's agent in the workspace.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from sandchat.agent_env import agent_environment
from sandchat.agent_groups import new_run_id
from sandchat.agent_process import AgentProcess, AgentStartError, spawn
from sandchat.agent_users import (
    OPERATOR_LOGIN_VARIABLES,
    AgentUser,
    UserDirectories,
    make_user_directories,
    person_environment,
    user_directories,
)
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

    async def start(self, cli_args: Sequence[str], user: AgentUser | None = None) -> AgentProcess:
        """The CLI running with these arguments (as ``user``'s agent); raises AgentStartError when it cannot start."""
        ...


async def _start_here(
    argv: list[str],
    passthrough: Sequence[str],
    *,
    prefixes: tuple[str, ...] = (),
    names: frozenset[str] = frozenset(),
    person: _Person | None = None,
    workspace: str | None = None,
) -> AgentProcess:
    """Start ``argv`` on this host: for a person, in their working directory with their environment;
    else (the operator's agent) in ``workspace`` (None: this process's working directory)."""
    run_id = new_run_id()
    env = agent_environment(os.environ, passthrough, extra_prefixes=prefixes, extra_names=names, run_marker=run_id)
    if person is None:
        return await spawn(argv, env, run_id, cwd=workspace)
    env = person_environment(env, person.user, person.directories)
    return await spawn(argv, env, run_id, cwd=person.directories.work if person.here else None)


@dataclass(frozen=True, slots=True)
class _Person:
    """A person's agent: their directories, here or (``here`` false) inside a sandbox."""

    user: AgentUser
    directories: UserDirectories
    here: bool = True

    @classmethod
    def on_this_host(cls, user: AgentUser, workspace: str | None) -> _Person:
        directories = user_directories(os.path.abspath(workspace or "."), user.user_id)
        try:
            make_user_directories(directories)
        except OSError as exc:
            raise AgentStartError(f"the agent's directories could not be created ({exc.strerror})") from None
        return cls(user, directories)


async def _start_on_this_host(
    argv: list[str],
    passthrough: Sequence[str],
    workspace: str | None,
    user: AgentUser | None,
    *,
    prefixes: tuple[str, ...] = (),
) -> AgentProcess:
    """Start ``argv`` on this host as ``user``'s agent in their directories (made below ``workspace``
    when missing), or as the operator's in ``workspace``: the local and simulator runners."""
    person = None if user is None else _Person.on_this_host(user, workspace)
    return await _start_here(argv, passthrough, prefixes=prefixes, person=person, workspace=workspace)


@dataclass(frozen=True, slots=True)
class SandboxRunner:
    """The CLI in the sandbox service's container (compose's default): one WebSocket per run."""

    url: str
    token: str
    name: str = "sandbox"

    async def start(self, cli_args: Sequence[str], user: AgentUser | None = None) -> AgentProcess:
        return await start_remote(self.url, self.token, cli_args, user)


@dataclass(frozen=True, slots=True)
class DockerSandboxRunner:
    sandbox_name: str
    workspace: str
    claude_bin: str
    cli: Literal["docker", "sbx"] = "docker"
    env_passthrough: tuple[str, ...] = ()
    name: str = "docker-sandbox"

    def command(self, cli_args: Sequence[str], user: AgentUser | None = None) -> list[str]:
        # -i keeps stdin attached: that is how the prompt reaches the CLI inside the sandbox.
        return self._exec(["-i", *self._place(user)], [self.claude_bin, *cli_args])

    def _exec(self, options: list[str], argv: list[str]) -> list[str]:
        exec_args = ["exec", *options, self.sandbox_name, *argv]
        return ["docker", "sandbox", *exec_args] if self.cli == "docker" else ["sbx", *exec_args]

    def _place(self, user: AgentUser | None) -> list[str]:
        """Where the agent works and, for a person, which variables `exec` passes into the sandbox.

        `-e NAME` without a value passes the docker CLI's own value of NAME (a person's environment,
        see :meth:`start`): a login never shows in an argv.
        """
        if user is None:
            return ["-w", self.workspace]
        options = ["-w", user_directories(self.workspace, user.user_id).work]
        for name in sorted(OPERATOR_LOGIN_VARIABLES):
            options += ["-e", name]
        return options

    async def start(self, cli_args: Sequence[str], user: AgentUser | None = None) -> AgentProcess:
        person = None
        if user is not None:
            directories = user_directories(self.workspace, user.user_id)
            await self._make_directories(directories)
            person = _Person(user, directories, here=False)
        return await _start_here(
            self.command(cli_args, user),
            self.env_passthrough,
            prefixes=DOCKER_PREFIXES,
            names=DOCKER_NAMES,
            person=person,
        )

    async def _make_directories(self, directories: UserDirectories) -> None:
        """Create a person's directories inside the sandbox (once per sandbox, person and worker process)."""
        key = (self.cli, self.sandbox_name, directories.home)
        if key in _MADE_IN_SANDBOX:
            return
        argv = ["mkdir", "-p", "-m", "700", "--", directories.work, directories.config]
        process = await _start_here(
            self._exec(["-w", self.workspace], argv), self.env_passthrough, prefixes=DOCKER_PREFIXES, names=DOCKER_NAMES
        )
        try:
            process.stdin.close()
            code = await process.wait()
        finally:
            process.close()
        if code != 0:
            raise AgentStartError(f"the agent's directories could not be created in the sandbox (exit code {code})")
        _MADE_IN_SANDBOX.add(key)


# (sandbox CLI, sandbox, person's home) already created by this process.
_MADE_IN_SANDBOX: set[tuple[str, str, str]] = set()


@dataclass(frozen=True, slots=True)
class LocalRunner:
    claude_bin: str
    env_passthrough: tuple[str, ...] = ()
    # Where the agent works, and people's directories are made (users/<id>/…); None: the worker's
    # working directory.
    workspace: str | None = None
    name: str = "local"

    async def start(self, cli_args: Sequence[str], user: AgentUser | None = None) -> AgentProcess:
        return await _start_on_this_host([self.claude_bin, *cli_args], self.env_passthrough, self.workspace, user)


@dataclass(frozen=True, slots=True)
class SimulatorRunner:
    env_passthrough: tuple[str, ...] = ()
    workspace: str | None = None
    name: str = "simulator"

    async def start(self, cli_args: Sequence[str], user: AgentUser | None = None) -> AgentProcess:
        # The simulator is a process like any agent: the same allow-list, plus its own SIMULATOR_* knobs.
        return await _start_on_this_host(
            [*simulator_command(), *cli_args], self.env_passthrough, self.workspace, user, prefixes=("SIMULATOR_",)
        )


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
    workspace = str(settings.local_workspace) if settings.local_workspace else None
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
            return LocalRunner(settings.claude_bin, passthrough, workspace)
        case "simulator":
            return SimulatorRunner(passthrough, workspace)
