"""One browser (or CLI) connection: its bounded send queue, the threads it watches, the turns it follows.

A followed turn delivers frames in ``seq`` order, each at most once: while a catch-up reads the
replay log, live frames wait in ``pending`` and are then deduplicated by ``seq``. A watched thread
delivers its own events (a turn started, a message queued or removed, a new title); when one of its
turns starts, the connection follows that turn from its first event. A frame goes to the client's
socket at once while the client keeps up; when its socket's buffer is full, frames wait in the
connection's backlog and leave together once it drains. A client that cannot keep up (its backlog
is full) is closed with 1013 and may resume.

An idle connection costs little beyond websockets' own state (docs/performance.md, issue 18): the
backlog and the task that drains it exist only while frames wait, and the other per-connection
structures are plain dicts on a slotted object.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sandchat import metrics, wire
from sandchat.identity import LOCAL, Principal
from sandchat.redis_keys import RedisKeys
from sandchat.turns.store import TurnStore
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from sandchat_gateway.fanout import ChannelFanout

log = logging.getLogger(__name__)

SEND_QUEUE_FRAMES: Final = 4096
# Frames a client fell behind by that are framed and written together, at most.
WRITE_BATCH_FRAMES: Final = 256
# Requests per connection: a burst of RATE_BURST, then RATE_PER_S sustained.
RATE_BURST: Final = 20
RATE_PER_S: Final = 5.0
# A full bucket, one float shared by every new connection.
_FULL_BUCKET: Final = float(RATE_BURST)
TRY_AGAIN_LATER: Final = 1013
# Threads one connection watches at most; watching one more forgets the least recently watched.
MAX_WATCHED_THREADS: Final = 64
# Messages whose `queued` answer went to their sender directly (its copy from the thread is skipped).
MAX_TOLD: Final = 256
# Threads this connection's user was found to own (threads never change hands; a deleted one is forgotten).
MAX_OWNED: Final = 256


@dataclass(eq=False, slots=True)
class FollowedTurn:
    """The connection's listener on one turn's channel."""

    connection: ChatConnection
    turn_id: str
    last_seq: int = 0
    syncing: bool = False
    # When the message that started this turn arrived (perf_counter), until its first token is sent.
    first_token_from: float | None = None
    pending: list[tuple[wire.TurnEventHead, bytes]] = field(default_factory=list)

    def deliver(self, frame: bytes) -> None:
        head = wire.decode_head(frame)
        if self.syncing:
            self.pending.append((head, frame))
        else:
            self.push(head, frame)

    def resync(self) -> None:
        if not self.syncing:
            self.connection.spawn(self.catch_up())

    async def catch_up(self) -> None:
        self.syncing = True
        try:
            for frame in await self.connection.store.replay(self.turn_id, self.last_seq):
                self.push(wire.decode_head(frame), frame)
        finally:
            self.syncing = False
            pending, self.pending = self.pending, []
            for head, frame in pending:
                self.push(head, frame)

    def push(self, head: wire.TurnEventHead, frame: bytes) -> None:
        if head.seq <= self.last_seq:
            return  # already sent (replay and live overlap)
        self.last_seq = head.seq
        self.connection.enqueue(frame)
        if self.first_token_from is not None and head.type == "token":
            metrics.FIRST_TOKEN.observe(time.perf_counter() - self.first_token_from)
            self.first_token_from = None
        if head.is_final:
            self.connection.spawn(self.connection.unfollow(self.turn_id))


@dataclass(eq=False, slots=True)
class WatchedThread:
    """The connection's listener on one thread's channel."""

    connection: ChatConnection
    thread_id: str

    def deliver(self, frame: bytes) -> None:
        event = wire.decode_event(frame)
        connection = self.connection
        if isinstance(event, wire.Started):
            if event.turn_id in connection.turns:
                return  # followed already: its sender was told directly, a resumer needs no `started`
            connection.enqueue(frame)
            connection.spawn(connection.follow(event.turn_id, catch_up=True))
        elif isinstance(event, wire.Queued) and connection.told(event.message_id):
            return
        else:
            connection.enqueue(frame)

    def resync(self) -> None:
        # A turn that started while Redis was away is found by the client's next `watch` or `resume`.
        return


class ChatConnection:
    __slots__ = (
        "_backlog",
        "_closing",
        "_refilled_at",
        "_tasks",
        "_tokens",
        "_told",
        "deletions_heard",
        "fanout",
        "owned",
        "principal",
        "store",
        "threads",
        "turns",
        "websocket",
    )

    def __init__(
        self, websocket: ServerConnection, fanout: ChannelFanout, store: TurnStore, principal: Principal = LOCAL
    ) -> None:
        self.websocket = websocket
        # Whom this socket acts for: it reaches their threads only.
        self.principal = principal
        # Insertion-ordered dicts, oldest first (a plain dict is half an OrderedDict's size).
        self.owned: dict[str, None] = {}
        # Deletions heard so far: an ownership read that a deletion overtook is not remembered.
        self.deletions_heard = 0
        self.fanout = fanout
        self.store = store
        self.turns: dict[str, FollowedTurn] = {}
        self.threads: dict[str, WatchedThread] = {}
        # Frames waiting behind a full socket, each with when it was queued (perf_counter) for
        # sandchat_frame_delivery_seconds. None while the client keeps up: the deque, and the task
        # that drains it (`_drain`), exist only while frames wait.
        self._backlog: deque[tuple[bytes, float]] | None = None
        self._closing = False
        self._tokens = _FULL_BUCKET
        # Any moment in the past will do: the bucket starts full and never holds more than RATE_BURST.
        self._refilled_at = 0.0
        self._tasks: set[asyncio.Task[None]] | None = None
        self._told: dict[str, None] = {}

    @property
    def keys(self) -> RedisKeys:
        return self.store.keys

    # --- sending ---------------------------------------------------------------------------------

    def send(self, event: wire.ServerEvent) -> None:
        self.enqueue(wire.encode(event))

    def send_error(self, thread_id: str | None, code: wire.ErrorCode, message: str) -> None:
        self.send(wire.Error(thread_id, code, message))

    def tell_queued(self, queued: wire.Queued) -> None:
        """Answer a sender directly; the copy its thread's watchers get is then not sent twice."""
        _remember(self._told, queued.message_id, MAX_TOLD)
        self.send(queued)

    def remember_owned(self, thread_id: str) -> None:
        _remember(self.owned, thread_id, MAX_OWNED)

    def forget_owned(self, thread_id: str | None = None) -> None:
        """The thread was deleted (``None``: any may have been): look it up again at its next request."""
        self.deletions_heard += 1
        if thread_id is None:
            self.owned.clear()
        else:
            self.owned.pop(thread_id, None)

    def told(self, message_id: str) -> bool:
        return self._told.pop(message_id, 1) is None

    def enqueue(self, frame: bytes) -> None:
        if self._closing:
            return
        backlog = self._backlog
        if backlog is None:
            if self._write_now((frame,)):
                # The usual case: the client keeps up, so the frame goes to its socket at once.
                metrics.RELAY_FRAMES.inc()
                metrics.FRAME_DELIVERY.observe(0.0)
                return
            backlog = self._backlog = deque()
            self.spawn(self._drain(backlog))
        elif len(backlog) >= SEND_QUEUE_FRAMES:
            self._closing = True
            log.warning("client too slow (%d frames queued); closing with 1013", len(backlog))
            self.spawn(self.websocket.close(TRY_AGAIN_LATER, "too slow: reconnect and resume"))
            return
        backlog.append((frame, time.perf_counter()))
        metrics.RELAY_FRAMES.inc()

    def _write_now(self, frames: Sequence[bytes]) -> bool:
        """Frame and write ``frames`` in one write, unless the socket is not open or its buffer is full."""
        websocket = self.websocket
        if websocket.protocol.state is not State.OPEN or websocket.paused:
            return False
        for frame in frames:
            websocket.protocol.send_text(frame)
        websocket.transport.write(b"".join(websocket.protocol.data_to_send()))
        return True

    async def _drain(self, backlog: deque[tuple[bytes, float]]) -> None:
        """Send the backlog (a task while frames wait behind a full socket): what waits goes in one write.

        Frames that arrive meanwhile join the backlog; once it is empty the task ends and frames go
        to the socket directly again. A socket that closes drops what waits (the client resumes).
        """
        try:
            while backlog:
                batch = [backlog.popleft() for _ in range(min(len(backlog), WRITE_BATCH_FRAMES))]
                frames = [frame for frame, _ in batch]
                if not self._write_now(frames):
                    # Not writable now: websockets' own send waits for the buffer or says it closed.
                    for frame in frames:
                        await self.websocket.send(frame, text=True)
                sent_at = time.perf_counter()
                for _, queued_at in batch:
                    metrics.FRAME_DELIVERY.observe(sent_at - queued_at)
        except ConnectionClosed:
            self._closing = True
        finally:
            self._backlog = None

    # --- turns and threads -----------------------------------------------------------------------

    async def follow(
        self, turn_id: str, after_seq: int = 0, *, catch_up: bool = False, first_token_from: float | None = None
    ) -> None:
        """Receive the turn's events with ``seq > after_seq``; with ``catch_up``, also those already logged.

        ``first_token_from`` (a :func:`time.perf_counter` reading): the moment the turn's message
        arrived, to time its first token (``sandchat_first_token_seconds``).

        Following a turn again (a second resume) sends again what came after ``after_seq``. When
        following fails (Redis away), the turn is not followed and the error propagates, so that
        the request is answered and a later one can try again.
        """
        turn = self.turns.get(turn_id)
        if turn is not None:
            if catch_up and not turn.syncing:
                turn.last_seq = min(turn.last_seq, after_seq)
                await turn.catch_up()
            return
        turn = self.turns[turn_id] = FollowedTurn(
            self, turn_id, last_seq=after_seq, syncing=catch_up, first_token_from=first_token_from
        )
        try:
            await self.fanout.subscribe(self.keys.turn_channel(turn_id), turn)  # subscribe first, then read: no gap
            if catch_up:
                await turn.catch_up()
        except BaseException:
            await self.unfollow(turn_id)
            raise

    async def unfollow(self, turn_id: str) -> None:
        turn = self.turns.pop(turn_id, None)
        if turn is not None:
            await self.fanout.unsubscribe(self.keys.turn_channel(turn_id), turn)

    async def watch(self, thread_id: str) -> None:
        """Receive the thread's events from now on (returns once subscribed)."""
        if thread_id in self.threads:
            self.threads[thread_id] = self.threads.pop(thread_id)  # now the most recently watched
            return
        thread = self.threads[thread_id] = WatchedThread(self, thread_id)
        try:
            await self.fanout.subscribe(self.keys.thread_channel(thread_id), thread)
        except BaseException:
            await self.unwatch(thread_id)
            raise
        while len(self.threads) > MAX_WATCHED_THREADS:
            await self.unwatch(next(iter(self.threads)))

    async def unwatch(self, thread_id: str) -> None:
        thread = self.threads.pop(thread_id, None)
        if thread is not None:
            await self.fanout.unsubscribe(self.keys.thread_channel(thread_id), thread)

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

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        tasks = self._tasks
        if tasks is None:
            tasks = self._tasks = set()
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def close(self) -> None:
        self._closing = True
        for turn_id in list(self.turns):
            await self.unfollow(turn_id)
        for thread_id in list(self.threads):
            await self.unwatch(thread_id)
        for task in list(self._tasks or ()):
            task.cancel()


def _remember(remembered: dict[str, None], key: str, most: int) -> None:
    """Add ``key`` to an insertion-ordered dict of at most ``most`` keys: the oldest go first."""
    remembered[key] = None
    while len(remembered) > most:
        del remembered[next(iter(remembered))]
