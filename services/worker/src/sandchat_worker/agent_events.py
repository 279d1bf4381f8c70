"""What one agent turn yields: the typed events a turn streams and the outcome it ends with.

These are the worker's own values, independent of the CLI's NDJSON and of the wire protocol: the
parser (:mod:`sandchat_worker.agent_stream`) makes them, the turn job turns them into wire events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sandchat import wire


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolUse:
    """The agent asked to run a tool; emitted once, with its complete input."""

    tool_use_id: str
    name: str
    input: Any


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What a tool printed, as text, bounded (see :data:`sandchat_worker.agent_stream.MAX_TOOL_OUTPUT_CHARS`)."""

    tool_use_id: str
    output: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class StatusNote:
    """Something the user should know while waiting, e.g. the agent's API is retrying."""

    message: str


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """The agent asks before using a tool and waits for an answer (a live agent with a mode that asks).

    ``suggestions`` are the CLI's ``permission_suggestions`` as it gave them (``addRules`` entries are
    what "allow always" grants). AskUserQuestion arrives this way too: its ``input`` holds the questions.
    """

    request_id: str
    tool: str
    input: Any
    suggestions: list[Any]
    tool_use_id: str | None


@dataclass(frozen=True, slots=True)
class ApprovalWithdrawn:
    """A request no answer can reach any more: the CLI withdrew it (e.g. on an interrupt), or its turn ended."""

    request_id: str


AgentEvent = TextDelta | ToolUse | ToolOutput | StatusNote | ApprovalRequest | ApprovalWithdrawn


def wire_event(event: AgentEvent, thread_id: str, turn_id: str, seq: int) -> wire.TurnEvent:
    """The wire event a client gets for an agent event (the one mapping; withdrawn requests have none)."""
    match event:
        case TextDelta(text):
            return wire.Token(thread_id, turn_id, seq, text)
        case ToolUse(tool_use_id, name, tool_input):
            return wire.Tool(thread_id, turn_id, seq, tool_use_id, name, tool_input)
        case ToolOutput(tool_use_id, output, is_error):
            return wire.ToolResult(thread_id, turn_id, seq, tool_use_id, output, is_error)
        case StatusNote(message):
            return wire.Status(thread_id, turn_id, seq, message)
        case ApprovalRequest(request_id, tool, tool_input, suggestions, tool_use_id):
            return wire.Approval(thread_id, turn_id, seq, request_id, tool, tool_input, suggestions, tool_use_id)
        case ApprovalWithdrawn():
            raise ValueError("a withdrawn request is said with approval_answered, not as an event of its own")


OutcomeKind = Literal["complete", "error", "unauthenticated", "offline", "timeout", "cancelled"]


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """One model's share of a turn, from the `result` line's ``modelUsage``."""

    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(slots=True)
class TurnOutcome:
    """How a turn ended. Errors are values: a turn never raises for an agent problem."""

    kind: OutcomeKind
    text: str
    session_id: str | None
    cost_usd: float | None = None
    duration_ms: int | None = None
    num_turns: int | None = None
    error: str | None = None
    model_usage: tuple[ModelUsage, ...] = ()
    # The turn's last entry in the session's chain: a fork at this turn keeps it (and what came before).
    last_entry: str | None = None


def merge_text_deltas(events: list[AgentEvent]) -> list[AgentEvent]:
    """Join adjacent text deltas into one, so a burst of tokens becomes one event (order kept)."""
    merged: list[AgentEvent] = []
    pending: list[str] = []
    for event in events:
        if isinstance(event, TextDelta):
            pending.append(event.text)
            continue
        if pending:
            merged.append(TextDelta("".join(pending)))
            pending = []
        merged.append(event)
    if pending:
        merged.append(TextDelta("".join(pending)))
    return merged
