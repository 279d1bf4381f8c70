"""The one parser of the Claude Code CLI's `--output-format stream-json` output (pure, no I/O).

Every runner (docker sandbox, local, simulator) prints the same NDJSON; :class:`AgentStreamParser`
turns each line into typed :mod:`agent events <sandchat_worker.agent_events>` and remembers what
ends the turn (session id, final result, an authentication failure). The CLI adds event types and
fields between versions and does not keep key order, so lines are parsed as JSON and anything
unknown is ignored rather than refused.

A live agent (``--input-format stream-json``) also speaks the CLI's control protocol on the same
stream: the CLI asks before a tool (``control_request`` ``can_use_tool`` → :class:`ApprovalRequest`),
withdraws a request (``control_cancel_request`` → :class:`ApprovalWithdrawn`) and answers our own
requests (``control_response`` → :class:`ControlAnswer`, taken with :meth:`AgentStreamParser.take_control`).
One process runs many turns, each ending with its own ``result``: :meth:`AgentStreamParser.begin_turn`
starts the next one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from sandchat_worker.agent_events import (
    AgentEvent,
    ApprovalRequest,
    ApprovalWithdrawn,
    ModelUsage,
    StatusNote,
    TextDelta,
    ToolOutput,
    ToolUse,
)

log = logging.getLogger(__name__)

MAX_TOOL_OUTPUT_CHARS: Final = 64 * 1024
# The longest line of agent output that is read (one line can carry a whole tool output, of which
# the parser keeps MAX_TOOL_OUTPUT_CHARS). A longer one is skipped as it arrives, and the user told.
MAX_LINE_BYTES: Final = 16 * 1024 * 1024
OVERSIZED_LINE_NOTE: Final = f"The agent printed a line longer than {MAX_LINE_BYTES >> 20} MiB; it was skipped."
TRUNCATED_MARKER: Final = "… (truncated)"
STALE_SESSION_SENTENCE: Final = "No conversation found with session ID"
AUTH_FAILED_ERROR: Final = "authentication_failed"
# Every line of the agent's output is decoded: msgspec does it in a fifth of json.loads' time
# (it raises a ValueError on bad input too).
_decode_line: Final = msgspec.json.Decoder().decode


class LineSplitter:
    """Cuts the agent's output into lines, in time linear in its size: each byte is scanned once.

    A line is assembled across reads in one growing buffer (never by concatenating the whole
    pending line to each new read). A line longer than ``max_line_bytes`` is dropped as it
    arrives, so memory stays bounded; ``oversized`` counts those.
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self.oversized = 0
        self._partial = bytearray()
        self._dropping = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines that ``chunk`` completes (without their newline)."""
        lines: list[bytes] = []
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            if not self._partial and not self._dropping and end - start <= self.max_line_bytes:
                lines.append(chunk[start:end])  # the usual case: a whole line within one read
            else:
                self._take(chunk, start, end)
                if not self._dropping:
                    lines.append(bytes(self._partial))
                self._partial.clear()
                self._dropping = False
            start = end + 1
        self._take(chunk, start, len(chunk))
        return lines

    def finish(self) -> list[bytes]:
        """The last line, when the output did not end with a newline."""
        line = bytes(self._partial) if self._partial and not self._dropping else None
        self._partial.clear()
        self._dropping = False
        return [line] if line is not None else []

    def _take(self, chunk: bytes, start: int, end: int) -> None:
        if self._dropping or start == end:
            return
        if len(self._partial) + end - start > self.max_line_bytes:
            self._dropping = True
            self.oversized += 1
            self._partial.clear()
            log.warning("skipped a line of agent output longer than %d bytes", self.max_line_bytes)
            return
        self._partial += memoryview(chunk)[start:end]


@dataclass(frozen=True, slots=True)
class AgentResult:
    """The CLI's final `result` line."""

    is_error: bool
    subtype: str | None
    text: str | None
    errors: tuple[str, ...]
    session_id: str | None
    cost_usd: float | None
    duration_ms: int | None
    num_turns: int | None
    model_usage: tuple[ModelUsage, ...] = ()

    @property
    def is_stale_session(self) -> bool:
        """The CLI no longer has the session that `--resume` named."""
        return self.is_error and any(STALE_SESSION_SENTENCE in error for error in self.errors)


@dataclass(frozen=True, slots=True)
class ControlAnswer:
    """The CLI's answer to a control request we wrote (interrupt, set_permission_mode)."""

    request_id: str
    error: str | None  # None: it succeeded
    response: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UnservedControlRequest:
    """A control request we do not serve (hook callbacks, SDK MCP servers): refuse it, or the CLI waits forever."""

    request_id: str
    subtype: str


ControlMessage = ControlAnswer | UnservedControlRequest


