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


class _NamedBySender(_OnThread, kw_only=True):
    """A message, or the answer to one, that may carry the sender's own name for the message.

    A client names its message (``clientMessageId``) so that it tells the ``started`` or ``queued``
    answering it from another tab's message arriving at the same moment; the name is echoed only in
    the answer to the sender. Keyword-only, so it is encoded after the frame's own fields.
    """

    client_message_id: str | None = None


# --- client -> server -------------------------------------------------------------------------


class SendMessage(_NamedBySender, tag="message"):
    """Send a message: it starts a turn (``started``), or waits behind the running one (``queued``)."""

    content: str


class Cancel(_OnThread, tag="cancel"):
    """Stop the thread's running turn; it ends with an ``error`` frame coded ``cancelled``."""


class Resume(_OnThread, tag="resume"):
    """Catch up on the thread's running or last turn: its events after ``after_seq``, then live ones."""

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


class Retry(_NamedBySender, tag="retry"):
    """Run the thread's last message again: its reply ended in an error, a stop or an interruption.

    Answered like a message (``started``, whose ``userMessageId`` is the message run again), or with
    an error; the failed reply stays in the thread and a new reply follows it.
    """


ClientRequest = SendMessage | Cancel | Resume | Approve | Watch | Retry

# --- server -> client -------------------------------------------------------------------------


# Turn events, in the order a turn sends them: numbered by ``seq`` and kept in the turn's replay log
# (TurnEvent below).


class _TurnFrame(_OnThread):
    """The fields every numbered event of a turn begins with; ``seq`` is its place in the turn's replay log.

    Each such frame encodes ``type``, ``threadId``, ``turnId``, ``seq``, then its own fields.
    """

    turn_id: str
    seq: int


class Token(_TurnFrame, tag="token"):
    """A piece of the reply's text; append it."""

    text: str


class Status(_TurnFrame, tag="status"):
    """A line about the agent's state, e.g. its API is retrying."""

    message: str


class _ToolFrame(_TurnFrame):
    """A frame about one tool call, named by the agent's ``tool_use_id``."""

    tool_use_id: str


class Tool(_ToolFrame, tag="tool"):
    """The agent calls a tool, at this point of the text."""

    name: str
    input: Any


class _ApprovalFrame(_TurnFrame):
    """A frame about one approval request, named by its ``request_id``."""

    request_id: str


class Approval(_ApprovalFrame, tag="approval"):
    """The agent asks before using a tool; it waits until a person answers (or the turn ends)."""

    tool: str
    input: Any
    suggestions: list[Any]
    tool_use_id: str | None = None


# How an approval request ended: a person's decision, or why nobody's answer reached the agent.
Resolution = Literal["allow", "allow_always", "deny", "interrupted", "cancelled", "expired"]


class ApprovalAnswered(_ApprovalFrame, tag="approval_answered"):
    """How an approval request ended; the request is closed."""

    decision: Resolution


class ToolResult(_ToolFrame, tag="tool_result"):
    """What a tool call returned."""

    output: str
    is_error: bool


class Done(_TurnFrame, tag="done"):
    """The reply is complete: the last event of its turn."""

    message_id: str
    session_id: str | None
    cost_usd: float | None
    duration_ms: int | None = None


class Error(_Wire, tag="error"):
    """A request refused, or a turn ended badly (then the last event of the turn, with its ``seq``)."""

    thread_id: str | None
    code: ErrorCode
    message: str
    turn_id: str | None = None
    seq: int | None = None
    message_id: str | None = None


# Thread events: published to the thread's watchers, never numbered or logged (ThreadEvent below).


class Started(_NamedBySender, tag="started"):
    """A turn starts: it answers the user message ``user_message_id`` with the reply ``message_id``."""

    turn_id: str
    user_message_id: str
    message_id: str


class Queued(_NamedBySender, tag="queued"):
    """A message sent while a turn runs: stored, and it starts when the turns before it have ended."""

    message_id: str
    # 1: it starts next.
    position: Annotated[int, msgspec.Meta(ge=1)]


class Unqueued(_OnThread, tag="unqueued"):
    """A queued message was removed before it started."""

    message_id: str


class Title(_OnThread, tag="title"):
    """The thread's title changed (after its first message)."""

    title: str


# The answer to ``watch``.


class Watching(_OnThread, tag="watching"):
    """The answer to ``watch``: the turn running on the thread now, if any (resume it to catch up)."""

    turn_id: str | None


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
