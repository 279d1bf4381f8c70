"""The agent's state as the workers report it (their probe) and as ``/health`` tells it.

Each worker probes the agent every ``PROBE_INTERVAL_S`` and writes the result, with the time it was
taken, to one Redis key that outlives the worker (``REPORT_TTL_S``): ``/health`` can then say when
it last heard from any worker. A report older than ``STALE_AFTER_S`` (a few probe periods) means
no worker is running: the agent is ``unavailable``, whatever the last report said.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Final

import msgspec

PROBE_INTERVAL_S: Final = 30.0
STALE_AFTER_S: Final = 3 * PROBE_INTERVAL_S
# Long enough to say "last heard from a worker yesterday", short enough to vanish with a dead namespace.
REPORT_TTL_S: Final = 7 * 24 * 3600
NEVER_REPORTED: Final = "No worker has reported the agent's state yet: start a worker (docker compose up -d worker)."


class AgentReport(msgspec.Struct):
    """One probe's result; ``checked_at`` is a Unix time (reports of older workers have none)."""

    status: str
    message: str
    checked_at: float | None = None


def encode_report(status: str, message: str, now: float | None = None) -> bytes:
    return msgspec.json.encode(AgentReport(status, message, time.time() if now is None else now))


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def read_report(raw: bytes | None, now: float | None = None) -> AgentReport:
    """What ``/health`` says of the agent, given the stored report (``None``: nothing stored)."""
    if raw is None:
        return AgentReport("unknown", NEVER_REPORTED)
    try:
        report = msgspec.json.decode(raw, type=AgentReport)
    except msgspec.DecodeError:
        return AgentReport("unknown", NEVER_REPORTED)
    age = (time.time() if now is None else now) - report.checked_at if report.checked_at is not None else 0.0
    if age > STALE_AFTER_S and report.checked_at is not None:
        at = datetime.fromtimestamp(report.checked_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        message = (
            f"No worker has reported for {_ago(age)} (last at {at}): start a worker "
            "(docker compose up -d worker) or read its log (docker compose logs worker)."
        )
        return AgentReport("unavailable", message, report.checked_at)
    return report
