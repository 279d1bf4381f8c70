"""The WebSocket server: /chat for the chat protocol, GET /health, Origin and token checks."""

from __future__ import annotations

import asyncio
import http
import json
import logging
import signal
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, urlsplit

from redis.exceptions import RedisError
from sandchat import identity, metrics
from sandchat.database import Database
from sandchat.identity import Principal
from sandchat.logs import throttle
from sandchat.settings import Settings
from sandchat.turns import Turns, queue
from sandchat.turns.reaper import ReaperPolicy, run_reaper
from sqlalchemy.exc import SQLAlchemyError
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sandchat_gateway.chat import Chat
from sandchat_gateway.connection import ChatConnection
from sandchat_gateway.fanout import ChannelFanout

log = logging.getLogger(__name__)

# A page from an origin not in ALLOWED_ORIGINS: the handshake completes (a browser shows a page
# nothing about a refused handshake) and the socket is closed at once with this code and reason,
# before any frame is read and without looking at its ticket.
POLICY_VIOLATION: Final = 1008
ORIGIN_REFUSED: Final = "Origin not allowed: open the chat at an address listed in ALLOWED_ORIGINS."
# Strangers can cause these at will: at most one log line per minute says so (with a count).
REFUSALS_LOG_INTERVAL_S: Final = 60.0
refusals = logging.getLogger("sandchat_gateway.refusals")
throttle(refusals, REFUSALS_LOG_INTERVAL_S)

# The largest frame the gateway reads. Requests are far smaller (MAX_REQUEST_CHARS), but a frame up
# to this size is still read so that its sender gets a `too_large` error event on a connection that
# carries on; only beyond it is the connection closed (1009). Bounds the memory one sender can pin.
MAX_FRAME_BYTES: Final = 16 << 20
# The token or session a socket was opened with was revoked (or its user disabled).
REVOKED: Final = "Your sign-in was revoked: sign in again."


