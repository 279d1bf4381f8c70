"""What a client may learn of an agent failure: a fixed sentence per failure class, plus safe fields.

The agent's stderr and error text can hold anything the agent read: keys, tokens, URLs with
passwords, host paths. None of it reaches a client. A failure is classified from what the CLI
reported, and the client gets the class's sentence, filled only with numbers and names from a
closed list (an exit code, a signal, an HTTP status, an API error type). The raw detail goes to the
server log, after :func:`redact` (sandchat_worker.secret_redaction) has masked what it recognises.
"""

from __future__ import annotations

import re
import signal
from typing import Final, Literal

from sandchat_worker.agent_stream import AgentResult

STDERR_LINES: Final = 5

FailureClass = Literal[
    "auth", "api_unreachable", "rate_limit", "api_error", "stale_session", "crash", "sandbox_lost", "incomplete"
]

# The Anthropic API's error types (https://docs.anthropic.com/en/api/errors): safe to name.
API_ERROR_TYPES: Final = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "overloaded_error",
        "billing_error",
        "timeout_error",
    }
)
# The CLI's result subtypes, and what each means in words.
RESULT_SUBTYPES: Final = {
    "error_max_turns": "The agent stopped: it reached its limit of turns for one reply.",
    "error_max_budget_usd": "The agent stopped: it reached its spending limit for one reply.",
    "error_during_execution": "The agent failed while working on the reply.",
}
_API_STATUS: Final = re.compile(r"API Error:\s*(\d{3})")
_API_TYPE: Final = re.compile(r'"type"\s*:\s*"([a-z_]+_error|request_too_large)"')
_RATE_LIMITED: Final = re.compile(r"rate.?limit|usage limit|too many requests|\b429\b", re.IGNORECASE)
_UNREACHABLE: Final = re.compile(
    r"connection error|connection refused|econnrefused|econnreset|enotfound|etimedout|eai_again|fetch failed"
    r"|unable to connect|request timed out|network error|socket hang up|getaddrinfo",
    re.IGNORECASE,
)

SENTENCES: Final[dict[FailureClass, str]] = {
    "auth": "Claude Code is not logged in: the Claude API refused its credentials. Log in inside the sandbox.",
    "api_unreachable": "The agent could not reach the Claude API; check the sandbox's network connection.",
    "rate_limit": "The Claude API's rate limit was reached; try again later.",
    "api_error": "The Claude API answered with an error{fields}; try again.",
    "stale_session": "The agent's session for this thread could not be resumed.",
    "crash": "The agent {how}.",
    "sandbox_lost": "The connection to the sandbox was lost; the agent was stopped.",
    "incomplete": "The agent could not finish the reply.",
}

# How docker, the sandbox plugin, sbx and a shell say "there is nothing to run the agent in".
_OFFLINE_SIGNS: Final = (
    "cannot connect to the docker daemon",
    "is the docker daemon running",
    "docker daemon is not running",
    "error during connect",
    "unknown command: docker sandbox",
    "is not a docker command",
    "unknown shorthand flag",
    "no such container",
    "is not running",
    "executable file not found",
    "command not found",
    "no such file or directory",
)
_SANDBOX_MISSING: Final = re.compile(r"sandbox\b.*\b(not found|does not exist|no such)|no such sandbox")
# docker exec: 125 the daemon/sandbox failed, 126 the CLI cannot run, 127 the CLI is not there.
_OFFLINE_EXIT_CODES: Final = frozenset({125, 126, 127})


def stderr_tail(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return " | ".join(lines[-STDERR_LINES:])


def looks_offline(returncode: int | None, stderr: str) -> bool:
    """Did the agent never start because docker, the sandbox or the CLI is missing or down?"""
    lowered = stderr.lower()
    return (
        returncode in _OFFLINE_EXIT_CODES
        or any(sign in lowered for sign in _OFFLINE_SIGNS)
        or bool(_SANDBOX_MISSING.search(lowered))
    )


def classify_exit(returncode: int | None, *, lost: bool = False) -> tuple[FailureClass, str]:
    """An agent that ended without a `result` line: the class and its sentence (numbers only)."""
    if lost:
        return "sandbox_lost", SENTENCES["sandbox_lost"]
    if returncode is not None and returncode < 0:
        how = f"was killed by signal {-returncode}{_signal_name(-returncode)}"
    elif returncode == 0:
        how = "ended without a result"
    else:
        how = f"stopped unexpectedly (exit code {returncode})"
    return "crash", SENTENCES["crash"].format(how=how)


def classify_result(result: AgentResult) -> tuple[FailureClass, str]:
    """A `result` line with is_error: the class and its sentence, whatever text the result carries."""
    detail = " ".join((*result.errors, result.text or ""))
    if result.is_stale_session:
        return "stale_session", SENTENCES["stale_session"]
    if _RATE_LIMITED.search(detail):
        return "rate_limit", SENTENCES["rate_limit"]
    if _UNREACHABLE.search(detail):
        return "api_unreachable", SENTENCES["api_unreachable"]
    status = _API_STATUS.search(detail)
    if status is not None:
        if status.group(1) in ("401", "403"):
            return "auth", SENTENCES["auth"]
        return "api_error", SENTENCES["api_error"].format(fields=_api_fields(status.group(1), detail))
    if result.subtype in RESULT_SUBTYPES:
        return "incomplete", RESULT_SUBTYPES[result.subtype]
    return "incomplete", SENTENCES["incomplete"]


def _api_fields(status: str, detail: str) -> str:
    error_type = _API_TYPE.search(detail)
    named = error_type.group(1) if error_type and error_type.group(1) in API_ERROR_TYPES else None
    return f" (HTTP {status}, {named})" if named else f" (HTTP {status})"


def _signal_name(number: int) -> str:
    try:
        return f" ({signal.Signals(number).name})"
    except ValueError:
        return ""
