"""The sandbox's exec service: the only way a worker runs the agent CLI in here.

Everything is refused before a process starts: a handshake without the right token (401), a path
other than /run, a first message that is not a run request of this protocol version, and any
argv outside sandchat.agent_cli's vocabulary. Only ``CLAUDE_BIN`` is ever started, in the
workspace, with the allow-listed environment of sandchat.agent_env (never this service's own).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import os
import signal
from typing import Final
from urllib.parse import urlsplit

import msgspec
from sandchat import sandbox_protocol as protocol
from sandchat.agent_cli import CliArgsError, check_cli_args
from sandchat.agent_env import agent_environment
from sandchat.agent_groups import new_run_id
from sandchat.agent_process import AgentStartError, spawn
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sandchat_sandbox.agent_run import AgentRun
from sandchat_sandbox.tokens import token_matches

log = logging.getLogger(__name__)

# The worker sends its run request right after the handshake.
REQUEST_TIMEOUT_S: Final = 10.0


class SandboxServer:
    def __init__(self, token: str, claude_bin: str, workspace: str, env_passthrough: tuple[str, ...] = ()) -> None:
        self._token = token
        self.claude_bin = claude_bin
        self.workspace = workspace
        self.env_passthrough = env_passthrough
        self.runs = 0

    # --- the opening handshake -------------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == protocol.HEALTH_PATH:
            body = json.dumps({"status": "ok", "runs": self.runs}) + "\n"
            response = connection.respond(http.HTTPStatus.OK, body)
            response.headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return response
        if path != protocol.RUN_PATH:
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"Not found: runs are at {protocol.RUN_PATH}.\n")
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token_matches(presented.strip(), self._token):
            log.warning("refused a run without a valid SANDBOX_TOKEN from %s", _peer(connection))
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "A valid SANDBOX_TOKEN is required.\n")
        return None

    # --- one run ---------------------------------------------------------------------------------

    async def handle(self, websocket: ServerConnection) -> None:
        args = await self._read_request(websocket)
        if args is None:
            return
        run_id = new_run_id()
        env = agent_environment(os.environ, self.env_passthrough, run_marker=run_id)
        try:
            process = await spawn([self.claude_bin, *args], env, run_id, cwd=self.workspace)
        except AgentStartError as exc:
            log.warning("could not start the agent: %s", exc)
            await _refuse(websocket, "not_started", f"The sandbox could not start the agent: {exc}.")
            return
        self.runs += 1
        try:
            log.info("run %s: %s", run_id[:8], "probe" if args[:1] == ["auth"] else "turn")
            with contextlib.suppress(ConnectionClosed):  # then the run ends at once, and the agent with it
                await websocket.send(protocol.encode(protocol.Started()))
            await AgentRun(websocket, process, run_id).relay()
        finally:
            self.runs -= 1

    async def _read_request(self, websocket: ServerConnection) -> list[str] | None:
        """The checked argv of the run request, or None after refusing it."""
        try:
            first = await asyncio.wait_for(websocket.recv(), REQUEST_TIMEOUT_S)
            request = protocol.decode_client(first)
        except (TimeoutError, ConnectionClosed):
            return None
        except (msgspec.ValidationError, msgspec.DecodeError):
            await _refuse(websocket, "bad_request", "The first message must be a run request of this protocol.")
            return None
        if not isinstance(request, protocol.RunRequest) or request.version != protocol.PROTOCOL_VERSION:
            await _refuse(
                websocket,
                "bad_request",
                f"The first message must be a run request of version {protocol.PROTOCOL_VERSION}.",
            )
            return None
        try:
            check_cli_args(request.args)
        except CliArgsError as exc:
            log.warning("refused a run: %s", exc)
            await _refuse(websocket, "bad_request", f"Refused: {exc}")
            return None
        return request.args

    # --- the process -----------------------------------------------------------------------------

    async def listen(self, host: str, port: int) -> Server:
        """The listening server; ``async with`` it to close it (tests run it in-process this way)."""
        return await serve(
            self.handle,
            host,
            port,
            process_request=self.process_request,
            max_size=protocol.MAX_FRAME_BYTES,
            compression=None,
            ping_interval=protocol.PING_INTERVAL_S,
            ping_timeout=protocol.PING_TIMEOUT_S,
            server_header=None,
        )

    async def run_forever(self, host: str, port: int) -> None:
        async with await self.listen(host, port) as server:
            _stop_on_signals(server)
            log.info(
                "sandbox on ws://%s:%d%s (agent: %s in %s)",
                host,
                port,
                protocol.RUN_PATH,
                self.claude_bin,
                self.workspace,
            )
            await server.wait_closed()
        log.info("sandbox stopped")


async def _refuse(websocket: ServerConnection, reason: protocol.RefusalReason, message: str) -> None:
    try:
        await websocket.send(protocol.encode(protocol.Refused(reason, message)))
        await websocket.close(1008)
    except ConnectionClosed:
        pass


def _stop_on_signals(server: Server) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, server.close)


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    return str(address[0]) if address else "an unknown address"
