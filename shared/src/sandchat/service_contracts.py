"""Contracts between the services that are neither wire events nor Redis names, each written once.

- the sandbox-status record: the workers' probe writes it to Redis, the API's ``/health`` reads it;
- the bearer check: the API's HTTP guard and the gateway's WebSocket handshake accept the same
  ``Authorization: Bearer <AUTH_TOKEN>``.
"""

from __future__ import annotations

import hmac
from typing import Final

import msgspec


class SandboxHealth(msgspec.Struct):
    """The agent probe's latest verdict: ``healthy``, ``unauthenticated``, ``unavailable`` or ``unknown``."""

    status: str
    message: str


UNKNOWN_SANDBOX: Final = SandboxHealth("unknown", "No worker has reported the sandbox's state yet.")


def encode_sandbox_health(health: SandboxHealth) -> bytes:
    return msgspec.json.encode(health)


def decode_sandbox_health(raw: bytes | str | None) -> SandboxHealth:
    """What a worker last wrote; :data:`UNKNOWN_SANDBOX` when nothing (or nothing readable) is there."""
    if raw is None:
        return UNKNOWN_SANDBOX
    try:
        return msgspec.json.decode(raw, type=SandboxHealth)
    except msgspec.DecodeError:
        return UNKNOWN_SANDBOX


def bearer_matches(authorization: str, expected: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <expected>`` (compared in constant time)."""
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode())