@dataclass(slots=True)
class _PendingToolUse:
    tool_use_id: str
    name: str
    partial_json: list[str] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class AgentStreamParser:
    """Feed it lines; it returns the events in each and keeps the turn's session id and result."""

    session_id: str | None = None
    result: AgentResult | None = None
    # The uuid of this turn's last entry in the session's chain (an `assistant` or `user` line):
    # where a fork of the session that keeps this turn ends (--resume-session-at).
    last_entry: str | None = None
    # Set on the first `api_retry` caused by rejected credentials: retrying cannot help.
    auth_failed: bool = False
    skipped_lines: int = 0
    _control: list[ControlMessage] = field(default_factory=list, init=False)
    _pending_tools: dict[int, _PendingToolUse] = field(default_factory=dict, init=False)
    _emitted_tool_ids: set[str] = field(default_factory=set, init=False)
    # API messages whose text arrived as deltas; their `assistant` copy must not repeat it.
    _streamed_messages: set[str] = field(default_factory=set, init=False)

    def begin_turn(self) -> None:
        """Forget the last turn's result and stream state (a live process runs many turns); keep the session."""
        self.result = None
        self.auth_failed = False
        self.last_entry = None
        self._pending_tools.clear()
        self._emitted_tool_ids.clear()
        self._streamed_messages.clear()

    def take_control(self) -> list[ControlMessage]:
        """The control messages fed since the last call, in order."""
        taken, self._control = self._control, []
        return taken

    def feed(self, line: bytes | str) -> list[AgentEvent]:
        """The events in one NDJSON line (often none). Never raises on bad input."""
        if not line.strip():
            return []
        try:
            event = _decode_line(line)
        except ValueError:
            self.skipped_lines += 1
            log.warning("skipped a line of agent output that is not JSON: %.120r", line)
            return []
        if not isinstance(event, dict):
            self.skipped_lines += 1
            return []
        # Sub-agents (the Task tool) stream their own messages; the user sees only the main agent.
        if event.get("parent_tool_use_id"):
            return []
        if event.get("type") in ("assistant", "user") and isinstance(event.get("uuid"), str):
            self.last_entry = event["uuid"]
        match event.get("type"):
            case "stream_event":
                return self._on_stream_event(event)
            case "assistant":
                return self._on_assistant(event)
            case "user":
                return self._on_user(event)
            case "system":
                return self._on_system(event)
            case "result":
                self._on_result(event)
            case "control_request":
                return self._on_control_request(event)
            case "control_cancel_request":
                request_id = event.get("request_id")
                return [ApprovalWithdrawn(request_id)] if isinstance(request_id, str) else []
            case "control_response":
                self._on_control_response(event)
        return []

    def _on_control_request(self, event: dict[str, Any]) -> list[AgentEvent]:
        request_id, request = event.get("request_id"), event.get("request")
        if not isinstance(request_id, str) or not isinstance(request, dict):
            return []
        if request.get("subtype") != "can_use_tool":
            self._control.append(UnservedControlRequest(request_id, str(request.get("subtype"))))
            return []
        suggestions = request.get("permission_suggestions")
        return [
            ApprovalRequest(
                request_id=request_id,
                tool=str(request.get("tool_name", "")),
                input=request.get("input"),
                suggestions=suggestions if isinstance(suggestions, list) else [],
                tool_use_id=_str_or_none(request.get("tool_use_id")),
            )
        ]

    def _on_control_response(self, event: dict[str, Any]) -> None:
        response = event.get("response")
        if not isinstance(response, dict) or not isinstance(response.get("request_id"), str):
            return
        body = response.get("response")
        error = None if response.get("subtype") == "success" else str(response.get("error") or "refused")
        self._control.append(ControlAnswer(response["request_id"], error, body if isinstance(body, dict) else {}))

    def _remember_session(self, event: dict[str, Any]) -> None:
        session_id = event.get("session_id")
        if isinstance(session_id, str) and session_id:
            self.session_id = session_id

    def _on_stream_event(self, event: dict[str, Any]) -> list[AgentEvent]:
        inner = event.get("event")
        if not isinstance(inner, dict):
            return []
        index = inner.get("index")
        match inner.get("type"):
            case "content_block_start":
                block = inner.get("content_block")
                if isinstance(block, dict) and block.get("type") == "tool_use" and isinstance(index, int):
                    self._pending_tools[index] = _PendingToolUse(str(block.get("id", "")), str(block.get("name", "")))
            case "content_block_delta":
                return self._on_delta(event, inner.get("delta"), index)
            case "content_block_stop" if isinstance(index, int):
                return self._finish_tool_from_deltas(index)
        return []

    def _on_delta(self, event: dict[str, Any], delta: object, index: object) -> list[AgentEvent]:
        if not isinstance(delta, dict):
            return []
        if delta.get("type") == "text_delta":
            text = delta.get("text")
            if isinstance(text, str) and text:
                message_id = event.get("api_message_id")
                if isinstance(message_id, str):
                    self._streamed_messages.add(message_id)
                return [TextDelta(text)]
        elif delta.get("type") == "input_json_delta" and isinstance(index, int):
            pending = self._pending_tools.get(index)
            partial = delta.get("partial_json")
            if pending is not None and isinstance(partial, str):
                pending.partial_json.append(partial)
        return []

    def _finish_tool_from_deltas(self, index: int) -> list[AgentEvent]:
        pending = self._pending_tools.pop(index, None)
        if pending is None or pending.tool_use_id in self._emitted_tool_ids:
            return []
        raw = "".join(pending.partial_json)
        try:
            tool_input = json.loads(raw) if raw else {}
        except ValueError:
            # Leave it to the `assistant` event, which carries the complete input.
            return []
        return self._emit_tool(pending.tool_use_id, pending.name, tool_input)

    def _emit_tool(self, tool_use_id: str, name: str, tool_input: Any) -> list[AgentEvent]:
        if tool_use_id in self._emitted_tool_ids:
            return []
        self._emitted_tool_ids.add(tool_use_id)
        return [ToolUse(tool_use_id, name, tool_input)]

    def _on_assistant(self, event: dict[str, Any]) -> list[AgentEvent]:
        message = event.get("message")
        if not isinstance(message, dict):
            return []
        events: list[AgentEvent] = []
        streamed = message.get("id") in self._streamed_messages
        for block in _blocks(message.get("content")):
            if block.get("type") == "tool_use":
                events += self._emit_tool(str(block.get("id", "")), str(block.get("name", "")), block.get("input"))
            elif block.get("type") == "text" and not streamed:
                # Without partial messages the text comes only here.
                text = block.get("text")
                if isinstance(text, str) and text:
                    events.append(TextDelta(text))
        return events

    def _on_user(self, event: dict[str, Any]) -> list[AgentEvent]:
        message = event.get("message")
        if not isinstance(message, dict):
            return []
        return [
            ToolOutput(str(block.get("tool_use_id", "")), _tool_output_text(block.get("content")), _is_error(block))
            for block in _blocks(message.get("content"))
            if block.get("type") == "tool_result"
        ]

    def _on_system(self, event: dict[str, Any]) -> list[AgentEvent]:
        match event.get("subtype"):
            case "init":
                self._remember_session(event)
            case "api_retry":
                error = str(event.get("error") or "unknown error")
                if error == AUTH_FAILED_ERROR:
                    self.auth_failed = True
                attempt, max_retries = event.get("attempt", "?"), event.get("max_retries", "?")
                return [StatusNote(f"Claude API retrying (attempt {attempt}/{max_retries}): {error}")]
        return []

    def _on_result(self, event: dict[str, Any]) -> None:
        self._remember_session(event)
        errors = event.get("errors")
        text = event.get("result")
        self.result = AgentResult(
            is_error=bool(event.get("is_error")),
            subtype=_str_or_none(event.get("subtype")),
            text=text if isinstance(text, str) else None,
            errors=tuple(str(error) for error in errors) if isinstance(errors, list) else (),
            session_id=self.session_id,
            cost_usd=_number_or_none(event.get("total_cost_usd")),
            duration_ms=_int_or_none(event.get("duration_ms")),
            num_turns=_int_or_none(event.get("num_turns")),
            model_usage=_model_usage(event.get("modelUsage")),
        )


# A model's name as a metric label: the CLI's own names are short; anything else is cut.
MAX_MODEL_NAME_CHARS: Final = 64


def _model_usage(value: object) -> tuple[ModelUsage, ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(
        ModelUsage(
            str(model)[:MAX_MODEL_NAME_CHARS],
            _int_or_none(usage.get("inputTokens")) or 0,
            _int_or_none(usage.get("outputTokens")) or 0,
            _number_or_none(usage.get("costUSD")) or 0.0,
        )
        for model, usage in value.items()
        if isinstance(usage, dict)
    )


def bound_text(text: str, limit: int = MAX_TOOL_OUTPUT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + TRUNCATED_MARKER


def _blocks(content: object) -> list[dict[str, Any]]:
    return [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []


def _tool_output_text(content: object) -> str:
    """A tool result's content is a string or a list of blocks (text, images); keep the text."""
    if isinstance(content, str):
        return bound_text(content)
    parts = []
    for block in _blocks(content):
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif block.get("type") == "image":
            parts.append("[image]")
    return bound_text("\n".join(parts))


def _is_error(block: dict[str, Any]) -> bool:
    return block.get("is_error") is True


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
