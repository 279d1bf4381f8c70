"""One browser (or CLI) connection: its bounded send queue and the turns it follows.

A turn followed by this connection delivers frames in ``seq`` order, each at most once: while a
resume reads the replay log, live frames wait in ``pending`` and are then deduplicated by ``seq``.
A client that cannot keep up (its queue is full) is closed with 1013 and may resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

from sandchat import events
from sandchat.turn_store import TurnStore
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from sandchat_gateway.fanout import TurnFanout

log = logging.getLogger(__name__)

SEND_QUEUE_FRAMES: Final = 4096
# Requests per connection: a burst of RATE_BURST, then RATE_PER_S sustained.
RATE_BURST: Final = 20
RATE_PER_S: Final = 5.0
TRY_AGAIN_LATER: Final = 1013


@dataclass(slots=True)
class FollowedTurn:
    last_seq: int = 0
    syncing: bool = False
    pending: list[tuple[events.TurnEventHead, bytes]] = field(default_factory=list)


class ChatConnection:
    def __init__(self, websocket: ServerConnection, fanout: TurnFanout, store: TurnStore) -> None:
        self.websocket = websocket
        self.fanout = fanout
        self.store = store
        self.turns: dict[str, FollowedTurn] = {}
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(SEND_QUEUE_FRAMES)
        self._closing = False
        self._tokens = float(RATE_BURST)
        self._refilled_at = time.monotonic()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- sending ---------------------------------------------------------------------------------

    def send(self, event: events.ServerEvent) -> None:
        self._enqueue(events.encode(event))

    def send_error(self, thread_id: str | None, code: events.ErrorCode, message: str) -> None:
        self.send(events.Error(thread_id, code, message))

    def _enqueue(self, frame: bytes) -> None:
        if self._closing:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._closing = True
            log.warning("client too slow (%d frames queued); closing with 1013", self._queue.qsize())
            self._spawn(self.websocket.close(TRY_AGAIN_LATER, "too slow: reconnect and resume"))

    async def write_forever(self) -> None:
        """Drain the send queue into the socket (one task per connection)."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                frame = await self._queue.get()
                await self.websocket.send(frame, text=True)

    # --- following turns -------------------------------------------------------------------------

    async def follow(self, turn_id: str, after_seq: int = 0, *, catch_up: bool = False) -> None:
        """Receive the turn's events with ``seq > after_seq``; with ``catch_up``, also those already logged.

        Following a turn again (a second resume) sends again what came after ``after_seq``. When
        following fails (Redis away), the turn is not followed and the error propagates, so that
        the request is answered and a later one can try again.
        """
        turn = self.turns.get(turn_id)
        if turn is not None:
            if catch_up and not turn.syncing:
                turn.last_seq = min(turn.last_seq, after_seq)
                await self._catch_up(turn_id, turn)
            return
        turn = self.turns[turn_id] = FollowedTurn(last_seq=after_seq, syncing=catch_up)
        try:
            await self.fanout.subscribe(turn_id, self)  # subscribe first, then read the log: no gap
            if catch_up:
                await self._catch_up(turn_id, turn)
        except BaseException:
            await self.unfollow(turn_id)
            raise

    async def _catch_up(self, turn_id: str, turn: FollowedTurn) -> None:
        turn.syncing = True
        try:
            for frame in await self.store.replay(turn_id, turn.last_seq):
                self._push(turn_id, turn, events.decode_head(frame), frame)
        finally:
            turn.syncing = False
            pending, turn.pending = turn.pending, []
            for head, frame in pending:
                self._push(turn_id, turn, head, frame)

    def deliver(self, turn_id: str, head: events.TurnEventHead, frame: bytes) -> None:
        turn = self.turns.get(turn_id)
        if turn is None:
            return
        if turn.syncing:
            turn.pending.append((head, frame))
        else:
            self._push(turn_id, turn, head, frame)

    def resync(self, turn_id: str) -> None:
        """Redis reconnected: fetch from the log whatever was published while it was away."""
        turn = self.turns.get(turn_id)
        if turn is not None and not turn.syncing:
            self._spawn(self._catch_up(turn_id, turn))

    def _push(self, turn_id: str, turn: FollowedTurn, head: events.TurnEventHead, frame: bytes) -> None:
        if head.seq <= turn.last_seq:
            return  # already sent (replay and live overlap)
        turn.last_seq = head.seq
        self._enqueue(frame)
        if head.is_final:
            self._spawn(self.unfollow(turn_id))

    async def unfollow(self, turn_id: str) -> None:
        if self.turns.pop(turn_id, None) is not None:
            await self.fanout.unsubscribe(turn_id, self)

    # --- housekeeping ----------------------------------------------------------------------------

    def allow_request(self) -> bool:
        """A token bucket per connection. A refused request is always answered (the caller says so)."""
        now = time.monotonic()
        self._tokens = min(RATE_BURST, self._tokens + (now - self._refilled_at) * RATE_PER_S)
        self._refilled_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._closing = True
        for turn_id in list(self.turns):
            await self.unfollow(turn_id)
        for task in list(self._tasks):
            task.cancel()
