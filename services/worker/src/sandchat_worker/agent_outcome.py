"""How a turn of the CLI ended, as one :class:`~sandchat_worker.agent_events.TurnOutcome`.

A one-shot run (:mod:`sandchat_worker.agent_turn`) and a turn of a live agent
(:mod:`sandchat_worker.agent_session`) end the same ways: a `result`, a stop (cancel, inactivity,
rejected credentials), a CLI that could not start, or one that exited without a result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from sandchat_worker.agent_events import TurnOutcome
from sandchat_worker.agent_failures import describe_exit, looks_offline, redact
from sandchat_worker.agent_stream import AgentResult

Stop = Literal["cancelled", "timeout", "unauthenticated"]

CANCELLED_MESSAGE: Final = "The turn was cancelled."
UNAUTHENTICATED_MESSAGE: Final = (
    "Claude Code is not logged in: the Claude API refused its credentials. Log in inside the sandbox."
)


@dataclass(slots=True)
class TurnEnding:
    """What one turn of the CLI produced."""

    text: list[str] = field(default_factory=list)
    result: AgentResult | None = None
    # The session the CLI announced (`init`), if it got that far.
    session_id: str | None = None
    auth_failed: bool = False
    stopped: Stop | None = None
    not_started: str | None = None
    returncode: int | None = None
    stderr_tail: bytes = b""


def turn_outcome(ending: TurnEnding, session_id: str | None, inactivity_timeout_s: float) -> TurnOutcome:
    """The outcome of a turn; ``session_id`` is the one it ran in when the CLI never said."""
    result = ending.result
    outcome = TurnOutcome(kind="complete", text="".join(ending.text), session_id=ending.session_id or session_id)
    if result is not None:
        outcome.cost_usd, outcome.duration_ms, outcome.num_turns = result.cost_usd, result.duration_ms, result.num_turns
    if ending.not_started is not None:
        outcome.kind, outcome.error = "offline", f"The agent is offline: {ending.not_started}."
    elif ending.stopped == "cancelled":
        outcome.kind, outcome.error = "cancelled", CANCELLED_MESSAGE
    elif ending.stopped == "timeout":
        outcome.kind = "timeout"
        outcome.error = f"The agent printed nothing for {inactivity_timeout_s:g} seconds and was stopped."
    elif ending.stopped == "unauthenticated" or ending.auth_failed:
        outcome.kind, outcome.error = "unauthenticated", UNAUTHENTICATED_MESSAGE
    elif result is not None:
        if result.is_error:
            outcome.kind, outcome.error = "error", _result_error(result)
    else:
        stderr = ending.stderr_tail.decode(errors="replace")
        started = ending.session_id is not None
        outcome.kind = "offline" if not started and looks_offline(ending.returncode, stderr) else "error"
        outcome.error = describe_exit(ending.returncode, stderr)
    return outcome


def _result_error(result: AgentResult) -> str:
    detail = "; ".join(result.errors) or result.text or result.subtype or "unknown error"
    return redact(f"The agent failed: {detail}")
