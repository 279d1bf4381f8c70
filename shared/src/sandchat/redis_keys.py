"""Every Redis key and channel name, built and parsed in this one place.

All names live under one namespace (REDIS_NAMESPACE, default ``sandchat``) so that several
stacks can share a Redis server without seeing each other's turns, queue or locks. The lifetime of
each key is said where it is named; docs/architecture.md has the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

# Spliced in for the variable part of a key when a Lua script builds the key itself.
_SPLICE: Final = "\x00"


def halves(template: Callable[[str], str]) -> tuple[str, str]:
    """A key template's text before and after its variable part: a script builds ``before .. id .. after``."""
    before, _, after = template(_SPLICE).partition(_SPLICE)
    return before, after


@dataclass(frozen=True, slots=True)
class RedisKeys:
    namespace: str = "sandchat"

    # --- the queue and the processes -------------------------------------------------------------

    @property
    def queue(self) -> str:
        """The arq queue of turns that no worker holds an agent for (arq's own keys hang off it)."""
        return f"{self.namespace}:queue"

    @property
    def queue_wake(self) -> str:
        """Pub/sub: an enqueue tells the workers to look at the queue now, not at their next poll."""
        return f"{self.namespace}:queue:wake"

    def worker_health_check(self, host: str) -> str:
        """arq's health-check sentinel, per host so a container's health check reads its own worker's."""
        return f"{self.namespace}:queue:health-check:{host}"

    @property
    def active_turns(self) -> str:
        """A sorted set of turns that are queued or running, scored by when they were queued."""
        return f"{self.namespace}:turns:active"

    @property
    def sandbox_status(self) -> str:
        """The workers' latest agent probe, read by the API's /health (expires)."""
        return f"{self.namespace}:sandbox:status"

    @property
    def gateway_keepalive(self) -> str:
        """A channel nobody publishes to: keeps a gateway's pub/sub connection subscribed while idle."""
        return f"{self.namespace}:gateway:keepalive"

    def worker_alive(self, worker_id: str) -> str:
        """Set with a short expiry and refreshed by a live worker process."""
        return f"{self.namespace}:worker:{worker_id}:alive"

    def worker_inbox(self, worker_id: str) -> str:
        """A list of turns routed to this worker because it holds their thread's live agent."""
        return f"{self.namespace}:worker:{worker_id}:turns"

    # --- threads ---------------------------------------------------------------------------------

    def thread_turn(self, thread_id: str) -> str:
        """The thread's lock: the id of the turn running (or about to run) on it (invariant 2)."""
        return f"{self.namespace}:thread:{thread_id}:turn"

    def thread_last_turn(self, thread_id: str) -> str:
        """The id of the thread's latest turn, kept a while after it ends so late resumes find it."""
        return f"{self.namespace}:thread:{thread_id}:last-turn"

    def thread_channel(self, thread_id: str) -> str:
        """Pub/sub of the thread's own events: turns starting, messages queued, its title."""
        return f"{self.namespace}:thread:{thread_id}:events"

    def thread_agent(self, thread_id: str) -> str:
        """The worker holding the thread's live agent (expires unless that worker refreshes it)."""
        return f"{self.namespace}:thread:{thread_id}:agent"

    # --- turns -----------------------------------------------------------------------------------

    def turn_channel(self, turn_id: str) -> str:
        """The pub/sub channel of a turn's events."""
        return f"{self.namespace}:turn:{turn_id}:events"

    def turn_log(self, turn_id: str) -> str:
        """The replay log of a turn's events: a stream whose entry ids are ``0-<seq>``."""
        return f"{self.namespace}:turn:{turn_id}:log"

    def turn_info(self, turn_id: str) -> str:
        """A hash: thread id, message ids, state (queued, running, waiting), worker, routing."""
        return f"{self.namespace}:turn:{turn_id}:info"

    def turn_alive(self, turn_id: str) -> str:
        """Set with a short expiry and refreshed by the worker running the turn."""
        return f"{self.namespace}:turn:{turn_id}:alive"

    def turn_cancel(self, turn_id: str) -> str:
        """Set when someone asked to stop the turn (read by a worker that starts it late)."""
        return f"{self.namespace}:turn:{turn_id}:cancel"

    def turn_control(self, turn_id: str) -> str:
        """Pub/sub to the worker running a turn: ``cancel`` or ``approve:<request id>``."""
        return f"{self.namespace}:turn:{turn_id}:control"

    @property
    def turn_control_pattern(self) -> str:
        """Every turn's control channel, for one pattern subscription per worker."""
        return self.turn_control("*")

    def turn_approvals(self, turn_id: str) -> str:
        """A hash: approval request id → its state and, once a person answered, the answer."""
        return f"{self.namespace}:turn:{turn_id}:approvals"

    def turn_finished(self, turn_id: str) -> str:
        """Claimed (SET NX) by whoever ends the turn: the worker or a reaper, never both."""
        return f"{self.namespace}:turn:{turn_id}:finished"

    # --- people ----------------------------------------------------------------------------------

    def user_turns(self, user_id: str) -> str:
        """A set of the person's turns holding one of their USER_MAX_TURNS slots (sandchat.turns.fair_share)."""
        return f"{self.namespace}:user:{user_id}:turns"

    def user_waiting(self, user_id: str) -> str:
        """A list of the person's turns waiting for a slot, oldest first."""
        return f"{self.namespace}:user:{user_id}:waiting"

    # --- auth ------------------------------------------------------------------------------------

    def ws_ticket(self, ticket: str) -> str:
        """A single-use WebSocket ticket handed out by the API: who it was given to (expires in seconds)."""
        return f"{self.namespace}:ws-ticket:{ticket}"

    def sign_in_attempts_account(self, username: str) -> str:
        """Failed sign-ins to one account in the current window (expires with the window)."""
        return f"{self.namespace}:sign-in:account:{username}"

    def sign_in_attempts_address(self, address: str) -> str:
        """Failed sign-ins from one client address in the current window (expires with the window)."""
        return f"{self.namespace}:sign-in:address:{address}"

    @property
    def credentials_revoked(self) -> str:
        """Pub/sub: the id of a revoked API token or ended session; gateways close its WebSockets."""
        return f"{self.namespace}:auth:revoked"

    @property
    def threads_deleted(self) -> str:
        """Pub/sub: the id of a deleted thread; gateways forget that their sockets' users owned it."""
        return f"{self.namespace}:threads:deleted"

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
