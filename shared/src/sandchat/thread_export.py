"""A whole thread as a file a person keeps: Markdown to read, JSON to process."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

from sandchat.models import Message, Thread

ExportFormat = Literal["md", "json"]
EXPORT_FORMATS: Final[tuple[ExportFormat, ...]] = ("md", "json")
MEDIA_TYPES: Final[dict[ExportFormat, str]] = {"md": "text/markdown; charset=utf-8", "json": "application/json"}
AUTHORS: Final = {"user": "You", "assistant": "Agent"}
# How a reply that did not finish ends, in the Markdown.
ENDINGS: Final = {
    "error": "ended with an error",
    "cancelled": "stopped",
    "interrupted": "interrupted",
    "streaming": "still being written",
    "queued": "waiting to be sent",
}


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def file_name(thread: Thread, export_format: ExportFormat) -> str:
    """A safe file name: the title's words, then the start of the id."""
    words = re.sub(r"[^A-Za-z0-9]+", "-", thread.title).strip("-").lower()[:50].rstrip("-") or "thread"
    return f"sandchat-{words}-{thread.id[:8]}.{export_format}"


def to_markdown(thread: Thread, messages: Sequence[Message]) -> str:
    lines = [f"# {thread.title}", "", f"_sandchat thread {thread.id} · started {_stamp(thread.created_at)}_", ""]
    for message in messages:
        lines += [f"## {AUTHORS.get(message.role, message.role)} · {_stamp(message.created_at)}", ""]
        if message.content:
            lines += [message.content.rstrip(), ""]
        for tool in (message.meta or {}).get("tools") or []:
            lines += [f"_Tool: {tool.get('name', '?')}_", ""]
        if message.status in ENDINGS:
            ending = ENDINGS[message.status]
            lines += [f"_({ending}{': ' + message.error if message.error else ''})_", ""]
    return "\n".join(lines)


def to_json(thread: Thread, messages: Sequence[Message]) -> str:
    document: dict[str, Any] = {
        "thread": {
            "id": thread.id,
            "title": thread.title,
            "createdAt": thread.created_at.isoformat(),
            "updatedAt": thread.updated_at.isoformat(),
        },
        "messages": [
            {
                "id": message.id,
                "role": message.role,
                "content": message.content,
                "status": message.status,
                "error": message.error,
                "createdAt": message.created_at.isoformat(),
                "meta": message.meta,
            }
            for message in messages
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def render(thread: Thread, messages: Sequence[Message], export_format: ExportFormat) -> str:
    return to_markdown(thread, messages) if export_format == "md" else to_json(thread, messages)
