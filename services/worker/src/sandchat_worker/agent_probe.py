"""Is the agent ready to take turns? `$CLAUDE_BIN auth status --json`, through the configured runner.

The worker runs this at start and periodically; the result ends up in the API's `/health`. It
never raises: every failure becomes a status plus one line telling the operator what to do.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from dataclasses import dataclass
from typing import Any, Final, Literal

from sandchat.agent_cli import PROBE_ARGS
from sandchat.agent_process import AgentProcess, AgentStartError

from sandchat_worker.agent_failures import stderr_tail
from sandchat_worker.agent_runners import AgentRunner, DockerSandboxRunner
from sandchat_worker.secret_redaction import redact

log = logging.getLogger(__name__)

ProbeStatus = Literal["healthy", "unauthenticated", "unavailable", "timeout"]
HealthStatus = Literal["healthy", "unauthenticated", "unavailable"]

# `authMethod` values that mean the CLI bills an API key rather than a Claude login.
_API_KEY_METHODS: Final = frozenset({"api_key", "api_key_helper"})
# How a docker without the sandbox plugin refuses `docker sandbox exec -i …`.
_NO_SANDBOX_COMMAND: Final = ("unknown command: docker sandbox", "is not a docker command", "unknown shorthand flag")
# Where the one-time login happens depends on where the CLI runs (docs/operating.md, "The agent").
LOGIN_HINTS: Final = {
    "sandbox": "log in inside the sandbox with `claude auth login` "
    "(in compose: docker compose run --rm sandbox claude auth login)",
    "docker-sandbox": "log in inside the sandbox with `claude auth login` ({cli} exec -it <sandbox> claude auth login)",
    "local": "log in where the worker runs with `claude auth login`",
    "simulator": "the simulator was told to act logged out (SIMULATOR_AUTH)",
}


def login_hint(runner: AgentRunner) -> str:
    return LOGIN_HINTS.get(runner.name, LOGIN_HINTS["local"]).format(cli=_sandbox_cli(runner))


@dataclass(frozen=True, slots=True)
class ProbeResult:
    status: ProbeStatus
    message: str

    @property
    def health_status(self) -> HealthStatus:
        return "unavailable" if self.status == "timeout" else self.status


async def probe(runner: AgentRunner, timeout_s: float = 15) -> ProbeResult:
    """Ask the CLI whether it is logged in; classify the answer (or the lack of one)."""
    try:
        process = await runner.start(PROBE_ARGS)
    except AgentStartError as exc:
        return _not_started(runner, str(exc))
    try:
        process.stdin.close()
        stdout, stderr = await asyncio.wait_for(_output(process), timeout_s)
    except TimeoutError:
        return ProbeResult(
            "timeout", f"`{' '.join(PROBE_ARGS)}` gave no answer within {timeout_s:g} s; {_where(runner)}"
        )
    finally:
        process.signal_group(signal.SIGKILL)
        await process.wait()
        process.close()
    return classify(runner, process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"))


async def _output(process: AgentProcess) -> tuple[bytes, bytes]:
    stdout, stderr = await asyncio.gather(process.stdout.read(), process.stderr.read())
    await process.wait()
    return stdout, stderr


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
    """No status printed: say what is wrong in a fixed sentence; what the CLI said goes to the log only."""
    log.warning(
        "`%s` printed no status (exit code %s): %s", " ".join(PROBE_ARGS), returncode, redact(stderr_tail(stderr))
    )
    said = stderr.lower()
    cli = _sandbox_cli(runner)
    if "cannot connect to the docker daemon" in said or "docker daemon is not running" in said:
        return ProbeResult("unavailable", "Docker is not running: start Docker Desktop (or the Docker engine).")
    if cli == "docker" and any(sign in said for sign in _NO_SANDBOX_COMMAND):
        return ProbeResult(
            "unavailable",
            "This docker has no `sandbox` command: install Docker Desktop with Docker Sandboxes, or use sbx "
            "(SANDBOX_CLI=sbx).",
        )
    if runner.name == "docker-sandbox" and "sandbox" in said and ("not found" in said or "no such" in said):
        return ProbeResult(
            "unavailable",
            f"The sandbox does not exist: create it with `{cli}{' sandbox' if cli == 'docker' else ''} create "
            "claude <workspace>` or set SANDBOX_NAME.",
        )
    if returncode in (126, 127) or "not found" in said or "no such file" in said:
        return ProbeResult(
            "unavailable", f"The Claude Code CLI was not found: install it {_where(runner)}, or set CLAUDE_BIN."
        )
    return ProbeResult("unavailable", f"`auth status` failed (exit code {returncode}); {_where(runner)}.")


def _not_started(runner: AgentRunner, reason: str) -> ProbeResult:
    log.warning("agent probe: %s", reason)
    if runner.name == "docker-sandbox":
        cli = _sandbox_cli(runner)
        other = "sbx" if cli == "docker" else "docker"
        return ProbeResult(
            "unavailable",
            f"{cli} was not found on PATH: install {'Docker Desktop' if cli == 'docker' else 'the sbx CLI'}, "
            f"set SANDBOX_CLI={other}, or set AGENT_RUNNER=sandbox, local or simulator.",
        )
    if runner.name == "sandbox":
        return ProbeResult("unavailable", reason)
    return ProbeResult("unavailable", f"{reason}: run `make install` or set CLAUDE_BIN.")


def _sandbox_cli(runner: AgentRunner) -> str:
    return runner.cli if isinstance(runner, DockerSandboxRunner) else "docker"


def _where(runner: AgentRunner) -> str:
    if runner.name == "docker-sandbox":
        return f"check the {_sandbox_cli(runner)} sandbox"
    return f"check the {runner.name} agent CLI"
