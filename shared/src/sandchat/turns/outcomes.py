"""How a turn ended, in one table: the wire code a client sees, the sentence, the stored status.

Every place that ends a turn — the worker when its agent answers, fails or is stopped, a gateway
stopping a turn no worker took, a reaper after a worker died — builds its ending here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from sandchat import wire

MessageStatus = Literal["complete", "error", "cancelled", "interrupted"]
# How the agent's side of a turn ended (the worker's classification of its run).
AgentEnding = Literal["complete", "error", "unauthenticated", "offline", "timeout", "cancelled"]

CANCELLED_MESSAGE: Final = "Stopped."
INTERRUPTED_MESSAGE: Final = "The worker running this reply stopped; the reply was interrupted."
SHUTDOWN_MESSAGE: Final = "The worker was stopped while this reply was streaming."
NOT_LOGGED_IN_MESSAGE: Final = (
    "The agent is not logged in. Log the Claude CLI in inside the sandbox (see docs/operating.md)."
)
# A person's own agent (docs/security.md, "Each person's agent").
PERSON_NOT_LOGGED_IN_MESSAGE: Final = (
    "Your agent is not logged in: store your Claude login under Agent login in your user menu, then send this again."
)
PERSON_LOGIN_REFUSED_MESSAGE: Final = (
    "Your agent's login was refused: store a new Claude login under Agent login in your user menu."
)
PERSON_LOGIN_UNREADABLE_MESSAGE: Final = (
    "Your stored agent login cannot be read with this server's SECRET_KEY (it was changed): "
    "store your Claude login again under Agent login."
)
THREAD_GONE_MESSAGE: Final = "The thread was deleted before its reply could start."
WAITING_FOR_WORKER_MESSAGE: Final = "Waiting for a worker to take this message…"


def no_worker_message(timeout_s: float) -> str:
    return (
        f"No worker took this message within {timeout_s:g} s, so it was not sent to the agent. "
        "Check that a worker is running (docs/operating.md), then send it again."
    )


def timeout_message(timeout_s: float) -> str:
    return f"The agent printed nothing for {timeout_s:g} s and was stopped."


@dataclass(frozen=True, slots=True)
class Ending:
    """``code`` None means the turn is done; otherwise the error event's code and sentence."""

    code: wire.ErrorCode | None
    message: str | None
    status: MessageStatus

    @property
    def outcome(self) -> str:
        """``done`` or the error code: the label metrics and logs use."""
        return self.code or "done"


DONE: Final = Ending(None, None, "complete")
CANCELLED: Final = Ending("cancelled", CANCELLED_MESSAGE, "cancelled")
INTERRUPTED: Final = Ending("interrupted", INTERRUPTED_MESSAGE, "interrupted")
SHUTDOWN: Final = Ending("interrupted", SHUTDOWN_MESSAGE, "interrupted")
THREAD_GONE: Final = Ending("thread_not_found", THREAD_GONE_MESSAGE, "error")
PERSON_NOT_LOGGED_IN: Final = Ending("agent_error", PERSON_NOT_LOGGED_IN_MESSAGE, "error")
PERSON_LOGIN_REFUSED: Final = Ending("agent_error", PERSON_LOGIN_REFUSED_MESSAGE, "error")
PERSON_LOGIN_UNREADABLE: Final = Ending("agent_error", PERSON_LOGIN_UNREADABLE_MESSAGE, "error")


def failed(message: str) -> Ending:
    """The agent (or the service on its behalf) failed; ``message`` is a sentence safe to show."""
    return Ending("agent_error", message, "error")


def no_worker(timeout_s: float) -> Ending:
    return Ending("agent_offline", no_worker_message(timeout_s), "error")


def agent_ending(kind: AgentEnding, detail: str | None, *, inactivity_timeout_s: float) -> Ending:
    """The ending of a turn whose agent ran: ``detail`` is the worker's safe sentence for failures."""
    match kind:
        case "complete":
            return DONE
        case "cancelled":
            return CANCELLED
        case "timeout":
            return Ending("timeout", timeout_message(inactivity_timeout_s), "error")
        case "offline":
            return Ending("agent_offline", wire.AGENT_OFFLINE_MESSAGE, "error")
        case "unauthenticated":
            return Ending("agent_error", NOT_LOGGED_IN_MESSAGE, "error")
        case _:
            return failed(detail or "The agent failed.")
