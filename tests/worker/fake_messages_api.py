"""A fake Anthropic Messages API on loopback, for running the real Claude Code CLI in tests.

It answers `POST /v1/messages` with a streamed (SSE) or plain reply and records every request, so
tests can assert what the CLI sent. The reply depends on the request, not on shared state:
- the API key `reject` gets a 401 (authentication_error), like a revoked key;
- a user message containing `[[tool]]` gets a `Bash` tool_use running `echo hi`;
- a request carrying a tool_result gets "Done." (the CLI ran the tool and reports back);
- anything else gets a short markdown text reply.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TEXT_REPLY = "Hello from the fake API. Here is **bold**."
TOOL_COMMAND = "echo hi"


@dataclass
class FakeMessagesApi:
    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)

    def user_texts(self) -> list[str]:
        """Every text block the CLI sent as the user, in order."""
        texts = []
        for request in self.requests:
            for message in request.get("messages", []):
                if message.get("role") != "user":
                    continue
                content = message.get("content")
                if isinstance(content, str):
                    texts.append(content)
                    continue
                texts += [b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text"]
        return texts


@contextmanager
def serve_fake_messages_api() -> Iterator[FakeMessagesApi]:
    api = FakeMessagesApi(base_url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.startswith("/v1/messages"):
                self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "not found"}})
                return
            if self.path.startswith("/v1/messages/count_tokens"):
                self._json(200, {"input_tokens": 12})
                return
            with lock:
                api.requests.append(body)
            if self.headers.get("x-api-key") == "reject":
                error = {"type": "authentication_error", "message": "invalid x-api-key"}
                self._json(401, {"type": "error", "error": error})
                return
            blocks = _reply_blocks(body)
            if body.get("stream"):
                self._stream(body, blocks)
            else:
                self._json(200, _message(body, blocks, "tool_use" if blocks[-1]["type"] == "tool_use" else "end_turn"))

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("request-id", "req_fake")
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, body: dict[str, Any], blocks: list[dict[str, Any]]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            stop = "tool_use" if blocks[-1]["type"] == "tool_use" else "end_turn"
            message = _message(body, [], None)
            self._event("message_start", {"type": "message_start", "message": message})
            for index, block in enumerate(blocks):
                start: dict[str, Any]
                if block["type"] == "text":
                    start = {"type": "text", "text": ""}
                    self._event(
                        "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
                    )
                    text = block["text"]
                    for offset in range(0, len(text), 6):
                        delta = {"type": "text_delta", "text": text[offset : offset + 6]}
                        self._event(
                            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                        )
                else:
                    start = {**block, "input": {}}
                    self._event(
                        "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
                    )
                    delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                    self._event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                self._event("content_block_stop", {"type": "content_block_stop", "index": index})
            usage = {"output_tokens": 30}
            delta_stop = {"stop_reason": stop, "stop_sequence": None}
            self._event("message_delta", {"type": "message_delta", "delta": delta_stop, "usage": usage})
            self._event("message_stop", {"type": "message_stop"})
            self.close_connection = True

        def _event(self, name: str, data: dict[str, Any]) -> None:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _reply_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    # The CLI adds its own reminder messages after the prompt: look at every block, not the last one.
    blocks = [
        block
        for message in body.get("messages") or []
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if isinstance(block, dict)
    ]
    if any(block.get("type") == "tool_result" for block in blocks):
        return [{"type": "text", "text": "Done."}]
    if any("[[tool]]" in str(block.get("text", "")) for block in blocks):
        tool_use = {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": "Bash"}
        tool_input = {"command": TOOL_COMMAND, "description": "Say hi"}
        return [{"type": "text", "text": "Let me check."}, {**tool_use, "input": tool_input}]
    return [{"type": "text", "text": TEXT_REPLY}]


def _message(body: dict[str, Any], content: list[dict[str, Any]], stop_reason: str | None) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-fake"),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
