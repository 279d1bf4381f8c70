"""How a turn of the CLI ended, as one :class:`~sandchat_worker.agent_events.TurnOutcome`.

A one-shot run (:mod:`sandchat_worker.agent_turn`) and a turn of a live agent
(:mod:`sandchat_worker.agent_session`) end the same ways: a `result`, a stop (cancel, inactivity,
rejected credentials), a CLI that could not start, or one that exited without a result. The error a
client sees is a fixed sentence (:mod:`sandchat_worker.agent_failures`); what the agent said on
stderr goes to the log only, redacted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final, Literal

from sandchat_worker.agent_events import TurnOutcome
from sandchat_worker.agent_failures import SENTENCES, classify_exit, classify_result, looks_offline, stderr_tail
from sandchat_worker.agent_stream import AgentResult
from sandchat_worker.secret_redaction import redact

log = logging.getLogger(__name__)

Stop = Literal["cancelled", "timeout", "unauthenticated"]

CANCELLED_MESSAGE: Final = "The turn was cancelled."
UNAUTHENTICATED_MESSAGE: Final = SENTENCES["auth"]


@dataclass(slots=True)
class TurnEnding:
    """What one turn of the CLI produced."""

    text: list[str] = field(default_factory=list)
    result: AgentResult | None = None
    # The session the CLI announced (`init`), if it got that far.
    session_id: str | None = None
    # The turn's last chain entry (AgentStreamParser.last_entry).
    last_entry: str | None = None
    auth_failed: bool = False
    stopped: Stop | None = None
    not_started: str | None = None
    returncode: int | None = None
    # The agent's fate is unknown: its sandbox connection broke.
    lost: bool = False
    stderr_tail: bytes = b""


def turn_outcome(ending: TurnEnding, session_id: str | None, inactivity_timeout_s: float) -> TurnOutcome:
    """The outcome of a turn; ``session_id`` is the one it ran in when the CLI never said."""
    result = ending.result
    outcome = TurnOutcome(kind="complete", text="".join(ending.text), session_id=ending.session_id or session_id)
    outcome.last_entry = ending.last_entry
    if result is not None:
        outcome.cost_usd, outcome.duration_ms, outcome.num_turns = result.cost_usd, result.duration_ms, result.num_turns
        outcome.model_usage = result.model_usage
    stderr = ending.stderr_tail.decode(errors="replace")
    if ending.not_started is not None:
        outcome.kind, outcome.error = "offline", f"The agent is offline: {ending.not_started}"
        log.warning("the agent could not be started: %s", ending.not_started)
    elif ending.stopped == "cancelled":
        outcome.kind, outcome.error = "cancelled", CANCELLED_MESSAGE
    elif ending.stopped == "timeout":
        outcome.kind = "timeout"
        outcome.error = f"The agent printed nothing for {inactivity_timeout_s:g} seconds and was stopped."
    elif ending.stopped == "unauthenticated" or ending.auth_failed:
        outcome.kind, outcome.error = "unauthenticated", UNAUTHENTICATED_MESSAGE
    elif result is not None:
        if result.is_error:
            failure, outcome.error = classify_result(result)
            outcome.kind = "unauthenticated" if failure == "auth" else "error"
            detail = "; ".join(result.errors) or result.text or result.subtype or ""
            log.warning("the agent failed (%s): %s | stderr: %s", failure, redact(detail), redact(stderr_tail(stderr)))
    else:
        started = ending.session_id is not None
        failure, outcome.error = classify_exit(ending.returncode, lost=ending.lost)
        offline = not started and not ending.lost and looks_offline(ending.returncode, stderr)
        outcome.kind = "offline" if offline else "error"
        log.warning("the agent %s (%s): %s", outcome.kind, failure, redact(stderr_tail(stderr)))
    return outcome
