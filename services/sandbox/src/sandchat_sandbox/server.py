"""The sandbox's exec service: the only way a worker runs the agent CLI in here.

Everything is refused before a process starts: a handshake without the right token (401), a path
other than /run, a first message that is not a run request of this protocol version, and any
argv outside sandchat.agent_cli's vocabulary. Only ``CLAUDE_BIN`` is ever started, in the
workspace, with the allow-listed environment of sandchat.agent_env (never this service's own).

A run for a person starts in that person's directory (sandchat.agent_users) and nowhere else: a
user id that cannot name a directory, a ``cwd`` that resolves outside the person's directory (a
``..`` or a symbolic link out of it included) and an ``env`` with anything but a login are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import os
import signal
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import msgspec
from sandchat import sandbox_protocol as protocol
from sandchat.agent_cli import CliArgsError, check_cli_args
from sandchat.agent_env import agent_environment
from sandchat.agent_groups import new_run_id
from sandchat.agent_process import AgentStartError, spawn
from sandchat.agent_users import (
    LOGIN_VARIABLES,
    AgentLogin,
    AgentUser,
    UserDirectories,
    UserIdError,
    make_user_directories,
    person_environment,
    user_directories,
)
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sandchat_sandbox.agent_run import AgentRun
from sandchat_sandbox.tokens import token_matches

# The worker sends its run request right after the handshake.
REQUEST_TIMEOUT_S: Final = 10.0

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class SandboxServer:
    """Answers a worker's run requests on a WebSocket: runs the agent CLI and streams what it prints."""

    # What a worker must present (or its hash, see sandchat_sandbox.tokens); never shown in a repr.
    token: str = field(repr=False)
    claude_bin: str
    workspace: str
    env_passthrough: tuple[str, ...] = ()
    # AGENT_SHARED_LOGIN here: whether this sandbox's own login may serve a person without one.
    shared_login: bool = field(default=False, kw_only=True)
    # Agent runs started so far.
    runs: int = field(default=0, init=False)

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
        if scheme.lower() != "bearer" or not token_matches(presented.strip(), self.token):
            log.warning("refused a run without a valid SANDBOX_TOKEN from %s", _peer(connection))
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "A valid SANDBOX_TOKEN is required.\n")
        return None

    # --- one run ---------------------------------------------------------------------------------

    async def handle(self, websocket: ServerConnection) -> None:
        request = await self._read_request(websocket)
        if request is None:
            return
        args = request.args
        run_id = new_run_id()
        env = agent_environment(os.environ, self.env_passthrough, run_marker=run_id)
        cwd = self.workspace
        if request.user is not None:
            try:
                user, directories, cwd = self._person(request.user)
            except PersonRefusedError as exc:
                log.warning("refused a run: %s", exc)
                await _refuse(websocket, "bad_request", f"Refused: {exc}.")
                return
            env = person_environment(env, user, directories, shared_login=self.shared_login)
        try:
            process = await spawn([self.claude_bin, *args], env, run_id, cwd=cwd)
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

    def _person(self, run_user: protocol.RunUser) -> tuple[AgentUser, UserDirectories, str]:
        """The person, their directories (made when missing) and the run's working directory inside them."""
        try:
            directories = user_directories(os.path.realpath(self.workspace), run_user.id)
        except UserIdError as exc:
            raise PersonRefusedError(str(exc)) from None
        logins = [
            AgentLogin(kind, run_user.env[name]) for kind, name in LOGIN_VARIABLES.items() if name in run_user.env
        ]
        if set(run_user.env) - set(LOGIN_VARIABLES.values()) or len(logins) > 1:
            raise PersonRefusedError("a run's environment carries one login and nothing else")
        if os.path.lexists(directories.home) and os.path.realpath(directories.home) != directories.home:
            raise PersonRefusedError("the person's directory is a link out of the workspace")
        try:
            make_user_directories(directories)
        except OSError as exc:
            raise PersonRefusedError(f"the person's directories could not be made ({exc.strerror})") from None
        cwd = os.path.realpath(os.path.join(directories.work, run_user.cwd or "."))
        if not directories.contains(cwd):
            raise PersonRefusedError("the working directory is outside the person's directory")
        if not os.path.isdir(cwd):
            raise PersonRefusedError("the working directory does not exist")
        user = AgentUser(run_user.id, logins[0] if logins else None, shared_login=run_user.shared_login)
        return user, directories, cwd

    async def _read_request(self, websocket: ServerConnection) -> protocol.RunRequest | None:
        """The checked run request, or None after refusing it."""
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
        return request

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


class PersonRefusedError(Exception):
    """A person's run that this sandbox does not start; the message says why, in a few words."""


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
