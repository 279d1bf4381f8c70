"""What a turn said so far: its text and tool calls, built from its events.

The worker builds it live; a reaper rebuilds it from the replay log after a worker died. Both
store the same thing, so every token that reached a client ends up in the stored message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandchat import wire


@dataclass(slots=True)
class Transcript:
    parts: list[str] = field(default_factory=list)
    length: int = 0
    tools: list[dict[str, Any]] = field(default_factory=list)
    last_seq: int = 0

    @property
    def text(self) -> str:
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def add_text(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def add_tool(self, tool_use_id: str, name: str, tool_input: Any) -> None:
        self.tools.append({"toolUseId": tool_use_id, "name": name, "input": tool_input, "offset": self.length})

    def add_tool_result(self, tool_use_id: str, output: str, is_error: bool) -> None:
        for tool in reversed(self.tools):
            if tool["toolUseId"] == tool_use_id:
                tool["output"] = output
                tool["isError"] = is_error
                return

    def apply(self, event: wire.ServerEvent) -> None:
        """Fold one published event into the transcript (used when rebuilding from the log)."""
        if isinstance(event, wire.Token):
            self.add_text(event.text)
        elif isinstance(event, wire.Tool):
            self.add_tool(event.tool_use_id, event.name, event.input)
        elif isinstance(event, wire.ToolResult):
            self.add_tool_result(event.tool_use_id, event.output, event.is_error)
        seq = getattr(event, "seq", None)
        if isinstance(seq, int):
            self.last_seq = max(self.last_seq, seq)

    def meta(self, **extra: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {key: value for key, value in extra.items() if value is not None}
        if self.tools:
            meta["tools"] = self.tools
        return meta

    @classmethod
    def from_frames(cls, frames: list[bytes]) -> Transcript:
        transcript = cls()
        for frame in frames:
            transcript.apply(wire.decode_event(frame))
        return transcript
