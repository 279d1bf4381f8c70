"""Every Redis key and channel name, in one place.

All names live under one namespace (REDIS_NAMESPACE, default ``sandchat``) so that several
stacks can share a Redis server without seeing each other's turns, queue or locks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RedisKeys:
    namespace: str = "sandchat"

    @property
    def queue(self) -> str:
        """The arq queue of turns."""
        return f"{self.namespace}:queue"

    @property
    def active_turns(self) -> str:
        """A sorted set of turns that are queued or running, scored by when they were queued."""
        return f"{self.namespace}:turns:active"

    @property
    def sandbox_status(self) -> str:
        """The worker's latest agent probe, read by the API's /health."""
        return f"{self.namespace}:sandbox:status"

    def thread_turn(self, thread_id: str) -> str:
        """The thread's lock: holds the id of the turn running on it (DESIGN §7.2)."""
        return f"{self.namespace}:thread:{thread_id}:turn"

    def thread_last_turn(self, thread_id: str) -> str:
        """The id of the thread's latest turn, kept a while after it ends so late resumes find it."""
        return f"{self.namespace}:thread:{thread_id}:last-turn"

    def turn_channel(self, turn_id: str) -> str:
        """The pub/sub channel of a turn's events."""
        return f"{self.namespace}:turn:{turn_id}:events"

    def turn_log(self, turn_id: str) -> str:
        """The replay log of a turn's events: a stream whose entry ids are ``0-<seq>``."""
        return f"{self.namespace}:turn:{turn_id}:log"

    def turn_info(self, turn_id: str) -> str:
        """A hash: thread id, message ids, state (starting, queued, running), worker."""
        return f"{self.namespace}:turn:{turn_id}:info"

    def turn_alive(self, turn_id: str) -> str:
        """Set with a short expiry and refreshed by the worker running the turn."""
        return f"{self.namespace}:turn:{turn_id}:alive"

    def turn_cancel(self, turn_id: str) -> str:
        """Set when someone asked to cancel the turn (read by a worker that starts it late)."""
        return f"{self.namespace}:turn:{turn_id}:cancel"

    def turn_control(self, turn_id: str) -> str:
        """The pub/sub channel that tells the worker running a turn to stop it."""
        return f"{self.namespace}:turn:{turn_id}:control"

    def turn_finished(self, turn_id: str) -> str:
        """Claimed (SET NX) by whoever ends the turn: the worker or a reaper, never both."""
        return f"{self.namespace}:turn:{turn_id}:finished"

    def ws_ticket(self, ticket: str) -> str:
        """A single-use WebSocket ticket handed out by the API when AUTH_TOKEN is set."""
        return f"{self.namespace}:ws-ticket:{ticket}"
