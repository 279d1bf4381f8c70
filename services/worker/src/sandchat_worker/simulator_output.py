"""What sandchat-fake-claude prints: the CLI's stream-json events, in the real CLI's shapes.

Standard library only (the simulator is started once per one-shot turn and benchmarked).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any, BinaryIO

VERSION = "2.1.328 (sandchat simulator)"
MODEL = "claude-simulator"
GARBAGE_LINES = (
    b"this is not json",
    b"[1, 2, 3]",
    b"42",
    b'"a string"',
    b"\xff\xfe\x00 invalid utf-8",
    b'{"type": "stream_event", "event": "not an object"}',
    b'{"type": "stream_event", "event": {"type": "content_block_delta", "delta": 5}}',
    b'{"type": "assistant", "message": {"content": "not a list"}}',
    b'{"type": "user", "message": {"content": [{"type": "tool_result", "content": {"x": 1}}]}}',
    b'{"type": "something_new", "payload": {}}',
    b"{" + b"x" * 100_000,
)


class Interrupted(Exception):  # noqa: N818 - what happened, not an error
    """The user interrupted the turn (live mode): it ends with what was said so far."""


def sleep(seconds: float) -> None:
    """A pause with nobody to interrupt it (one-shot mode); forever when ``seconds`` is infinite."""
    while seconds > 3600:
        time.sleep(3600)
        seconds -= 3600
    time.sleep(seconds)


def write_line(out: BinaryIO, event: dict[str, Any]) -> None:
    out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    out.flush()


class Simulator:
    """Prints one turn. ``pause`` waits between deltas (live mode: an interrupt ends the wait)."""

    def __init__(self, out: BinaryIO, session_id: str, modes: set[str], pause: Callable[[float], None] = sleep) -> None:
        self.out = out
        self.session_id = session_id
        self.modes = modes
        self.pause = pause
        self.permission_mode = "bypassPermissions"
        self.stamp = os.environ.get("SIMULATOR_STAMP") == "1"
        self.delay_s = _env_int("SIMULATOR_DELAY_MS", 20) / 1000
        self.started = time.monotonic()
        self.garbage = False
        self._lines = 0
        # The uuid of the last `assistant` or `user` line: the turn's last entry in the session's chain.
        self.last_entry: str | None = None
        # The prompts of the session's earlier turns ([[history]] tells them).
        self.history: list[str] = []

    def emit(self, event: dict[str, Any]) -> None:
        if self.garbage:  # one line of garbage before each real line, in turn
            self.out.write(GARBAGE_LINES[self._lines % len(GARBAGE_LINES)] + b"\n")
            self._lines += 1
        if event.get("type") in ("assistant", "user"):
            self.last_entry = event["uuid"]
        write_line(self.out, event)

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, **fields, "session_id": self.session_id, "uuid": str(uuid.uuid4())}

    def stream(self, message_id: str, inner: dict[str, Any]) -> None:
        line = self.event("stream_event", event=inner, parent_tool_use_id=None)
        line["api_message_id"] = message_id
        if self.stamp and inner.get("type") == "content_block_delta":
            line["sandchat_stamp"] = time.time()
        self.emit(line)

    def assistant(self, message_id: str, block: dict[str, Any], **extra: Any) -> None:
        message = {"id": message_id, "type": "message", "role": "assistant", "model": MODEL, "content": [block]}
        self.emit(self.event("assistant", message=message, parent_tool_use_id=None, **extra))

    def user(self, content: list[dict[str, Any]]) -> None:
        self.emit(self.event("user", message={"role": "user", "content": content}, parent_tool_use_id=None))

    def init(self) -> None:
        self.emit(
            self.event(
                "system",
                subtype="init",
                cwd=os.getcwd(),
                tools=["AskUserQuestion", "Bash", "Edit", "Read", "Write"],
                mcp_servers=[],
                model=MODEL,
                permissionMode=self.permission_mode,
                apiKeySource="none",
                claude_code_version=VERSION.split(maxsplit=1)[0],
            )
        )
        self.emit(self.event("system", subtype="status", status="requesting"))

    def api_retries(self, error: str, status: int, attempts: int, first_delay_ms: int) -> None:
        for attempt in range(1, attempts + 1):
            delay_ms = first_delay_ms * 2 ** (attempt - 1)
            self.emit(
                self.event(
                    "system",
                    subtype="api_retry",
                    attempt=attempt,
                    max_retries=10,
                    retry_delay_ms=delay_ms,
                    error_status=status,
                    error=error,
                )
            )
            self.pause(delay_ms / 1000)

    def text_message(self, deltas: list[str], *, stop_after: int | None = None) -> None:
        """Stream one assistant message of text; `stop_after` ends the stream early (hang/die/fail).

        Interrupted, it ends like the real CLI's: the partial message, marked aborted."""
        message_id = "msg_" + uuid.uuid4().hex[:20]
        self.stream(message_id, {"type": "message_start", "message": _message_start(message_id)})
        self.stream(
            message_id, {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        )
        sent: list[str] = []
        try:
            for number, delta in enumerate(deltas):
                if number:
                    self.pause(self.delay_s)
                delta_event = {"type": "text_delta", "text": delta}
                self.stream(message_id, {"type": "content_block_delta", "index": 0, "delta": delta_event})
                sent.append(delta)
                if stop_after is not None and number + 1 >= stop_after:
                    return
        except Interrupted:
            self.assistant(message_id, {"type": "text", "text": "".join(sent)}, aborted=True)
            raise
        self.assistant(message_id, {"type": "text", "text": "".join(deltas)})
        self.stream(message_id, {"type": "content_block_stop", "index": 0})
        self.stream(message_id, {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}})
        self.stream(message_id, {"type": "message_stop"})

    def tool_use(self, name: str, tool_input: dict[str, Any]) -> str:
        """Stream the model's request to run a tool; returns its tool_use id."""
        message_id = "msg_" + uuid.uuid4().hex[:20]
        tool_id = "toolu_" + uuid.uuid4().hex[:20]
        start = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
        self.stream(message_id, {"type": "message_start", "message": _message_start(message_id)})
        self.stream(message_id, {"type": "content_block_start", "index": 1, "content_block": start})
        raw = json.dumps(tool_input)
        for part in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
            delta = {"type": "input_json_delta", "partial_json": part}
            self.stream(message_id, {"type": "content_block_delta", "index": 1, "delta": delta})
        self.assistant(message_id, {**start, "input": tool_input})
        self.stream(message_id, {"type": "content_block_stop", "index": 1})
        self.stream(message_id, {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {}})
        self.stream(message_id, {"type": "message_stop"})
        return tool_id

    def tool_result(self, tool_id: str, output: str, *, is_error: bool) -> None:
        self.user([{"tool_use_id": tool_id, "type": "tool_result", "content": output, "is_error": is_error}])
        self.emit(self.event("system", subtype="status", status="requesting"))

    def result(self, *, text: str, is_error: bool, num_turns: int, subtype: str = "success", **extra: Any) -> None:
        duration_ms = int((time.monotonic() - self.started) * 1000)
        self.emit(
            self.event(
                "result",
                subtype=subtype,
                is_error=is_error,
                duration_ms=duration_ms,
                duration_api_ms=duration_ms,
                num_turns=num_turns,
                result=text,
                stop_reason=None if is_error else "end_turn",
                total_cost_usd=round(len(text) * 0.00001, 6),
                usage={"input_tokens": 12, "output_tokens": len(text) // 4},
                modelUsage={
                    MODEL: {"inputTokens": 12, "outputTokens": len(text) // 4, "costUSD": round(len(text) * 0.00001, 6)}
                },
                **extra,
            )
        )

    def interrupted(self, num_turns: int) -> None:
        """The end of an interrupted turn, as the real CLI writes it."""
        self.user([{"type": "text", "text": "[Request interrupted by user]"}])
        self.result(text="", is_error=True, num_turns=num_turns, subtype="error_during_execution", errors=[])


def _message_start(message_id: str) -> dict[str, Any]:
    return {"id": message_id, "type": "message", "role": "assistant", "model": MODEL, "content": [], "usage": {}}


def _env_int(name: str, default: int) -> int:
    try:
        return max(0, int(os.environ.get(name, default)))
    except ValueError:
        return default
