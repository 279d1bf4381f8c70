"""One agent run on one connection: relay the streams, obey signals, and never let the agent outlive it.

Stdout and stderr go to the worker as binary frames as they come, each send waiting for the
socket (so a worker that reads slowly makes the agent wait, as a pipe would). Stdin frames are
written to the agent's stdin and drained before the next frame is read. When the agent has exited
and all its output is sent, the worker gets the exit status and a normal close. When the connection
drops first, the agent's whole process group gets SIGTERM and, a moment later, SIGKILL; either way
whatever the agent left running in its group is killed at the end of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Final

import msgspec
from sandchat import sandbox_protocol as protocol
from sandchat.agent_groups import end_run
from sandchat.agent_process import LocalAgentProcess
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)

# On a dropped connection: SIGTERM lets the CLI save its session, SIGKILL follows after this.
KILL_GRACE_S: Final = 1.0
# After the agent exits, how long what it printed last may take to arrive before its leftovers are killed.
OUTPUT_AFTER_EXIT_S: Final = 2.0


class AgentRun:
    def __init__(self, websocket: ServerConnection, process: LocalAgentProcess, run_id: str) -> None:
        self.websocket = websocket
        self.process = process
        self.run_id = run_id

    async def relay(self) -> None:
        """Run to the end of the agent or of the connection, whichever comes first."""
        started = time.monotonic()
        finishing = asyncio.create_task(self._finish())
        inbound = asyncio.create_task(self._inbound())
        try:
            await asyncio.wait({finishing, inbound}, return_when=asyncio.FIRST_COMPLETED)
            code = finishing.result() if finishing.done() and not finishing.exception() else None
            if code is None:
                log.info("run %s: the worker's connection dropped; killing the agent", self.run_id[:8])
                return
            # What the agent left running in its group dies before the worker hears the run ended.
            self.process.signal_group(signal.SIGKILL)
            with contextlib.suppress(ConnectionClosed):
                await self.websocket.send(protocol.encode(protocol.Exited(code)))
                await self.websocket.close()
            log.info("run %s: exit code %d after %.1f s", self.run_id[:8], code, time.monotonic() - started)
        finally:
            await self._end()
            for task in (finishing, inbound):
                task.cancel()
            await asyncio.gather(finishing, inbound, return_exceptions=True)

    async def _finish(self) -> int:
        """All output sent and the agent exited: its exit status."""
        pumps = asyncio.gather(
            self._pump(self.process.stdout, protocol.Stream.STDOUT),
            self._pump(self.process.stderr, protocol.Stream.STDERR),
        )
        try:
            code = await self.process.wait()
            try:
                await asyncio.wait_for(asyncio.shield(pumps), OUTPUT_AFTER_EXIT_S)
            except TimeoutError:
                # Something the agent started still holds its stdout or stderr: it ends with the run.
                self.process.signal_group(signal.SIGKILL)
                await asyncio.to_thread(end_run, self.run_id)
                await pumps
        finally:
            pumps.cancel()
        return code

    async def _pump(self, stream: asyncio.StreamReader, channel: protocol.Stream) -> None:
        while chunk := await stream.read(protocol.CHUNK_BYTES):
            await self.websocket.send(protocol.data_frame(channel, chunk))

    async def _inbound(self) -> None:
        """Stdin and control messages from the worker, until it closes the connection."""
        stdin = self.process.stdin
        with contextlib.suppress(ConnectionClosed):
            async for message in self.websocket:
                if isinstance(message, bytes):
                    if message[:1] == bytes((protocol.Stream.STDIN,)) and not stdin.is_closing():
                        # The agent may have closed its stdin or exited: what it did not read is lost.
                        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                            stdin.write(message[1:])
                            await stdin.drain()
                    continue
                try:
                    control = protocol.decode_client(message)
                except (msgspec.ValidationError, msgspec.DecodeError):
                    log.warning("run %s: ignored a message that is not part of the protocol", self.run_id[:8])
                    continue
                if isinstance(control, protocol.SignalRequest):
                    self.process.signal_group(getattr(signal, control.signal))
                elif isinstance(control, protocol.CloseStdin):
                    stdin.close()

    async def _end(self) -> None:
        """Nothing of the run survives it: SIGTERM if still running, then SIGKILL to the whole group."""
        process = self.process
        if process.returncode is None:
            process.signal_group(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), KILL_GRACE_S)
        process.signal_group(signal.SIGKILL)
        await process.wait()
        process.close()
