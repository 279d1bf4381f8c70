"""Turning an agent that failed without a `result` line into one clear, safe sentence.

What the CLI or docker print on stderr can hold API keys, bearer tokens and paths of the host;
the user sees the last lines only after those are masked.
"""

from __future__ import annotations

import re
from typing import Final

MAX_ERROR_CHARS: Final = 500
STDERR_LINES: Final = 5

_SECRETS: Final = (
    (re.compile(r"sk-ant-[A-Za-z0-9_\-]+"), "sk-ant-…"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 …"),
    (re.compile(r"(?i)\b(x-api-key|api[_-]?key|token|password|secret)(\"?\s*[:=]\s*\"?)[^\s\",}]+"), r"\1\2…"),
)
# An absolute path with at least two parts, not the path of a URL (those follow a host name).
_HOST_PATH: Final = re.compile(r"(?<![\w:/.~-])(?:/[\w.@+~-]+){2,}/?")

# How docker, the sandbox plugin and a shell say "there is nothing to run the agent in".
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


def redact(text: str) -> str:
    """Mask secrets and host paths, and bound the length."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    text = _HOST_PATH.sub("<path>", text)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


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


def describe_exit(returncode: int | None, stderr: str) -> str:
    """One sentence for an agent that ended without a result line."""
    if returncode is not None and returncode < 0:
        how = f"was killed by signal {-returncode}"
    elif returncode == 0:
        how = "ended without a result"
    else:
        how = f"stopped unexpectedly (exit code {returncode})"
    tail = stderr_tail(stderr)
    return redact(f"The agent {how}: {tail}" if tail else f"The agent {how}.")
