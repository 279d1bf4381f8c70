"""Every Redis key and channel name, in one place."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "sandchat"
ACTIVE_TURNS: Final = f"{PREFIX}:turns:active"
SANDBOX_STATUS: Final = f"{PREFIX}:sandbox:status"


def thread_turn(thread_id: str) -> str:
    """The thread's lock: holds the id of the turn running on it (DESIGN §7.2)."""
    return f"{PREFIX}:thread:{thread_id}:turn"


def thread_last_turn(thread_id: str) -> str:
    """The id of the thread's latest turn, kept a while after it ends so late resumes find it."""
    return f"{PREFIX}:thread:{thread_id}:last-turn"


def turn_channel(turn_id: str) -> str:
    """The pub/sub channel of a turn's events."""
    return f"{PREFIX}:turn:{turn_id}:events"


def turn_log(turn_id: str) -> str:
    """The replay log of a turn's events: a stream whose entry ids are ``0-<seq>``."""
    return f"{PREFIX}:turn:{turn_id}:log"


def turn_info(turn_id: str) -> str:
    """A hash: thread id, message ids, state (queued, running), worker."""
    return f"{PREFIX}:turn:{turn_id}:info"


def turn_alive(turn_id: str) -> str:
    """Set with a short expiry and refreshed by the worker running the turn."""
    return f"{PREFIX}:turn:{turn_id}:alive"


def turn_cancel(turn_id: str) -> str:
    """Set when someone asked to cancel the turn (read by a worker that starts it late)."""
    return f"{PREFIX}:turn:{turn_id}:cancel"


def turn_control(turn_id: str) -> str:
    """The pub/sub channel that tells the worker running a turn to stop it."""
    return f"{PREFIX}:turn:{turn_id}:control"


def turn_finished(turn_id: str) -> str:
    """Claimed (SET NX) by whoever ends the turn: the worker or a reaper, never both."""
    return f"{PREFIX}:turn:{turn_id}:finished"


def ws_ticket(ticket: str) -> str:
    """A single-use WebSocket ticket handed out by the API when AUTH_TOKEN is set."""
    return f"{PREFIX}:ws-ticket:{ticket}"
