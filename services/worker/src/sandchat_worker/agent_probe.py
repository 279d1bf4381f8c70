"""Is the agent ready to take turns? `$CLAUDE_BIN auth status --json`, through the configured runner.

The worker runs this at start and periodically; the result ends up in the API's `/health`. It
never raises: every failure becomes a status plus one line telling the operator what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any, Final, Literal

from sandchat_worker.agent_failures import redact, stderr_tail
from sandchat_worker.agent_runners import PROBE_ARGS, AgentRunner

log = logging.getLogger(__name__)

ProbeStatus = Literal["healthy", "unauthenticated", "unavailable", "timeout"]
HealthStatus = Literal["healthy", "unauthenticated", "unavailable"]

# `authMethod` values that mean the CLI bills an API key rather than a Claude login.
_API_KEY_METHODS: Final = frozenset({"api_key", "api_key_helper"})
# How a docker without the sandbox plugin refuses `docker sandbox exec -i …`.
_NO_SANDBOX_COMMAND: Final = ("unknown command: docker sandbox", "is not a docker command", "unknown shorthand flag")
# Where the one-time login happens depends on where the CLI runs (docs/operating.md, "The agent").
LOGIN_HINTS: Final = {
    "docker-sandbox": "log in inside the sandbox with `claude auth login` (docker sandbox exec -it <sandbox> claude)",
    "local": "log in where the worker runs with `claude auth login` "
    "(in compose: docker compose run --rm --no-deps worker claude auth login)",
    "simulator": "the simulator was told to act logged out (SIMULATOR_AUTH)",
}


def login_hint(runner: AgentRunner) -> str:
    return LOGIN_HINTS.get(runner.name, LOGIN_HINTS["local"])


@dataclass(frozen=True, slots=True)
class ProbeResult:
    status: ProbeStatus
    message: str

    @property
    def health_status(self) -> HealthStatus:
        return "unavailable" if self.status == "timeout" else self.status


async def probe(runner: AgentRunner, timeout_s: float = 15) -> ProbeResult:
    """Ask the CLI whether it is logged in; classify the answer (or the lack of one)."""
    argv = runner.command(PROBE_ARGS)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError:
        return _missing_program(runner, os.path.basename(argv[0]))
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.communicate()
        return ProbeResult(
            "timeout", f"`{' '.join(PROBE_ARGS)}` gave no answer within {timeout_s:g} s; {_where(runner)}"
        )
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        raise
    return classify(runner, process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"))


def classify(runner: AgentRunner, returncode: int | None, stdout: str, stderr: str) -> ProbeResult:
    status = _auth_status(stdout)
    if status is None:
        return _no_answer(runner, returncode, stderr)
    provider, method = status.get("apiProvider"), status.get("authMethod")
    if status.get("loggedIn") is not True:
        return ProbeResult("unauthenticated", f"Claude Code is not logged in: {login_hint(runner)}.")
    if provider != "firstParty":
        return ProbeResult(
            "unauthenticated", f"Claude Code uses the {provider} provider, not a Claude login: {login_hint(runner)}."
        )
    if method in _API_KEY_METHODS:
        return ProbeResult("unauthenticated", f"Claude Code uses an API key, not a Claude login: {login_hint(runner)}.")
    return ProbeResult("healthy", f"Claude Code is logged in ({method}) and ready ({runner.name} runner).")


def _auth_status(stdout: str) -> dict[str, Any] | None:
    """The JSON object `auth status --json` prints (it also prints it when not logged in)."""
    start = stdout.find("{")
    if start < 0:
        return None
    try:
        status = json.loads(stdout[start:])
    except ValueError:
        return None
    return status if isinstance(status, dict) else None


def _no_answer(runner: AgentRunner, returncode: int | None, stderr: str) -> ProbeResult:
    said = stderr.lower()
    tail = redact(stderr_tail(stderr)) or f"exit code {returncode}"
    if "cannot connect to the docker daemon" in said or "docker daemon is not running" in said:
        return ProbeResult("unavailable", "Docker is not running: start Docker Desktop (or the Docker engine).")
    if any(sign in said for sign in _NO_SANDBOX_COMMAND):
        return ProbeResult(
            "unavailable", "This docker has no `sandbox` command: install Docker Desktop with Docker Sandboxes."
        )
    if runner.name == "docker-sandbox" and "sandbox" in said and ("not found" in said or "no such" in said):
        return ProbeResult(
            "unavailable",
            f"The sandbox does not exist ({tail}): create it with `docker sandbox create claude <workspace>` "
            "or set SANDBOX_NAME.",
        )
    if returncode in (126, 127) or "not found" in said or "no such file" in said:
        return ProbeResult(
            "unavailable",
            f"The Claude Code CLI was not found ({tail}): install it {_where(runner)}, or set CLAUDE_BIN.",
        )
    return ProbeResult("unavailable", f"`auth status` failed ({tail}); {_where(runner)}.")


def _missing_program(runner: AgentRunner, program: str) -> ProbeResult:
    if runner.name == "docker-sandbox":
        return ProbeResult(
            "unavailable",
            "docker was not found on PATH: install Docker Desktop, or set AGENT_RUNNER=local or simulator.",
        )
    return ProbeResult("unavailable", f"{program} was not found: run `make install` or set CLAUDE_BIN.")


def _where(runner: AgentRunner) -> str:
    return "check the Docker sandbox" if runner.name == "docker-sandbox" else f"check the {runner.name} agent CLI"
