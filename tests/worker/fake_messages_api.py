"""A fake Anthropic Messages API on loopback, for running the real Claude Code CLI in tests.

It answers `POST /v1/messages` with a streamed (SSE) or plain reply and records every request, so
tests can assert what the CLI sent. The reply depends on the request's LATEST user message only (a
long-lived CLI sends the whole conversation each time, and a tool may be asked for again later):
- the API key `reject` gets a 401 (authentication_error), like a revoked key;
- a tool_result with no prompt after it (the CLI ran a tool, or was told not to) gets "Done.";
- `[[tool]]` gets a `Bash` tool_use running `echo hi` (read-only: no mode asks for it);
- `[[touch]]` gets a `Bash` tool_use running `touch touched.txt` (asked for in `default` mode);
- `[[write]]` gets a `Write` tool_use creating `written.txt` in the working directory;
- `[[ask]]` gets an `AskUserQuestion` tool_use with one question;
- `[[slow]]` gets a long reply streamed slowly (for stopping it mid-reply);
- anything else gets a short markdown text reply.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TEXT_REPLY = "Hello from the fake API. Here is **bold**."
TOOL_COMMAND = "echo hi"
TOUCH_FILE = "touched.txt"
TOUCH_COMMAND = f"touch {TOUCH_FILE}"
WRITE_FILE = "written.txt"
WRITE_CONTENT = "written by the agent\n"
QUESTION = "Which colour should the button be?"
QUESTION_OPTIONS = ("Blue", "Green")
# [[slow]]: this many deltas of SLOW_DELTA, SLOW_DELAY_S apart (about 10 s in all).
SLOW_DELTA = "slow… "
SLOW_DELTAS = 500
SLOW_DELAY_S = 0.02
_CWD = re.compile(r"[Ww]orking directory: (/[^\s\\]*)")


@dataclass
class FakeMessagesApi:
    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    # The credential each request came with (its x-api-key, or its bearer token), in the same order.
    credentials: list[str] = field(default_factory=list)

    def credentials_of(self, marker: str) -> set[str]:
        """Every credential sent with a request whose conversation has ``marker`` in a user text."""
        return {
            credential
            for request, credential in zip(self.requests, self.credentials, strict=True)
            if any(
                marker in block.get("text", "")
                for block in _user_blocks(request.get("messages") or [])
                if block.get("type") == "text"
            )
        }

    def user_texts(self) -> list[str]:
        """Every text block the CLI sent as the user, in order."""
        return [block["text"] for block in self._user_blocks() if block.get("type") == "text"]

    def tool_results(self) -> list[str]:
        """The text of every tool_result the CLI sent back (tool output, or why it did not run)."""
        # Every request repeats the conversation so far: each result once, by its tool_use_id.
        results = {
            block.get("tool_use_id"): block for block in self._user_blocks() if block.get("type") == "tool_result"
        }
        return [_text_of(block.get("content")) for block in results.values()]

    def _user_blocks(self) -> list[dict[str, Any]]:
        return [block for request in self.requests for block in _user_blocks(request.get("messages") or [])]


def cli_environment(api: FakeMessagesApi, home: Path) -> dict[str, str]:
    """What the real CLI needs to talk to ``api`` only, with ``home`` as its throwaway home."""
    return {
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": api.base_url,
        "ANTHROPIC_API_KEY": "test",
        "IS_SANDBOX": "1",  # bypassPermissions is refused to root otherwise
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


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
                bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
                api.credentials.append(self.headers.get("x-api-key") or bearer)
            if self.headers.get("x-api-key") == "reject":
                error = {"type": "authentication_error", "message": "invalid x-api-key"}
                self._json(401, {"type": "error", "error": error})
                return
            blocks, delay_s = _reply(body)
            if body.get("stream"):
                # The CLI hangs up when it is interrupted mid-reply: that ends this reply, nothing else.
                with suppress(BrokenPipeError, ConnectionResetError):
                    self._stream(body, blocks, delay_s)
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

        def _stream(self, body: dict[str, Any], blocks: list[dict[str, Any]], delay_s: float) -> None:
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
                    for part in block["parts"]:
                        delta = {"type": "text_delta", "text": part}
                        self._event(
                            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                        )
                        time.sleep(delay_s)
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


def _reply(body: dict[str, Any]) -> tuple[list[dict[str, Any]], float]:
    """The reply's content blocks (text blocks carry the `parts` they stream in) and the pause between parts."""
    latest = _latest_user_blocks(body.get("messages") or [])
    # After an interrupt the CLI merges the stopped prompt, its tool result and the next prompt into one
    # message: the last prompt decides (not the CLI's own reminders and notes), and a tool result
    # with no prompt after it is answered "Done.".
    results = [index for index, block in enumerate(latest) if block.get("type") == "tool_result"]
    after = latest[results[-1] + 1 :] if results else latest
    texts = [str(block.get("text", "")) for block in after if block.get("type") == "text"]
    prompts = [text for text in texts if not text.startswith(("<system-reminder>", "[Request interrupted"))]
    prompt = prompts[-1] if prompts else ""
    if results and not prompt:
        return [_text("Done.")], 0
    if "[[slow]]" in prompt:
        return [{"type": "text", "text": SLOW_DELTA * SLOW_DELTAS, "parts": [SLOW_DELTA] * SLOW_DELTAS}], SLOW_DELAY_S
    for word, name, tool_input in _tool_scenarios(body):
        if word in prompt:
            tool_use = {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": name, "input": tool_input}
            return [_text("Let me check."), tool_use], 0
    return [_text(TEXT_REPLY)], 0


def _tool_scenarios(body: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    question = {
        "question": QUESTION,
        "header": "Colour",
        "options": [{"label": label, "description": f"Make it {label.lower()}."} for label in QUESTION_OPTIONS],
        "multiSelect": False,
    }
    return [
        ("[[tool]]", "Bash", {"command": TOOL_COMMAND, "description": "Say hi"}),
        ("[[touch]]", "Bash", {"command": TOUCH_COMMAND, "description": "Create a file"}),
        ("[[write]]", "Write", {"file_path": f"{_working_directory(body)}/{WRITE_FILE}", "content": WRITE_CONTENT}),
        ("[[ask]]", "AskUserQuestion", {"questions": [question]}),
    ]


def _working_directory(body: dict[str, Any]) -> str:
    """The CLI tells the model its working directory in the system prompt; Write needs an absolute path."""
    system = body.get("system")
    texts = [system] if isinstance(system, str) else [_text_of(system)]
    texts += [_text_of(message.get("content")) for message in body.get("messages") or [] if isinstance(message, dict)]
    for text in texts:
        if match := _CWD.search(text):
            return match.group(1).rstrip(".,")
    return "/tmp"


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "parts": [text[offset : offset + 6] for offset in range(0, len(text), 6)]}


def _user_blocks(messages: list[Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            blocks += _blocks_of(message.get("content"))
    return blocks


def _latest_user_blocks(messages: list[Any]) -> list[dict[str, Any]]:
    users = [message for message in messages if isinstance(message, dict) and message.get("role") == "user"]
    return _blocks_of(users[-1].get("content")) if users else []


def _blocks_of(content: object) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []


def _text_of(content: object) -> str:
    return "\n".join(str(block.get("text", "")) for block in _blocks_of(content) if block.get("type") == "text")


def _message(body: dict[str, Any], content: list[dict[str, Any]], stop_reason: str | None) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-fake"),
        "content": [{k: v for k, v in block.items() if k != "parts"} for block in content],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