@dataclass(slots=True, eq=False)  # a channel listener: kept in a set, by identity
class _DeletedThreads:
    """The ``threads_deleted`` channel: a deleted thread is no longer owned by any socket's user."""

    connections: set[ChatConnection]

    def deliver(self, frame: bytes) -> None:
        thread_id = frame.decode(errors="replace")
        for connection in self.connections:
            connection.forget_owned(thread_id)

    def resync(self) -> None:
        # A deletion published while Redis was away is not heard: every socket looks its threads up again.
        for connection in self.connections:
            connection.forget_owned()


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = queue.connect(settings.redis_url)
        self.database = Database(settings.database_url)
        self.turns = Turns.connect(
            self.redis, settings.redis_keys, self.database, user_max_turns=settings.user_max_turns
        )
        self.fanout = ChannelFanout(self.redis, settings.redis_keys)
        self.chat = Chat(self.turns)
        self.connections: set[ChatConnection] = set()
        # Who each accepted handshake acts for, until its connection starts.
        self._principals: weakref.WeakKeyDictionary[ServerConnection, Principal] = weakref.WeakKeyDictionary()
        metrics.WEBSOCKETS_OPEN.set_function(lambda: len(self.connections))
        metrics.TURN_SUBSCRIBERS.set_function(lambda: sum(len(c.turns) for c in self.connections))
        metrics.TURNS_FOLLOWED.set_function(lambda: len({turn for c in self.connections for turn in c.turns}))

    # --- the opening handshake -------------------------------------------------------------------

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == "/health":
            return self._health(connection)
        if path == "/metrics":
            return self._metrics(connection)
        if path != "/chat":
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not found: the chat WebSocket is at /chat.\n")
        origin = request.headers.get("Origin")
        if not self._origin_allowed(origin):
            refusals.warning("refused a WebSocket from origin %.100r (not in ALLOWED_ORIGINS)", origin)
            return None  # accepted, then closed by `handle` with the reason
        principal = await self._principal(request)
        if principal is None:
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "A valid ticket or bearer token is required.\n")
        self._principals[connection] = principal
        return None

    def _origin_allowed(self, origin: str | None) -> bool:
        """Browsers send Origin; clients without one (CLI tools) are judged by the token alone."""
        return origin is None or origin.rstrip("/") in self.settings.allowed_origins

    def _health(self, connection: ServerConnection) -> Response:
        body = json.dumps({"status": "ok", "connections": len(self.connections)}) + "\n"
        response = connection.respond(http.HTTPStatus.OK, body)
        response.headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return response

    def _metrics(self, connection: ServerConnection) -> Response:
        body = metrics.exposition()
        response = connection.respond(http.HTTPStatus.OK, "")
        response.body = body
        response.headers = Headers([("Content-Type", metrics.CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return response

    async def _principal(self, request: Request) -> Principal | None:
        """Whom the socket acts for: the implicit user (AUTH_MODE=none), a bearer token, or a ticket."""
        if identity.auth_mode(self.settings) == "none":
            return identity.LOCAL
        presented = identity.bearer_value(request.headers.get("Authorization", ""))
        if presented is not None:
            try:
                return await identity.bearer_principal(self.settings, self.database, presented)
            except (SQLAlchemyError, OSError):
                return None
        tickets = parse_qs(urlsplit(request.path).query).get("ticket", [])
        if len(tickets) != 1:
            return None
        try:  # single use: GETDEL, so a replayed ticket finds nothing
            holder = await self.redis.getdel(self.settings.redis_keys.ws_ticket(tickets[0]))
        except RedisError:
            return None
        if holder is None:
            return None
        try:
            found = json.loads(holder)
            return Principal(str(found["user"]), str(found["name"]), credential=found.get("credential"))
        except (ValueError, KeyError, TypeError):
            return None

    def deliver(self, frame: bytes) -> None:
        """A credential was revoked (the `credentials_revoked` channel): close the sockets opened with it."""
        revoked = frame.decode(errors="replace")
        for connection in list(self.connections):
            principal = connection.principal
            if revoked in (principal.credential, identity.USER_CREDENTIAL + principal.user_id):
                connection.spawn(connection.websocket.close(POLICY_VIOLATION, REVOKED))

    def resync(self) -> None:
        # A revocation published while Redis was away is not heard: the credential works for nothing
        # new all the same (every new socket and request looks it up).
        return

    # --- one connection --------------------------------------------------------------------------

    async def handle(self, websocket: ServerConnection) -> None:
        if websocket.request is None or not self._origin_allowed(websocket.request.headers.get("Origin")):
            await websocket.close(POLICY_VIOLATION, ORIGIN_REFUSED)
            return
        principal = self._principals.pop(websocket, None)
        if principal is None:
            await websocket.close(POLICY_VIOLATION, REVOKED)
            return
        # The handshake's headers are not read again: let them go (websockets keeps the request and
        # response objects for the connection's life; ``request`` must stay set, it marks the handshake done).
        websocket.request.headers.clear()
        if websocket.response is not None:
            websocket.response.headers.clear()
        connection = ChatConnection(websocket, self.fanout, self.turns.store, principal)
        self.connections.add(connection)
        try:
            while True:  # not `async for`: its async generator would be one more object per socket
                await self.chat.handle(connection, await websocket.recv())
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(connection)
            await connection.close()

    # --- the process -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve until SIGTERM/SIGINT, or until ``stop`` is set (a gateway inside another program)."""
        await self.database.log_startup()
        await self.fanout.start()
        await self.fanout.subscribe(self.settings.redis_keys.credentials_revoked, self)
        await self.fanout.subscribe(self.settings.redis_keys.threads_deleted, _DeletedThreads(self.connections))
        settings = self.settings
        reaper = asyncio.create_task(run_reaper(self.turns, ReaperPolicy(settings.turn_pickup_timeout_s)))
        async with serve(
            self.handle,
            settings.gateway_host,
            settings.gateway_port,
            process_request=self.process_request,
            max_size=MAX_FRAME_BYTES,
            compression=None,  # per-connection zlib state would cost more memory than it saves
            ping_interval=20,
            ping_timeout=20,
            server_header=None,
        ) as server:
            stopping: asyncio.Task[None] | None = None
            if stop is None:
                loop = asyncio.get_running_loop()
                loop.add_signal_handler(signal.SIGTERM, server.close)
                loop.add_signal_handler(signal.SIGINT, server.close)
            else:
                stopping = asyncio.create_task(_close_when(stop, server.close))
            log.info("gateway on ws://%s:%d/chat", settings.gateway_host, settings.gateway_port)
            await server.wait_closed()
            if stopping is not None:
                stopping.cancel()
        reaper.cancel()
        await self.fanout.close()
        await self.turns.store.close()
        await self.redis.aclose()
        await self.database.close()
        log.info("gateway stopped")


async def _close_when(stop: asyncio.Event, close: Callable[[], None]) -> None:
    await stop.wait()
    close()
