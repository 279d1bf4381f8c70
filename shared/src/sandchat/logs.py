"""Log set-up shared by every service: one line per record, as text (the default) or JSON.

Text lines are prefixed with the service name. With LOG_FORMAT=json each line is one JSON object
with the time, level, service, logger and message, and — on every line logged while a turn is
handled (:func:`turn_context`) — its ``turn_id``, ``thread_id`` and, when tracing is on, ``trace_id``.
Lines say the same in both formats: what a text line would not show (a secret) a JSON one does not either.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Final, Literal

from sandchat import tracing

LogFormat = Literal["text", "json"]

# The turn being handled by the current task, for log lines (and their JSON fields).
_turn: ContextVar[tuple[str, str] | None] = ContextVar("sandchat_turn", default=None)


@contextlib.contextmanager
def turn_context(turn_id: str, thread_id: str) -> Iterator[None]:
    """Lines logged inside (by this task and the tasks it starts) concern this turn."""
    token = _turn.set((turn_id, thread_id))
    try:
        yield
    finally:
        _turn.reset(token)


_RESERVED: Final = frozenset(("time", "level", "service", "logger", "message", "turn_id", "thread_id", "trace_id"))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the ids of the turn the line concerns."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        turn = _turn.get()
        if turn is not None:
            line["turn_id"], line["thread_id"] = turn
            trace_id = tracing.current_trace_id()
            if trace_id is not None:
                line["trace_id"] = trace_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


JsonFormatter.converter = time.gmtime


def configure_logging(service: str, log_format: LogFormat = "text") -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(service)
        if log_format == "json"
        else logging.Formatter(f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    # Third-party chatter that would drown the service's own lines.
    for noisy in ("websockets.server", "arq.worker", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class OnePerInterval(logging.Filter):
    """At most one record per message template per interval; the next one says how many were left out.

    For what strangers can cause at will (refused handshakes, malformed requests): the log stays
    bounded, and the memory this takes is one entry per template (templates are code, not input).
    Errors always pass.
    """

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # template -> (next line due, left out)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        template, now = str(record.msg), self._clock()
        due, left_out = self._windows.get(template, (0.0, 0))
        if now < due:
            self._windows[template] = (due, left_out + 1)
            return False
        if len(self._windows) > 256:  # only if templates were built from input after all
            self._windows.clear()
        self._windows[template] = (now + self.interval_s, 0)
        if left_out:
            record.msg = f"{template} (and {left_out} more since the last such line)"
        return True


def throttle(logger: logging.Logger, interval_s: float) -> None:
    """Let ``logger`` log each kind of line at most once per ``interval_s`` (see :class:`OnePerInterval`)."""
    if not any(isinstance(existing, OnePerInterval) for existing in logger.filters):
        logger.addFilter(OnePerInterval(interval_s))
