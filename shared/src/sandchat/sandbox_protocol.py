"""The wire protocol between a worker and the sandbox service: one WebSocket per agent run.

    worker                                           sandbox
    ── GET /run, Authorization: Bearer <token> ─────▶  refused with 401 before anything starts
    ── {"type":"run","version":1,"args":[…],"user"?:{…}} ▶ args checked against sandchat.agent_cli;
                                                      a person's run only in their directories
    ◀──────────────────────── {"type":"started"}  or {"type":"refused","reason","message"} + close
    ── binary 0x00 + stdin bytes ───────────────────▶
    ── {"type":"close_stdin"} / {"type":"signal","signal":"SIGTERM"} ─▶   (the signal reaches the
    ◀──────────────────── binary 0x01 + stdout bytes    agent's whole process group)
    ◀──────────────────── binary 0x02 + stderr bytes
    ◀──────── {"type":"exit","returncode":N}, then a normal close (after all output was sent)

Text frames are JSON control messages, binary frames carry a stream: the first byte names it. When
the connection drops before the exit, the sandbox kills the agent's process group. A run request
with a field or version this side does not know is refused, never half-understood: fields such as a
user (whose directories the run may touch) must not be ignored by an older sandbox.

A run for a person names them (``user``): the sandbox maps the id to ``users/<id>/work`` (the working
directory) and ``users/<id>/claude`` (``CLAUDE_CONFIG_DIR``) under its workspace, and refuses a
``cwd`` that resolves outside the person's directory. ``env`` carries only the person's own login
(the variables of sandchat.agent_users.LOGIN_VARIABLES); anything else is refused.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final, Literal

import msgspec

PROTOCOL_VERSION: Final = 1
RUN_PATH: Final = "/run"
HEALTH_PATH: Final = "/health"
# The largest frame either side sends is a 64 KiB chunk of a stream plus its channel byte.
MAX_FRAME_BYTES: Final = 1 << 20
CHUNK_BYTES: Final = 1 << 16
# Both sides ping: a silent network failure is noticed within PING_INTERVAL_S + PING_TIMEOUT_S,
# and then the sandbox kills the agent.
PING_INTERVAL_S: Final = 5.0
PING_TIMEOUT_S: Final = 10.0


class Stream(IntEnum):
    """The first byte of a binary frame: which of the agent's streams the rest of it belongs to."""

    STDIN = 0
    STDOUT = 1
    STDERR = 2


SignalName = Literal["SIGINT", "SIGTERM", "SIGKILL"]
RefusalReason = Literal["bad_request", "not_started"]


class RunUser(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """The person whose agent this is: their id, their login, and a working directory inside theirs."""

    id: str
    env: dict[str, str] = msgspec.field(default_factory=dict)
    # Relative to the person's working directory (or absolute); None: that directory itself.
    cwd: str | None = None
    # The worker allows the operator's login to serve a person without one (the sandbox must too).
    shared_login: bool = False


class RunRequest(
    msgspec.Struct, tag="run", tag_field="type", forbid_unknown_fields=True, frozen=True, omit_defaults=True
):
    """The first frame of a run: which CLI arguments (from sandchat.agent_cli's vocabulary), for whom."""

    args: list[str]
    version: int = PROTOCOL_VERSION
    user: RunUser | None = None


class SignalRequest(msgspec.Struct, tag="signal", tag_field="type", frozen=True):
    signal: SignalName


class CloseStdin(msgspec.Struct, tag="close_stdin", tag_field="type", frozen=True):
    pass


class Started(msgspec.Struct, tag="started", tag_field="type", frozen=True):
    pass


class Refused(msgspec.Struct, tag="refused", tag_field="type", frozen=True):
    reason: RefusalReason
    message: str


class Exited(msgspec.Struct, tag="exit", tag_field="type", frozen=True):
    returncode: int


ClientMessage = RunRequest | SignalRequest | CloseStdin
ServerMessage = Started | Refused | Exited

_client_decoder: Final[msgspec.json.Decoder[ClientMessage]] = msgspec.json.Decoder(ClientMessage)
_server_decoder: Final[msgspec.json.Decoder[ServerMessage]] = msgspec.json.Decoder(ServerMessage)


def encode(message: ClientMessage | ServerMessage) -> str:
    return msgspec.json.encode(message).decode()


def decode_client(text: str | bytes) -> ClientMessage:
    """Raises msgspec.ValidationError / DecodeError on anything else."""
    return _client_decoder.decode(text)


def decode_server(text: str | bytes) -> ServerMessage:
    return _server_decoder.decode(text)


def data_frame(stream: Stream, data: bytes) -> bytes:
    return bytes((stream,)) + data


def bearer(token: str) -> dict[str, str]:
    """The handshake header that carries the token (never the URL: URLs end up in logs)."""
    return {"Authorization": f"Bearer {token}"}
