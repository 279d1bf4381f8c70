"""Every Redis key and channel name, built and parsed in this one place.

All names live under one namespace (REDIS_NAMESPACE, default ``sandchat``) so that several
stacks can share a Redis server without seeing each other's turns, queue or locks. The lifetime of
each key is said where it is named; docs/architecture.md has the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, overload

# Spliced in for the variable part of a key when a Lua script builds the key itself.
_SPLICE: Final = "\x00"


def halves(template: Callable[[str], str]) -> tuple[str, str]:
    """A key template's text before and after its variable part: a script builds ``before .. id .. after``."""
    before, _, after = template(_SPLICE).partition(_SPLICE)
    return before, after


class _Name:
    """A name with no variable part: ``keys.queue`` is ``"<namespace>:queue"``."""

    __slots__ = ("_suffix",)

    def __init__(self, suffix: str) -> None:
        self._suffix = suffix

    @overload
    def __get__(self, keys: None, owner: type[RedisKeys]) -> _Name: ...
    @overload
    def __get__(self, keys: RedisKeys, owner: type[RedisKeys]) -> str: ...
    def __get__(self, keys: RedisKeys | None, owner: type[RedisKeys]) -> _Name | str:
        return self if keys is None else f"{keys.namespace}:{self._suffix}"


def _template(template: str) -> Callable[[RedisKeys, str], str]:
    """A name with one variable part: ``keys.turn_info(turn_id)`` is ``"<namespace>:turn:<turn_id>:info"``.

    A plain function, so that as a class attribute it is bound like any method: one call and one
    f-string a key (a descriptor building a closure on each access cost four times as much).
    """
    before, after = template.split("{}")

    def name(keys: RedisKeys, part: str) -> str:
        return f"{keys.namespace}:{before}{part}{after}"

    return name


@dataclass(frozen=True, slots=True)
class RedisKeys:
    namespace: str = "sandchat"

    # --- the queue and the processes -------------------------------------------------------------

    queue = _Name("queue")
    """The arq queue of turns that no worker holds an agent for (arq's own keys hang off it)."""

    queue_wake = _Name("queue:wake")
    """Pub/sub: an enqueue tells the workers to look at the queue now, not at their next poll."""

    worker_health_check = _template("queue:health-check:{}")
    """arq's health-check sentinel, per host so a container's health check reads its own worker's."""

    active_turns = _Name("turns:active")
    """A sorted set of turns that are queued or running, scored by when they were queued."""

    sandbox_status = _Name("sandbox:status")
    """The workers' latest agent probe, read by the API's /health (expires)."""

    gateway_keepalive = _Name("gateway:keepalive")
    """A channel nobody publishes to: keeps a gateway's pub/sub connection subscribed while idle."""

    worker_alive = _template("worker:{}:alive")
    """Set with a short expiry and refreshed by a live worker process."""

    worker_inbox = _template("worker:{}:turns")
    """A list of turns routed to this worker because it holds their thread's live agent."""

    # --- threads ---------------------------------------------------------------------------------

    thread_turn = _template("thread:{}:turn")
    """The thread's lock: the id of the turn running (or about to run) on it (invariant 2)."""

    thread_last_turn = _template("thread:{}:last-turn")
    """The id of the thread's latest turn, kept a while after it ends so late resumes find it."""

    thread_channel = _template("thread:{}:events")
    """Pub/sub of the thread's own events: turns starting, messages queued, its title."""

    thread_agent = _template("thread:{}:agent")
    """The worker holding the thread's live agent (expires unless that worker refreshes it)."""

    # --- turns -----------------------------------------------------------------------------------

    turn_channel = _template("turn:{}:events")
    """The pub/sub channel of a turn's events."""

    turn_log = _template("turn:{}:log")
    """The replay log of a turn's events: a stream whose entry ids are ``0-<seq>``."""

    turn_info = _template("turn:{}:info")
    """A hash: thread id, message ids, state (queued, running, waiting), worker, routing."""

    turn_alive = _template("turn:{}:alive")
    """Set with a short expiry and refreshed by the worker running the turn."""

    turn_cancel = _template("turn:{}:cancel")
    """Set when someone asked to stop the turn (read by a worker that starts it late)."""

    turn_control = _template("turn:{}:control")
    """Pub/sub to the worker running a turn: ``cancel`` or ``approve:<request id>``."""

    @property
    def turn_control_pattern(self) -> str:
        """Every turn's control channel, for one pattern subscription per worker."""
        return self.turn_control("*")

    turn_approvals = _template("turn:{}:approvals")
    """A hash: approval request id → its state and, once a person answered, the answer."""

    turn_finished = _template("turn:{}:finished")
    """Claimed (SET NX) by whoever ends the turn: the worker or a reaper, never both."""

    # --- people ----------------------------------------------------------------------------------

    user_turns = _template("user:{}:turns")
    """A set of the person's turns holding one of their USER_MAX_TURNS slots (sandchat.turns.fair_share)."""

    user_waiting = _template("user:{}:waiting")
    """A list of the person's turns waiting for a slot, oldest first."""

    # --- auth ------------------------------------------------------------------------------------

    ws_ticket = _template("ws-ticket:{}")
    """A single-use WebSocket ticket handed out by the API: who it was given to (expires in seconds)."""

    sign_in_attempts_account = _template("sign-in:account:{}")
    """Failed sign-ins to one account in the current window (expires with the window)."""

    sign_in_attempts_address = _template("sign-in:address:{}")
    """Failed sign-ins from one client address in the current window (expires with the window)."""

    credentials_revoked = _Name("auth:revoked")
    """Pub/sub: the id of a revoked API token or ended session; gateways close its WebSockets."""

    threads_deleted = _Name("threads:deleted")
    """Pub/sub: the id of a deleted thread; gateways forget that their sockets' users owned it."""

    # --- parsing names back ----------------------------------------------------------------------

    def turn_of_channel(self, channel: bytes | str) -> str | None:
        """The turn id in a turn's event or control channel name; ``None`` for any other name."""
        return self._middle(channel, "turn", ("events", "control"))

    def turn_of_info(self, key: bytes | str) -> str | None:
        """The turn id in a turn's info key name; ``None`` for any other name."""
        return self._middle(key, "turn", ("info",))

    def thread_of_channel(self, channel: bytes | str) -> str | None:
        """The thread id in a thread's event channel name; ``None`` for any other name."""
        return self._middle(channel, "thread", ("events",))

    def _middle(self, channel: bytes | str, kind: str, suffixes: tuple[str, ...]) -> str | None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        prefix = f"{self.namespace}:{kind}:"
        if not name.startswith(prefix):
            return None
        middle, _, suffix = name[len(prefix) :].rpartition(":")
        return middle if middle and suffix in suffixes else None
