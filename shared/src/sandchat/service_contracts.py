"""Contracts between the services that are neither wire events nor Redis names, each written once.

- the bearer check: the API's HTTP guard and the gateway's WebSocket handshake accept the same
  ``Authorization: Bearer <AUTH_TOKEN>``.
"""

from __future__ import annotations

import hmac


def bearer_matches(authorization: str, expected: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <expected>`` (compared in constant time)."""
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode())
