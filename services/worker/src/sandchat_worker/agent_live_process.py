"""One long-lived CLI process of a live agent: its stdout read by one task into a queue of turn items.

The reader owns the parser. What a turn needs comes out of :attr:`LiveProcess.items` in order: a
batch of agent events per read (one publish per batch downstream, as in a one-shot turn),
:class:`TurnEnded` at each `result`, :class:`AuthFailed` at the first rejected-credentials retry,
:class:`Exited` at the end of stdout. The queue is bounded: a slow consumer stops the reader, the
pipe fills, and the CLI waits (the back-pressure a slow relay needs). The answers to our own control
requests never go through the queue: they resolve :meth:`LiveProcess.request` directly, so they are
read between turns too; a control request we do not serve is refused at once, never left waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sandchat.agent_process import AgentProcess
from sandchat.agent_users import AgentUser

from sandchat_worker.agent_control import control_error, control_request
from sandchat_worker.agent_events import AgentEvent, StatusNote, merge_text_deltas
from sandchat_worker.agent_runners import AgentRunner
from sandchat_worker.agent_stream import (
    OVERSIZED_LINE_NOTE,
    AgentResult,
    AgentStreamParser,
    ControlAnswer,
    LineSplitter,
)
from sandchat_worker.agent_turn import (
    KILL_GRACE_S,
    READ_CHUNK_BYTES,
    RELAY_STAMPS,
    collect_stderr,
    stamp_first_text,
)

log = logging.getLogger(__name__)

QUEUED_BATCHES: Final = 16  # read ahead of the consumer before the reader waits (and the CLI with it)
CLOSE_GRACE_S: Final = 1.0  # for a closing process to exit on its own (stdin closed) before its group is killed
DRAIN_WAIT_S: Final = 1.0  # for the reader and stderr collector to reach EOF once the process is gone


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The turn's `result` line: the turn is over, the process stays."""

    result: AgentResult
    # The turn's last entry in the session's chain (AgentStreamParser.last_entry).
    last_entry: str | None = None


@dataclass(frozen=True, slots=True)
class AuthFailed:
    """The API refused the credentials; the CLI would retry for minutes, none can succeed."""


@dataclass(frozen=True, slots=True)
class Exited:
    """stdout reached its end: the process is gone or going."""


TurnItem = list[AgentEvent] | TurnEnded | AuthFailed | Exited


class LiveProcess:
    def __init__(self, process: AgentProcess) -> None:
        self.process = process
        self.parser = AgentStreamParser()
        self.items: asyncio.Queue[TurnItem] = asyncio.Queue(maxsize=QUEUED_BATCHES)
        # Set by a consumer waiting for the next item without a task of its own (LiveAgent's turn).
        self.item_arrived: asyncio.Future[None] | None = None
        self.stderr_tail = bytearray()
        self._answers: dict[str, asyncio.Future[ControlAnswer | None]] = {}
        self._request_ids = itertools.count(1)
        self._writing = asyncio.Lock()
        self._reader = asyncio.create_task(self._read())
        self._stderr = asyncio.create_task(collect_stderr(process, self.stderr_tail))

    @classmethod
    async def start(cls, runner: AgentRunner, args: Sequence[str], user: AgentUser | None = None) -> LiveProcess:
        """Start the CLI through the runner, as ``user``'s agent (raises AgentStartError when it cannot be started)."""
        return cls(await runner.start(args, user))

    @property
    def pid(self) -> int | None:
        """The process id when the agent runs on this host (a remote one has none here)."""
        pid = getattr(self.process, "pid", None)
        return pid if isinstance(pid, int) else None

    @property
    def alive(self) -> bool:
        return self.process.returncode is None and not self._reader.done()

    async def write(self, line: bytes) -> bool:
        """Write one line to the CLI; False when it can no longer read."""
        async with self._writing:
            try:
                self.process.stdin.write(line)
                await self.process.stdin.drain()
            except (BrokenPipeError, ConnectionResetError, RuntimeError):
                return False
        return True

    async def request(self, subtype: str, timeout_s: float, **fields: Any) -> ControlAnswer | None:
        """Send a control request and wait for its answer; None when none came in time (or the CLI is gone)."""
        request_id = f"sandchat_{next(self._request_ids)}_{subtype}"
        answer: asyncio.Future[ControlAnswer | None] = asyncio.get_running_loop().create_future()
        self._answers[request_id] = answer
        try:
            if not await self.write(control_request(request_id, subtype, **fields)):
                return None
            async with asyncio.timeout(timeout_s):
                return await answer
        except TimeoutError:
            return None
        finally:
            self._answers.pop(request_id, None)

    async def interrupt(self) -> None:
        """Ask the CLI to stop its turn; the turn's `result` (or its absence) says how that went."""
        await self.write(control_request(f"sandchat_{next(self._request_ids)}_interrupt", "interrupt"))

    async def kill(self) -> None:
        """Kill the CLI's whole process group: SIGTERM, SIGKILL after a short grace."""
        if self.process.returncode is None:
            self.process.signal_group(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(KILL_GRACE_S):
                    await self.process.wait()
        await self._reap()

    async def close(self) -> None:
        """End an idle CLI: stdin closed so it can save its session and exit, then its group killed."""
        if self.process.returncode is None:
            self.process.stdin.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_GRACE_S):
                    await self.process.wait()
        await self.kill()

    async def wait(self) -> int:
        return await self.process.wait()

    async def _reap(self) -> None:
        # Whatever the CLI started (tool commands) dies with it, also after it exited by itself.
        self.process.signal_group(signal.SIGKILL)
        await self.process.wait()
        for task in (self._reader, self._stderr):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_WAIT_S):
                    await asyncio.wait({task})
            task.cancel()
        self.process.close()

    async def _read(self) -> None:
        splitter = LineSplitter()  # linear in the output's size, however long a line
        auth_reported = False
        try:
            while True:
                chunk = await self.process.stdout.read(READ_CHUNK_BYTES)
                oversized = splitter.oversized
                lines = splitter.feed(chunk) if chunk else splitter.finish()
                batch: list[AgentEvent] = []
                if splitter.oversized > oversized:
                    batch.append(StatusNote(OVERSIZED_LINE_NOTE))
                for line in lines:
                    batch += self.parser.feed(line)
                    await self._on_control()
                    if self.parser.result is not None:
                        await self._put_batch(batch, lines)
                        batch = []
                        await self._put(TurnEnded(self.parser.result, self.parser.last_entry))
                        self.parser.begin_turn()
                        auth_reported = False
                await self._put_batch(batch, lines)
                if self.parser.auth_failed and not auth_reported:
                    auth_reported = True
                    await self._put(AuthFailed())
                if not chunk:
                    break
            await self._put(Exited())
        finally:
            for answer in self._answers.values():
                if not answer.done():
                    answer.set_result(None)

    async def _put_batch(self, batch: list[AgentEvent], lines: list[bytes]) -> None:
        if not batch:
            return
        merged = merge_text_deltas(batch)
        if RELAY_STAMPS:
            stamp_first_text(merged, lines)
        await self._put(merged)

    async def _put(self, item: TurnItem) -> None:
        await self.items.put(item)
        arrived = self.item_arrived
        if arrived is not None and not arrived.done():
            arrived.set_result(None)

    async def _on_control(self) -> None:
        for message in self.parser.take_control():
            if isinstance(message, ControlAnswer):
                answer = self._answers.get(message.request_id)
                if answer is not None and not answer.done():
                    answer.set_result(message)
            else:
                log.warning("refused the agent's %s control request: not served here", message.subtype)
                await self.write(control_error(message.request_id, f"{message.subtype} is not supported"))
