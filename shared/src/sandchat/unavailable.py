"""What a client is told when the database or Redis cannot be reached.

The same sentence from the API (a 503's ``detail``) and from the gateway (an ``agent_error`` event).
"""

from __future__ import annotations

from typing import Final

DATABASE_UNAVAILABLE: Final = "The database is unavailable; try again in a moment."
REDIS_UNAVAILABLE: Final = "Redis is unavailable; try again in a moment."
