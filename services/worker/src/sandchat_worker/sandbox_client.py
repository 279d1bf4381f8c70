"""The agent running in the sandbox service, seen from the worker as a process (sandchat.sandbox_protocol).

:func:`start_remote` opens one WebSocket per run and returns once the sandbox has started the CLI;
:class:`RemoteAgentProcess` then behaves like a local process: stdin written and drained, stdout and
stderr read, a signal for the agent's process group, the exit status. Both directions keep the
back-pressure of pipes: an unread stdout stops this side from reading the socket, which stops the
sandbox from reading the agent, which then waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec
from sandchat import sandbox_protocol as protocol
from sandchat.agent_process import STREAM_LIMIT, AgentStartError
from sandchat.agent_users import AgentUser
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

OPEN_TIMEOUT_S: Final = 10.0
SIGNALS: Final[dict[int, protocol.SignalName]] = {
    signal.SIGINT: "SIGINT",
    signal.SIGTERM: "SIGTERM",
    signal.SIGKILL: "SIGKILL",
}
# Tasks that must finish on their own (sending a signal, closing): kept here so they are not collected.
_background: set[asyncio.Task[None]] = set()


class ByteStream:
    """What the agent printed on one stream, as the sandbox sent it: read like a pipe."""

    def __init__(self, limit: int = STREAM_LIMIT) -> None:
        self._buffer = bytearray()
        self._eof = False
        self._limit = limit
        self._data = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def feed(self, data: bytes) -> None:
        self._buffer += data
        self._data.set()
        if len(self._buffer) > 2 * self._limit:
            self._room.clear()

    def feed_eof(self) -> None:
        self._eof = True
        self._data.set()
        self._room.set()

    async def room(self) -> None:
        """Wait until the reader has taken enough to make reading the socket worthwhile again."""
        await self._room.wait()

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes as soon as there are some (``-1``: everything until EOF); ``b""`` at EOF."""
        if n < 0:
            parts = []
            while chunk := await self.read(self._limit):
                parts.append(chunk)
            return b"".join(parts)
        while not self._eof and not self._buffer:
            self._data.clear()
            await self._data.wait()
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        if len(self._buffer) <= self._limit:
            self._room.set()
        return data


class RemoteStdin:
    """The agent's stdin: ``write`` buffers, ``drain`` waits until the sandbox has taken it."""

    def __init__(self, websocket: ClientConnection) -> None:
        self._websocket = websocket
        self._pending = bytearray()
        self._closing = False
        self._close_sent = False
        self._broken = False
        self._sending: asyncio.Task[None] | None = None

    def write(self, data: bytes) -> None:
        if self._closing:
            raise ConnectionResetError("stdin is closed")
        self._pending += data
        self._send_soon()

    async def drain(self) -> None:
        while self._sending is not None and not self._sending.done():
            await asyncio.shield(self._sending)
        if self._broken:
            raise ConnectionResetError("the sandbox connection is closed")

    def close(self) -> None:
        self._closing = True
        self._send_soon()

    def _send_soon(self) -> None:
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send())

    async def _send(self) -> None:
        try:
            while self._pending:
                chunk = bytes(self._pending[: protocol.CHUNK_BYTES])
                del self._pending[: protocol.CHUNK_BYTES]
                await self._websocket.send(protocol.data_frame(protocol.Stream.STDIN, chunk))
            if self._closing and not self._close_sent:
                self._close_sent = True
                await self._websocket.send(protocol.encode(protocol.CloseStdin()))
        except ConnectionClosed:
            self._broken = True
            self._pending.clear()


class RemoteAgentProcess:
    def __init__(self, websocket: ClientConnection) -> None:
        self._websocket = websocket
        self._stdin = RemoteStdin(websocket)
        self._stdout = ByteStream()
        self._stderr = ByteStream()
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._lost = False
        self._reading = asyncio.create_task(self._read())

    @property
    def stdin(self) -> RemoteStdin:
        return self._stdin

    @property
    def stdout(self) -> ByteStream:
        return self._stdout

    @property
    def stderr(self) -> ByteStream:
        return self._stderr

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    @property
    def lost(self) -> bool:
        return self._lost

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def signal_group(self, signum: int) -> None:
        if self._exited.done():
            return
        message = protocol.encode(protocol.SignalRequest(SIGNALS[signum]))
        _in_background(self._send_quietly(message))

    def close(self) -> None:
        """Close the connection; an agent still running there is killed by the sandbox."""
        self._reading.cancel()
        _in_background(self._websocket.close())

    async def _send_quietly(self, message: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._websocket.send(message)

    async def _read(self) -> None:
        code: int | None = None
        streams: dict[int, ByteStream] = {protocol.Stream.STDOUT: self._stdout, protocol.Stream.STDERR: self._stderr}
        try:
            async for message in self._websocket:
                if isinstance(message, bytes):
                    stream = streams.get(message[0]) if message else None
                    if stream is not None:
                        stream.feed(message[1:])
                        await stream.room()
                    continue
                with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
                    decoded = protocol.decode_server(message)
                    if isinstance(decoded, protocol.Exited) and not self._exited.done():
                        code = decoded.returncode
                        self._exited.set_result(code)
        except ConnectionClosed:
            pass
        finally:
            self._stdout.feed_eof()
            self._stderr.feed_eof()
            if not self._exited.done():
                # Gone without an exit status: the sandbox kills the agent when its connection drops.
                self._lost = True
                self._exited.set_result(-signal.SIGKILL)


async def start_remote(
    url: str, token: str, cli_args: Sequence[str], user: AgentUser | None = None
) -> RemoteAgentProcess:
    """Ask the sandbox at ``url`` to start the CLI; raises AgentStartError with one sentence when it does not."""
    where = _where(url)
    try:
        websocket = await connect(
            url + protocol.RUN_PATH,
            additional_headers=protocol.bearer(token),
            open_timeout=OPEN_TIMEOUT_S,
            max_size=protocol.MAX_FRAME_BYTES,
            compression=None,
            ping_interval=protocol.PING_INTERVAL_S,
            ping_timeout=protocol.PING_TIMEOUT_S,
            proxy=None,
        )
    except InvalidStatus as exc:
        if exc.response.status_code == 401:
            raise AgentStartError(
                f"The sandbox service at {where} refused the worker's SANDBOX_TOKEN: give both the same token."
            ) from None
        raise AgentStartError(f"The sandbox service at {where} answered HTTP {exc.response.status_code}.") from None
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise AgentStartError(f"The sandbox service at {where} is unreachable ({reason}).") from None
    try:
        await websocket.send(protocol.encode(protocol.RunRequest(list(cli_args), user=_run_user(user))))
        answer = protocol.decode_server(await asyncio.wait_for(websocket.recv(), OPEN_TIMEOUT_S))
    except (ConnectionClosed, TimeoutError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        await websocket.close()
        raise AgentStartError(
            f"The sandbox service at {where} did not start the agent ({type(exc).__name__})."
        ) from None
    if isinstance(answer, protocol.Refused):
        await websocket.close()
        raise AgentStartError(answer.message)
    return RemoteAgentProcess(websocket)


def _run_user(user: AgentUser | None) -> protocol.RunUser | None:
    if user is None:
        return None
    return protocol.RunUser(user.user_id, user.login_environment(), shared_login=user.shared_login)


def _where(url: str) -> str:
    """host:port of the URL, without anything else it might carry."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'wss' else 80)}"


def _in_background(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)
