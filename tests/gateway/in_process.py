"""The gateway's chat handling in the test's own process: real Redis, a real database, no sockets.

A :class:`Client` stands where a WebSocket would: it hands frames to the gateway's :class:`Chat`
exactly as the server does and reads back what the gateway sends. :class:`RedisFaults` and
:class:`DatabaseFaults` make chosen calls of the gateway fail, the way a server that drops, or a
connection that is cut, would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from arq.connections import ArqRedis
from redis.asyncio.connection import Connection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from sandchat.database import Database
from sandchat.redis_keys import RedisKeys
from sandchat.turns import Turns
from sandchat.turns.reaper import ReaperPolicy, run_reaper
from sandchat.turns.store import TurnStore
from sandchat_gateway.chat import Chat
from sandchat_gateway.connection import ChatConnection
from sandchat_gateway.fanout import ChannelFanout
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from websockets.protocol import State

Event = dict[str, Any]
RedisFault = Literal["refused", "reply_lost", "outage"]


class RedisFaults:
    """Counts the commands one Redis client sends, and fails the chosen ones.

    - ``refused``: the k-th command never reaches Redis (the connection breaks as it is sent);
    - ``reply_lost``: the k-th command runs in Redis, but its answer is lost with the connection;
    - ``outage``: the k-th command and every one after it are refused until :meth:`heal`.
    """

    def __init__(self) -> None:
        self.sent = 0
        self._at: int | None = None
        self._fault: RedisFault = "refused"

    def arm(self, at: int, fault: RedisFault) -> None:
        self._at, self._fault = self.sent + at, fault

    def heal(self) -> None:
        self._at = None

    @property
    def triggered(self) -> bool:
        return self._at is not None and self.sent >= self._at

    def on_send(self) -> RedisFault | None:
        self.sent += 1
        if self._at is None or self.sent < self._at:
            return None
        if self.sent == self._at or self._fault == "outage":
            return self._fault
        return None

    def client(self, url: str) -> ArqRedis:
        """A client whose every connection (commands, pipelines, pub/sub) goes through these faults."""
        faults = self

        class FaultyConnection(Connection):
            reply_lost = False

            async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
                fault = faults.on_send()
                if fault in ("refused", "outage"):
                    await self.disconnect()
                    raise RedisConnectionError("injected: the connection to Redis broke")
                await super().send_packed_command(command, check_health)
                self.reply_lost = fault == "reply_lost"

            async def read_response(self, *args: Any, **kwargs: Any) -> Any:
                if self.reply_lost:
                    self.reply_lost = False
                    await self.disconnect()
                    raise RedisConnectionError("injected: Redis's answer was lost")
                return await super().read_response(*args, **kwargs)

        return ArqRedis(connection_pool=ConnectionPool.from_url(url, connection_class=FaultyConnection))


class DatabaseFaults:
    """Counts the statements and commits of one database, and fails the chosen one.

    Each commit is two steps: failing the first aborts it; failing the second happens once the
    data is stored (the answer to the commit was lost: the caller is told it failed).
    """

    def __init__(self, database: Database) -> None:
        self.steps = 0
        self._at: int | None = None
        self._engine = database.engine.sync_engine

    def __enter__(self) -> DatabaseFaults:
        event.listen(self._engine, "before_cursor_execute", self._step)
        event.listen(self._engine, "commit", self._step)
        event.listen(Session, "after_commit", self._after_commit)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._step)
        event.remove(self._engine, "commit", self._step)
        event.remove(Session, "after_commit", self._after_commit)

    def arm(self, at: int) -> None:
        self._at = self.steps + at

    def heal(self) -> None:
        self._at = None

    def _after_commit(self, session: Session) -> None:
        if session.get_bind() is self._engine:
            self._step()

    def _step(self, *_args: Any, **_kwargs: Any) -> None:
        self.steps += 1
        if self.steps == self._at:
            raise OperationalError("injected", None, ConnectionResetError("injected: the database went away"))


class FakeProtocol:
    """The socket's framing: each frame the gateway writes arrives whole in ``frames``."""

    state = State.OPEN

    def __init__(self, frames: asyncio.Queue[bytes]) -> None:
        self.frames = frames

    def send_text(self, data: bytes, fin: bool = True) -> None:
        self.frames.put_nowait(data)

    def data_to_send(self) -> list[bytes]:
        return []


class FakeTransport:
    def write(self, data: bytes) -> None:
        pass


class FakeSocket:
    """Where the gateway writes a client's frames."""

    paused = False

    def __init__(self) -> None:
        self.frames: asyncio.Queue[bytes] = asyncio.Queue()
        self.protocol = FakeProtocol(self.frames)
        self.transport = FakeTransport()

    async def send(self, frame: bytes, *, text: bool = True) -> None:
        self.frames.put_nowait(frame)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass


class Client:
    """One connection to the in-process gateway."""

    def __init__(self, chat: Chat, fanout: ChannelFanout) -> None:
        self.chat = chat
        self.socket = FakeSocket()
        self.connection = ChatConnection(self.socket, fanout, chat.turns.store)  # type: ignore[arg-type]

    async def send(self, request: Event | str) -> None:
        await self.chat.handle(self.connection, request if isinstance(request, str) else json.dumps(request))

    async def receive(self, timeout: float = 5) -> Event:
        event: Event = json.loads(await asyncio.wait_for(self.socket.frames.get(), timeout))
        return event

    async def close(self) -> None:
        await self.connection.close()


class InProcessGateway:
    """What one gateway process holds (a Redis client, a database, the fan-out and the reaper)."""

    def __init__(self, redis: ArqRedis, database: Database, keys: RedisKeys) -> None:
        self.redis = redis
        self.database = database
        self.turns = Turns.connect(redis, keys, database)
        self.fanout = ChannelFanout(redis, keys)
        self.chat = Chat(self.turns)
        self.clients: list[Client] = []

    @property
    def store(self) -> TurnStore:
        return self.turns.store

    def client(self) -> Client:
        client = Client(self.chat, self.fanout)
        self.clients.append(client)
        return client


@asynccontextmanager
async def running_gateway(
    redis: ArqRedis,
    database: Database,
    keys: RedisKeys,
    *,
    lost_job_grace_s: float,
    reap_every_s: float,
    reaper_redis: ArqRedis | None = None,
) -> AsyncIterator[InProcessGateway]:
    """The gateway's pieces, running; its reaper on ``reaper_redis`` when given (as another gateway's would)."""
    gateway = InProcessGateway(redis, database, keys)
    await gateway.fanout.start()
    reaper_turns = Turns.connect(reaper_redis, keys, database) if reaper_redis else gateway.turns
    policy = ReaperPolicy(lost_job_grace_s=lost_job_grace_s, start_grace_s=lost_job_grace_s)
    reaper = asyncio.create_task(run_reaper(reaper_turns, policy, interval_s=reap_every_s))
    try:
        yield gateway
    finally:
        for client in gateway.clients:
            await client.close()
        reaper.cancel()
        await asyncio.gather(reaper, return_exceptions=True)
        await gateway.fanout.close()


async def eventually(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Await ``condition()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(every)
