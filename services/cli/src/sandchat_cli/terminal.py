"""The person at the terminal: lines typed on an input stream, read without blocking the event loop.

A daemon thread reads the stream only once a question is asked (a plain `sandchat chat` never touches
stdin), so a prompt can be abandoned when someone else answers first, and the program exits without
waiting for a line nobody will type.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TextIO


class Terminal:
    def __init__(self, lines: TextIO | None = None, out: TextIO | None = None) -> None:
        self._input = lines if lines is not None else sys.stdin
        self._given_out = out
        self._lines: asyncio.Queue[str | None] | None = None
        self._ended = False

    @property
    def _out(self) -> TextIO:
        return self._given_out if self._given_out is not None else sys.stderr

    def say(self, text: str) -> None:
        """A line for the person (on stderr: stdout carries the reply itself)."""
        print(text, file=self._out, flush=True)

    async def ask(self, prompt: str) -> str | None:
        """One line typed after ``prompt``; None once the input has ended (nobody can answer here)."""
        if self._ended:
            return None
        print(prompt, end="", file=self._out, flush=True)
        line = await self._queue().get()
        if line is None:
            self._ended = True
            print(file=self._out, flush=True)
        return line

    def _queue(self) -> asyncio.Queue[str | None]:
        if self._lines is None:
            self._lines = asyncio.Queue()
            loop = asyncio.get_running_loop()
            lines = self._lines
            stream = self._input

            def read() -> None:
                while True:
                    line = stream.readline()
                    try:
                        loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\n") if line else None)
                    except RuntimeError:  # the conversation is over and its loop closed
                        return
                    if not line:
                        return

            threading.Thread(target=read, name="terminal-input", daemon=True).start()
        return self._lines
