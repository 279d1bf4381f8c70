"""Log set-up shared by every service: one line per record, prefixed with the service name."""

from __future__ import annotations

import logging
import os
import sys


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
