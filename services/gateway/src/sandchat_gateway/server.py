"""The WebSocket server: /chat for the chat protocol, GET /health, Origin and token checks."""

from __future__ import annotations

import asyncio
import hmac
import http
import json
import logging
import signal
from collections.abc import Callable
from typing import Final
from urllib.parse import parse_qs, urlsplit

from redis.exceptions import RedisError
from sandchat.database import Database
from sandchat.settings import Settings
from sandchat.turns import Turns, queue
from sandchat.turns.reaper import ReaperPolicy, run_reaper
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sandchat_gateway.chat import Chat
from sandchat_gateway.connection import ChatConnection
from sandchat_gateway.fanout import ChannelFanout

log = logging.getLogger(__name__)

# The largest frame the gateway reads. Requests are far smaller (MAX_REQUEST_CHARS), but a frame up
# to this size is still read so that its sender gets a `too_large` error event on a connection that
# carries on; only beyond it is the connection closed (1009). Bounds the memory one sender can pin.
MAX_FRAME_BYTES: Final = 16 << 20


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = queue.connect(settings.redis_url)
        self.database = Database(settings.database_url)
        self.turns = Turns.connect(self.redis, settings.redis_keys, self.database)
        self.fanout = ChannelFanout(self.redis, settings.redis_keys)
        self.chat = Chat(self.turns)
        self.connections: set[ChatConnection] = set()
        self._refused_origins: set[str] = set()

    # --- the opening handshake -------------------------------------------------------------------

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == "/health":
            return self._health(connection)
        if path != "/chat":
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not found: the chat WebSocket is at /chat.\n")
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") not in self.settings.allowed_origins:
            if origin not in self._refused_origins:
                self._refused_origins.add(origin)
                log.warning("refused a WebSocket from origin %r (not in ALLOWED_ORIGINS)", origin[:200])
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Origin not allowed.\n")
        if self.settings.auth_token is not None and not await self._authorised(request):
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "A valid ticket or bearer token is required.\n")
        return None

    def _health(self, connection: ServerConnection) -> Response:
        body = json.dumps({"status": "ok", "connections": len(self.connections)}) + "\n"
        response = connection.respond(http.HTTPStatus.OK, body)
        response.headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return response

    async def _authorised(self, request: Request) -> bool:
        expected = self.settings.auth_token_value() or ""
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode()):
            return True
        tickets = parse_qs(urlsplit(request.path).query).get("ticket", [])
        if len(tickets) != 1:
            return False
        try:  # single use: GETDEL, so a replayed ticket finds nothing
            return await self.redis.getdel(self.settings.redis_keys.ws_ticket(tickets[0])) is not None
        except RedisError:
            return False

    # --- one connection --------------------------------------------------------------------------

    async def handle(self, websocket: ServerConnection) -> None:
        connection = ChatConnection(websocket, self.fanout, self.turns.store)
        self.connections.add(connection)
        writer = asyncio.create_task(connection.write_forever())
        try:
            async for frame in websocket:
                try:
                    await self.chat.handle(connection, frame)
                except RedisError as exc:
                    log.warning("request failed, Redis unavailable: %s", type(exc).__name__)
                    connection.send_error(None, "agent_error", "Redis is unavailable; try again in a moment.")
                except Exception:
                    log.exception("request failed")
                    connection.send_error(None, "agent_error", "Something went wrong on our side; try again.")
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(connection)
            await connection.close()
            writer.cancel()

    # --- the process -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve until SIGTERM/SIGINT, or until ``stop`` is set (a gateway inside another program)."""
        await self.database.log_startup()
        await self.fanout.start()
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
        await self.redis.aclose()
        await self.database.close()
        log.info("gateway stopped")


async def _close_when(stop: asyncio.Event, close: Callable[[], None]) -> None:
    await stop.wait()
    close()
