"""What a client is told when the database or Redis cannot be reached.

The same sentence from the API (a 503's ``detail``) and from the gateway (an ``agent_error`` event),
and what the operator's log says of the cause.
"""

from __future__ import annotations

from typing import Final

DATABASE_UNAVAILABLE: Final = "The database is unavailable; try again in a moment."
REDIS_UNAVAILABLE: Final = "Redis is unavailable; try again in a moment."


def why(exc: BaseException) -> str:
    """For a log line: the error's class and, for a database error, the driver's first line ("database is
    locked", "connection refused"); never the statement or its parameters, which may hold what a user wrote."""
    driver = getattr(exc, "orig", None)
    if driver is None:
        return type(exc).__name__
    first_line = str(driver).strip().split("\n", 1)[0][:200]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
