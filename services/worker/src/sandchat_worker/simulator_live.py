"""sandchat-fake-claude with `--input-format stream-json`: one process, many turns, the control protocol.

Each user line on stdin is one turn, ending with its own `result`; a user line that arrives during a
turn waits for the next. stdin is read by one thread, so a turn notices an interrupt while it streams
or waits for an answer: it answers the `interrupt` (`control_response`), withdraws a waiting request
(`control_cancel_request`), ends the partial message and the turn (`result` error_during_execution),
and the process stays for the next message. With `--permission-prompt-tool stdio` a tool the mode
asks for is a `control_request` `can_use_tool`; the `control_response` allows it (with the input it
gives, AskUserQuestion's answers included, and the session rules of `updatedPermissions`) or denies it
with a reason. `set_permission_mode` is honoured between and during turns.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, BinaryIO

from sandchat_worker.simulator_output import Interrupted, Simulator, write_line
from sandchat_worker.simulator_tools import ALL_MODES, Answer, Gate, NobodyToAsk, Permissions, ToolScenario

BYPASS_REFUSED = (
    "Cannot set permission mode to bypassPermissions because the session was not launched with "
    "--dangerously-skip-permissions"
)
PlayTurn = Callable[[str, Callable[[float], None], Gate], None]


class LiveInput:
    """stdin of a live process: user lines queued, control requests answered as they arrive."""

    def __init__(self, stdin: BinaryIO, out: BinaryIO, permissions: Permissions, *, may_bypass: bool) -> None:
        self.out = out
        self.permissions = permissions
        self.may_bypass = may_bypass
        self.prompts: deque[str] = deque()
        self.answers: dict[str, dict[str, Any]] = {}
        self.eof = False
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stdin,), daemon=True).start()

    def next_prompt(self) -> str | None:
        """Between turns: the next user message; None once stdin has ended."""
        while not self.prompts:
            if self.eof:
                return None
            self._take(None, in_turn=False)
        return self.prompts.popleft()

    def pause(self, seconds: float) -> None:
        """Wait during a turn; an interrupt ends the wait with :class:`Interrupted`."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            self._take(None if remaining == float("inf") else remaining, in_turn=True)

    def wait_answer(self, request_id: str) -> dict[str, Any]:
        while request_id not in self.answers:
            if self.eof:
                raise SystemExit(1)  # nobody can answer any more
            self._take(None, in_turn=True, waiting=request_id)
        return self.answers.pop(request_id)

    def _read(self, stdin: BinaryIO) -> None:
        for line in stdin:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                self._lines.put(message)
        self._lines.put(None)

    def _take(self, timeout: float | None, *, in_turn: bool, waiting: str | None = None) -> None:
        try:
            message = self._lines.get(timeout=timeout)
        except queue.Empty:
            return
        if message is None:
            self.eof = True
            return
        match message.get("type"):
            case "user":
                self.prompts.append(_text_of(message.get("message")))
            case "control_response":
                response = message.get("response")
                if isinstance(response, dict) and isinstance(response.get("request_id"), str):
                    self.answers[response["request_id"]] = response
            case "control_request":
                self._control(message, in_turn=in_turn, waiting=waiting)

    def _control(self, message: dict[str, Any], *, in_turn: bool, waiting: str | None) -> None:
        request_id = str(message.get("request_id", ""))
        request = message.get("request") if isinstance(message.get("request"), dict) else {}
        assert isinstance(request, dict)
        match request.get("subtype"):
            case "interrupt":
                if in_turn and waiting is not None:
                    write_line(self.out, {"type": "control_cancel_request", "request_id": waiting})
                self._succeed(request_id, {"still_queued": []})
                if in_turn:
                    raise Interrupted
            case "set_permission_mode":
                mode = request.get("mode")
                if mode not in ALL_MODES:
                    self._fail(request_id, f"Cannot set permission mode: must be one of {', '.join(sorted(ALL_MODES))}")
                elif mode == "bypassPermissions" and not self.may_bypass:
                    self._fail(request_id, BYPASS_REFUSED)
                else:
                    self.permissions.mode = str(mode)
                    self._succeed(request_id, {"mode": mode})
            case "initialize":
                self._succeed(request_id, {})
            case other:
                self._fail(request_id, f"Unsupported control request subtype: {other}")

    def _succeed(self, request_id: str, response: dict[str, Any]) -> None:
        success = {"subtype": "success", "request_id": request_id, "response": response}
        write_line(self.out, {"type": "control_response", "response": success})

    def _fail(self, request_id: str, error: str) -> None:
        write_line(
            self.out,
            {"type": "control_response", "response": {"subtype": "error", "request_id": request_id, "error": error}},
        )


class AskOnStdio:
    """`--permission-prompt-tool stdio`: ask on stdout, wait for the answer on stdin."""

    def __init__(self, live: LiveInput) -> None:
        self.live = live
        self.permissions = live.permissions

    def ask(self, simulator: Simulator, scenario: ToolScenario, tool_use_id: str) -> Answer:
        request_id = str(uuid.uuid4())
        request: dict[str, Any] = {
            "subtype": "can_use_tool",
            "tool_name": scenario.name,
            "display_name": scenario.name,
            "input": scenario.input,
            "permission_suggestions": scenario.suggestions,
            "tool_use_id": tool_use_id,
        }
        if scenario.name == "AskUserQuestion":
            request["requires_user_interaction"] = True
        write_line(simulator.out, {"type": "control_request", "request_id": request_id, "request": request})
        response = self.live.wait_answer(request_id)
        decision = response.get("response") if response.get("subtype") == "success" else None
        if not isinstance(decision, dict):
            return Answer(allowed=False, input=scenario.input, message=str(response.get("error") or "Refused."))
        if decision.get("behavior") != "allow":
            return Answer(allowed=False, input=scenario.input, message=str(decision.get("message") or "Denied."))
        self.permissions.grant(decision.get("updatedPermissions"))
        updated = decision.get("updatedInput")
        return Answer(allowed=True, input=updated if isinstance(updated, dict) else scenario.input)


def run_live(permissions: Permissions, *, prompt_tool: bool, may_bypass: bool, play_turn: PlayTurn) -> int:
    """Turn after turn until stdin ends."""
    live = LiveInput(sys.stdin.buffer, sys.stdout.buffer, permissions, may_bypass=may_bypass)
    gate: Gate = AskOnStdio(live) if prompt_tool else NobodyToAsk(permissions)
    while (prompt := live.next_prompt()) is not None:
        play_turn(prompt, live.pause, gate)
    return 0


def _text_of(message: object) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    blocks = content if isinstance(content, list) else []
    return "\n".join(str(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "text")
