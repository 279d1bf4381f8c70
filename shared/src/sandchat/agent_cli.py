"""The arguments sandchat ever gives the Claude Code CLI: built here, and checked here by the sandbox.

Every runner builds the CLI's arguments with :func:`turn_args` (one headless turn),
:func:`live_args` (a live agent: one process, many turns) or :data:`PROBE_ARGS`; the sandbox
service (which runs the CLI for a worker it only half trusts) refuses any argv that
:func:`check_cli_args` does not accept. One vocabulary, so the two can never drift apart.

The vocabulary is a closed list of flags, each with the values it may take. There are no positional
arguments: the prompt always goes on stdin, so no message can ever be read as a flag, and session
ids are UUIDs given in the equals form (``--resume=<uuid>``), never a separate word; a permission rule
granted with "Allow always" (``--allowedTools=Bash(npm test)``) is one word in the equals form too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

PermissionMode = Literal["bypassPermissions", "acceptEdits", "default", "plan"]
PERMISSION_MODES: Final[tuple[str, ...]] = get_args(PermissionMode)

# The probe: is the CLI there and logged in?
PROBE_ARGS: Final = ("auth", "status", "--json")

# A headless streamed turn; `--verbose` is required by stream-json, and `--include-partial-messages`
# is what makes the CLI stream token deltas.
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

# A permission rule: a tool name, optionally with its rule content in parentheses (no control characters).
_RULE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,127}(\([^\x00-\x1f\x7f]{0,2000}\))?$")
_UUID: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Flags without a value.
_SWITCHES: Final = frozenset({"-p", "--verbose", "--include-partial-messages", "--fork-session"})
# Flags followed by one value, with the values each accepts (None: a UUID).
_VALUED: Final[dict[str, frozenset[str] | None]] = {
    "--output-format": frozenset({"stream-json"}),
    "--input-format": frozenset({"stream-json"}),
    "--permission-mode": frozenset(PERMISSION_MODES),
    "--permission-prompt-tool": frozenset({"stdio"}),
    "--session-id": None,
}
# Flags whose value may (or, for --resume and --allowedTools, must) come in the equals form.
_EQUALS: Final[dict[str, frozenset[str] | None]] = {
    "--resume": None,
    # Fork only the session's history up to this chain entry (a message uuid of the CLI's output).
    "--resume-session-at": None,
    "--session-id": None,
    "--permission-mode": frozenset(PERMISSION_MODES),
}
# Given once per rule.
_RULES_FLAG: Final = "--allowedTools"


class CliArgsError(ValueError):
    """An argv outside the vocabulary; the message says what is wrong in one sentence."""


def is_session_id(value: str) -> bool:
    """A session id as the CLI writes them: a lower-case UUID."""
    return bool(_UUID.match(value))


def turn_args(session_id: str | None, permission_mode: PermissionMode = "bypassPermissions") -> list[str]:
    """CLI arguments for one headless turn, resuming ``session_id`` when it is a session id.

    Anything else stored as a thread's session (it comes from the agent's own output) starts a new
    session instead: the same outcome as a session the CLI no longer has.
    """
    args = [*TURN_ARGS[:-1], permission_mode]
    if session_id and is_session_id(session_id):
        args.append(f"--resume={session_id}")
    return args


@dataclass(frozen=True, slots=True)
class Fork:
    """A new session made from another one's history (``--fork-session``), up to the chain entry ``at``
    (``--resume-session-at``) when given: an edited message continues the conversation before it."""

    session_id: str
    at: str | None = None


def live_args(
    session_id: str,
    *,
    resume: bool,
    permission_mode: PermissionMode,
    allowed_tools: Sequence[str] = (),
    fork: Fork | None = None,
) -> list[str]:
    """CLI arguments of a live agent: resume ``session_id``, or start a new session with that id
    (from a copy of ``fork``'s history when given, and both are session ids).

    Each value rides in its flag's equals form, one argument per allowed-tool rule (``Bash(npm test)``),
    so no value can ever be read as a flag or split into two.
    """
    args = [*LIVE_ARGS, f"--permission-mode={permission_mode}"]
    if not resume and fork is not None and is_session_id(fork.session_id):
        args += [f"--resume={fork.session_id}", "--fork-session"]
        if fork.at is not None and is_session_id(fork.at):
            args.append(f"--resume-session-at={fork.at}")
    args.append(f"--resume={session_id}" if resume else f"--session-id={session_id}")
    args += [f"{_RULES_FLAG}={rule}" for rule in allowed_tools]
    return args


def check_cli_args(args: Sequence[str]) -> None:
    """Raise :class:`CliArgsError` unless ``args`` is the probe or a turn built from the vocabulary."""
    if tuple(args) == PROBE_ARGS:
        return
    if not args or args[0] != "-p":
        raise CliArgsError("Only the probe (auth status --json) or a headless turn (-p …) can be run.")
    seen: set[str] = set()
    index = 1
    while index < len(args):
        arg = args[index]
        flag, equals, value = arg.partition("=")
        if flag == _RULES_FLAG and equals:
            if not _RULE.match(value):
                raise CliArgsError(f"{_RULES_FLAG} takes a permission rule such as Bash(npm test).")
            index += 1
            continue
        if flag in seen:
            raise CliArgsError(f"{flag} is given twice.")
        seen.add(flag)
        if flag in _EQUALS and equals:
            _check_value(flag, value, _EQUALS[flag])
        elif arg in _SWITCHES:
            pass
        elif arg in _VALUED:
            index += 1
            if index >= len(args):
                raise CliArgsError(f"{arg} needs a value.")
            _check_value(arg, args[index], _VALUED[arg])
        else:
            raise CliArgsError(f"{arg[:40]!r} is not an argument sandchat gives the agent.")
        index += 1


def _check_value(flag: str, value: str, allowed: frozenset[str] | None) -> None:
    if allowed is None:
        if not is_session_id(value):
            raise CliArgsError(f"{flag} takes a session id (a UUID).")
    elif value not in allowed:
        raise CliArgsError(f"{flag} takes one of {', '.join(sorted(allowed))}.")
