"""Log set-up shared by every service: one line per record, prefixed with the service name."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable


def configure_logging(service: str) -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    # Third-party chatter that would drown the service's own lines.
    for noisy in ("websockets.server", "arq.worker", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def warn_if_exposed(host: str, settings_has_token: bool, what: str) -> None:
    """Bound beyond loopback without AUTH_TOKEN, anyone who reaches the port can drive the agent."""
    if host not in ("127.0.0.1", "localhost", "::1") and not settings_has_token:
        logging.getLogger("sandchat.security").warning(
            "%s listens on %s without AUTH_TOKEN: anyone who can reach it can make the agent act. "
            "Set AUTH_TOKEN or bind to 127.0.0.1.",
            what,
            host,
        )


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
