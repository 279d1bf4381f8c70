"""Start the agent's process without stalling the worker's event loop.

``asyncio.create_subprocess_exec`` runs ``fork``/``exec`` in the event loop and waits there until
the child has exec'd: 8-20 ms per turn on a busy 2-core machine, during which no other turn's
deltas move (a burst of 100 turn starts stalled a worker for over a second; docs/performance.md).
Here ``subprocess.Popen`` runs in a thread, and the pipes and the exit are then watched by the
event loop (a pidfd on Linux, else a waiting thread). :class:`AgentProcess` offers the part of
``asyncio.subprocess.Process`` that a turn uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import threading
from collections.abc import Sequence

# asyncio's own default (as create_subprocess_exec used): past twice this unread, the pipe is paused
# and the agent waits, which is the back-pressure a slow relay needs.
STREAM_LIMIT = 1 << 16


class AgentProcess:
    def __init__(self, popen: subprocess.Popen[bytes], stdin: asyncio.StreamWriter) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.stdin = stdin
        self.stdout = asyncio.StreamReader(limit=STREAM_LIMIT)
        self.stderr = asyncio.StreamReader(limit=STREAM_LIMIT)
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._transports: list[asyncio.BaseTransport] = [stdin.transport]

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode if self._exited.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def close_pipes(self) -> None:
        for transport in self._transports:
            transport.close()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._popen.stdout is not None
        assert self._popen.stderr is not None
        for reader, pipe in ((self.stdout, self._popen.stdout), (self.stderr, self._popen.stderr)):
            transport, _ = await loop.connect_read_pipe(functools.partial(asyncio.StreamReaderProtocol, reader), pipe)
            self._transports.append(transport)
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # not Linux, or a kernel before 5.3
            threading.Thread(target=self._wait_in_thread, args=(loop,), daemon=True).start()
            return
        loop.add_reader(pidfd, self._on_exit, loop, pidfd)

    def _on_exit(self, loop: asyncio.AbstractEventLoop, pidfd: int) -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        self._set_exit(self._popen.wait())

    def _wait_in_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        code = self._popen.wait()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(self._set_exit, code)

    def _set_exit(self, code: int) -> None:
        if not self._exited.done():
            self._exited.set_result(code)


async def spawn(argv: Sequence[str]) -> AgentProcess:
    """Start ``argv`` in its own session with piped stdin, stdout and stderr (raises OSError like Popen)."""
    loop = asyncio.get_running_loop()
    starting = loop.run_in_executor(
        None,
        lambda: subprocess.Popen(  # noqa: S603 - argv from the runner, never a shell
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ),
    )
    try:
        popen = await asyncio.shield(starting)
    except asyncio.CancelledError:
        # Cancelled while the thread was starting it: never leave it running.
        with contextlib.suppress(Exception):
            started = await starting
            _kill_group(started)
            started.wait()
        raise
    try:
        assert popen.stdin is not None
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), popen.stdin
        )
        process = AgentProcess(popen, asyncio.StreamWriter(transport, protocol, None, loop))
        await process._watch()
    except BaseException:
        _kill_group(popen)  # started but not watched: it must not outlive the turn
        await loop.run_in_executor(None, popen.wait)
        raise
    return process


def _kill_group(popen: subprocess.Popen[bytes]) -> None:
    """The agent leads its own session: kill it and whatever it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
