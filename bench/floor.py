"""The floor: spawn the simulator directly and read its stdout. No queue, no broker, no gateway.

It is started the way the worker starts it (same argv, own session, prompt on stdin, 1 MB reads),
so the difference between a relay figure and its floor is what the relay adds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from sandchat.agent_cli import turn_args
from sandchat.agent_process import AgentOutput
from sandchat_worker.agent_runners import simulator_command

READ_CHUNK_BYTES = 1 << 20
TEXT_DELTA = b'"text_delta"'


@dataclass(slots=True)
class FloorRun:
    first_delta_s: float  # spawn -> first text delta line read
    first_line_s: float  # spawn -> first line of any kind read
    chars: int  # text characters in the deltas
    deltas: int
    stream_s: float  # first delta read -> last delta read
    total_s: float  # spawn -> EOF


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """This process's environment with ``env`` set (what a runner passes on to its agent), then as it was."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def agent_lines(stdout: AgentOutput) -> AsyncIterator[bytes]:
    """An agent's stdout line by line, read as the worker reads it (an agent process offers reads of any size)."""
    pending = bytearray()
    while chunk := await stdout.read(READ_CHUNK_BYTES):
        pending += chunk
        while (end := pending.find(b"\n")) >= 0:
            yield bytes(pending[: end + 1])
            del pending[: end + 1]
    if pending:
        yield bytes(pending)


async def run_simulator(env: dict[str, str], prompt: str = "hello", command: list[str] | None = None) -> FloorRun:
    """One simulator turn (or ``command``'s), read like the worker reads it; times are wall-clock seconds."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *(command or simulator_command()),
        *turn_args(None),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, **env},
        start_new_session=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a recorded agent never reads it
        process.stdin.write(prompt.encode())
        await process.stdin.drain()
    process.stdin.close()
    first_line = first_delta = last_delta = None
    chars = deltas = 0
    pending = b""
    while chunk := await process.stdout.read(READ_CHUNK_BYTES):
        now = time.perf_counter()
        first_line = first_line or now
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if TEXT_DELTA not in line:
                continue
            event = json.loads(line)
            chars += len(event["event"]["delta"]["text"])
            deltas += 1
            first_delta = first_delta or now
            last_delta = now
    await process.wait()
    ended = time.perf_counter()
    if first_line is None or first_delta is None or last_delta is None:
        raise RuntimeError(f"the simulator printed no text (exit code {process.returncode})")
    return FloorRun(
        first_delta_s=first_delta - started,
        first_line_s=first_line - started,
        chars=chars,
        deltas=deltas,
        stream_s=last_delta - first_delta,
        total_s=ended - started,
    )
