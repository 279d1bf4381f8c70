"""Turns: a user message answered by the agent, from the moment it is sent until its reply ends.

The one home of a turn's states and transitions (docs/architecture.md):

- :mod:`~sandchat.turns.store` — Redis: the thread lock, registration, a worker's claim, liveness,
  the event channel and replay log, cancel;
- :mod:`~sandchat.turns.approvals` — requests the agent makes before it acts, answered once;
- :mod:`~sandchat.turns.routing` — which worker runs a turn (the one holding the thread's agent);
- :mod:`~sandchat.turns.fair_share` — at most USER_MAX_TURNS running turns per person, the rest wait;
- :mod:`~sandchat.turns.queue` — the shared arq queue, behind one module;
- :mod:`~sandchat.turns.beginning` — a message starts a turn, or waits in the thread's queue;
- :mod:`~sandchat.turns.ending` — a turn ends once, and the thread's next message starts;
- :mod:`~sandchat.turns.outcomes` — how a turn ended: wire code, sentence, stored status;
- :mod:`~sandchat.turns.reaper` — turns whose worker died, or that no worker took.

The gateway and the worker are adapters around this package: the gateway turns frames into calls
of :mod:`~sandchat.turns.beginning` and the store, the worker runs the agent for a claimed turn.
"""

from __future__ import annotations

from dataclasses import dataclass

from arq.connections import ArqRedis

from sandchat.database import Database
from sandchat.redis_keys import RedisKeys
from sandchat.turns.approvals import TurnApprovals
from sandchat.turns.fair_share import FairShare
from sandchat.turns.routing import TurnRouting
from sandchat.turns.store import TurnStore


@dataclass(frozen=True, slots=True)
class Turns:
    """Everything the turn operations need, built once per process."""

    database: Database
    store: TurnStore
    approvals: TurnApprovals
    routing: TurnRouting
    fair_share: FairShare

    @classmethod
    def connect(cls, redis: ArqRedis, keys: RedisKeys, database: Database, *, user_max_turns: int = 3) -> Turns:
        return cls(
            database,
            TurnStore(redis, keys),
            TurnApprovals(redis, keys),
            TurnRouting(redis, keys),
            FairShare(redis, keys, user_max_turns),
        )

    @property
    def keys(self) -> RedisKeys:
        return self.store.keys
