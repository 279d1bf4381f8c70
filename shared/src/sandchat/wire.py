"""The chat wire protocol (docs/protocol.md): client requests and server events, one JSON object per frame.

Worker and gateway use these same types. The worker encodes each turn event once; the bytes it
publishes to Redis are exactly the frame the gateway sends to browsers.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec

MAX_CONTENT_CHARS: Final = 100_000
# The largest `seq` a client may name (turn events are numbered from 1; Redis stream ids are 64-bit).
MAX_SEQ: Final = 2**63 - 1
AGENT_OFFLINE_MESSAGE: Final = "Agent is offline. Check the Docker sandbox."

ErrorCode = Literal[
    "invalid_message",
    "thread_not_found",
    "thread_busy",
    "too_large",
    "unauthorized",
    "agent_offline",
    "agent_error",
    "timeout",
    "cancelled",
    "interrupted",
]


# The thread JSON's `activity` (HTTP): what the thread is doing now; `waiting` = an approval request
# waits for a person ("waiting for you").
ThreadActivity = Literal["idle", "running", "waiting"]


class _Wire(msgspec.Struct, rename="camel", tag_field="type", omit_defaults=True, forbid_unknown_fields=False):
    pass


class _OnThread(_Wire):
    """Every frame but ``error`` names its thread, first: msgspec puts a base's fields before its own."""

    thread_id: str


# --- client -> server -------------------------------------------------------------------------


class SendMessage(_OnThread, tag="message"):
    content: str
    # The sender's own name for the message, echoed in the `started` or `queued` that answers it, so
    # a client tells its answer from another tab's message arriving at the same moment.
    client_message_id: str | None = None


class Cancel(_OnThread, tag="cancel"):
    """Stop the thread's running turn; it ends with an ``error`` frame coded ``cancelled``."""


class Resume(_OnThread, tag="resume"):
    after_seq: Annotated[int, msgspec.Meta(le=MAX_SEQ)] = 0


Decision = Literal["allow", "allow_always", "deny"]


class Approve(_OnThread, tag="approve"):
    """A person's answer to an approval request; the first answer to a request wins."""

    request_id: str
    decision: Decision
    message: str | None = None
    # AskUserQuestion: the chosen label (or free text) for each question, keyed by the question's text.
    answers: dict[str, str] | None = None


class Watch(_OnThread, tag="watch"):
    """Follow a thread: every turn that starts on it, and its queue, from now on."""


class Retry(_OnThread, tag="retry"):
    """Run the thread's last message again: its reply ended in an error, a stop or an interruption.

    Answered like a message (``started``, whose ``userMessageId`` is the message run again), or with
    an error; the failed reply stays in the thread and a new reply follows it.
    """

    client_message_id: str | None = None


ClientRequest = SendMessage | Cancel | Resume | Approve | Watch | Retry

# --- server -> client -------------------------------------------------------------------------


class _TurnFrame(_OnThread):
    """The fields every numbered event of a turn begins with; ``seq`` is its place in the turn's replay log.

    Each such frame encodes ``type``, ``threadId``, ``turnId``, ``seq``, then its own fields.
    """

    turn_id: str
    seq: int


class Started(_OnThread, tag="started"):
    turn_id: str
    user_message_id: str
    message_id: str
    # Only in the answer to the sender of the message (see SendMessage).
    client_message_id: str | None = None


class Token(_TurnFrame, tag="token"):
    text: str


class Tool(_TurnFrame, tag="tool"):
    tool_use_id: str
    name: str
    input: Any


class ToolResult(_TurnFrame, tag="tool_result"):
    tool_use_id: str
    output: str
    is_error: bool


class Status(_TurnFrame, tag="status"):
    message: str


class Title(_OnThread, tag="title"):
    title: str


class Approval(_TurnFrame, tag="approval"):
    """The agent asks before using a tool; it waits until a person answers (or the turn ends)."""

    request_id: str
    tool: str
    input: Any
    suggestions: list[Any]
    tool_use_id: str | None = None


# How an approval request ended: a person's decision, or why nobody's answer reached the agent.
Resolution = Literal["allow", "allow_always", "deny", "interrupted", "cancelled", "expired"]


class ApprovalAnswered(_TurnFrame, tag="approval_answered"):
    request_id: str
    decision: Resolution


class Queued(_OnThread, tag="queued"):
    """A message sent while a turn runs: stored, and it starts when the turns before it have ended."""

    message_id: str
    position: int
    # Only in the answer to the sender of the message (see SendMessage).
    client_message_id: str | None = None


class Unqueued(_OnThread, tag="unqueued"):
    """A queued message was removed before it started."""

    message_id: str


class Watching(_OnThread, tag="watching"):
    """The answer to ``watch``: the turn running on the thread now, if any (resume it to catch up)."""

    turn_id: str | None


class Done(_TurnFrame, tag="done"):
    message_id: str
    session_id: str | None
    cost_usd: float | None
    duration_ms: int | None = None


class Error(_Wire, tag="error"):
    thread_id: str | None
    code: ErrorCode
    message: str
    turn_id: str | None = None
    seq: int | None = None
    message_id: str | None = None


ServerEvent = (
    Started
    | Token
    | Tool
    | ToolResult
    | Status
    | Title
    | Done
    | Error
    | Approval
    | ApprovalAnswered
    | Queued
    | Unqueued
    | Watching
)
# Events of one turn: numbered by `seq` and kept in the turn's replay log.
TurnEvent = Token | Tool | ToolResult | Status | Approval | ApprovalAnswered | Done | Error
# Events of a thread: published to its watchers, never numbered or logged.
ThreadEvent = Started | Queued | Unqueued | Title


class TurnEventHead(msgspec.Struct):
    """The two fields a relay needs from a published frame, decoded without the rest."""

    type: str
    seq: int = 0

    @property
    def is_final(self) -> bool:
        return self.type in ("done", "error")


_encoder = msgspec.json.Encoder()
_client_decoder: msgspec.json.Decoder[ClientRequest] = msgspec.json.Decoder(ClientRequest)
_head_decoder = msgspec.json.Decoder(TurnEventHead)
_server_decoder: msgspec.json.Decoder[ServerEvent] = msgspec.json.Decoder(ServerEvent)


def encode(event: ServerEvent | ClientRequest) -> bytes:
    return _encoder.encode(event)


def decode_request(frame: str | bytes) -> ClientRequest:
    """Decode one client frame; raises :class:`msgspec.ValidationError` or ``DecodeError`` when bad."""
    return _client_decoder.decode(frame)


def decode_head(frame: bytes) -> TurnEventHead:
    return _head_decoder.decode(frame)


def decode_event(frame: str | bytes) -> ServerEvent:
    return _server_decoder.decode(frame)
