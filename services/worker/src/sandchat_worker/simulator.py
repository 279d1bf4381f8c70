"""sandchat-fake-claude: a stand-in for the Claude Code CLI, for demos, tests and load.

It is started once per turn and benchmarked, so it imports the standard library only.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

VERSION = "2.1.328 (sandchat simulator)"
MODEL = "claude-simulator"
ECHO_CHARS = 200

HELP = """\
usage: sandchat-fake-claude -p [--output-format stream-json] [--verbose] [--include-partial-messages]
                            [--permission-mode MODE] [--resume=SESSION_ID] [PROMPT]
       sandchat-fake-claude auth status [--json]

A stand-in for the Claude Code CLI. It takes the same flags, reads the prompt from stdin (or the
PROMPT argument) and prints the CLI's stream-json events: system/init with a session id,
stream_event text deltas, assistant, result. The reply starts "You said: <first 200 characters
of the prompt>" and goes on with filler markdown.

Sessions are kept as files in $SIMULATOR_STATE_DIR (default: <user cache dir>/sandchat-simulator):
--resume of a known id keeps it; an unknown id fails like the real CLI ("No conversation found
with session ID: ..." on stderr, a result line with error_during_execution, exit code 1).

Environment:
  SIMULATOR_TOKENS=40      how many text deltas the reply streams
  SIMULATOR_DELAY_MS=20    pause between two deltas
  SIMULATOR_STAMP=1        add "sandchat_stamp": <unix time> to every delta line (benchmarks)
  SIMULATOR_MODE=a,b       behaviours, as the magic words below (e.g. SIMULATOR_MODE=tool,retry)
  SIMULATOR_AUTH=logged-out|api-key   what `auth status` reports (default: logged in, firstParty)

Magic words anywhere in the prompt:
  [[tool]]       run a Bash tool (`echo hi`) before replying: tool_use, then its tool_result
  [[retry]]      the API is overloaded twice (system/api_retry events), then it replies
  [[fail]]       the API fails after the first delta: an error result, exit code 1
  [[hang]]       print the first delta, start a child process that sleeps (like a tool command),
                 then print nothing, forever
  [[die]]        crash halfway through the reply: a line on stderr, no result, exit code 1
  [[auth-fail]]  the API refuses the credentials: api_retry with authentication_failed, 10 times
  [[markdown]]   reply with **bold**, a list and a ```python code block
  [[flood]]      stream 20,000 deltas of 100 characters (2 MB) with no pause, then reply normally
  [[garbage]]    mix lines that are not stream-json into the reply (text, arrays, invalid UTF-8,
                 wrong shapes, a 100 kB line); the reply itself is normal
  [[no-result]]  stream half the reply, print secret-looking lines and host paths on stderr, then
                 exit 0 without a result line
  [[env]]        reply with its working directory and its whole environment, one NAME=value a line
                 (what a prompt-injected agent could read and send anywhere)
"""

MODES = ("tool", "retry", "fail", "hang", "die", "auth-fail", "markdown", "flood", "garbage", "no-result", "env")
FLOOD_DELTAS = 20_000
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
LEAKY_STDERR = (
    "Error: request failed with ANTHROPIC_API_KEY=sk-ant-api03-SECRETSECRETSECRET",
    "  headers: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.SECRET.SECRET",
    '  config: {"token": "SECRET-TOKEN-VALUE", "password": "hunter2"}',
    "  at /root/.claude/.credentials.json and /home/operator/projects/secret-plans/notes.md",
    "  " + "noise " * 5_000,
)
FILLER = (
    "Here is a **simulated** answer. It streams like the real agent would, a few words at a time, "
    "so that the chat shows tokens as they arrive.\n\n- first point\n- second point\n\n"
    "That is all this simulator has to say; the words repeat to fill the reply. "
)
MARKDOWN = "Here is **bold** and a list:\n\n- one\n- two\n\n```python\nprint('hi')\n```\n"
_SESSION_ID = re.compile(r"^[0-9a-fA-F-]{1,64}$")


class Simulator:
    def __init__(self, out: BinaryIO, session_id: str, modes: set[str]) -> None:
        self.out = out
        self.session_id = session_id
        self.modes = modes
        self.stamp = os.environ.get("SIMULATOR_STAMP") == "1"
        self.delay_s = _env_int("SIMULATOR_DELAY_MS", 20) / 1000
        self.started = time.monotonic()
        self.garbage = False
        self._lines = 0

    def emit(self, event: dict[str, Any]) -> None:
        if self.garbage:  # one line of garbage before each real line, in turn
            self.out.write(GARBAGE_LINES[self._lines % len(GARBAGE_LINES)] + b"\n")
            self._lines += 1
        self.out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        self.out.flush()

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, **fields, "session_id": self.session_id, "uuid": str(uuid.uuid4())}

    def stream(self, message_id: str, inner: dict[str, Any]) -> None:
        line = self.event("stream_event", event=inner, parent_tool_use_id=None)
        line["api_message_id"] = message_id
        if self.stamp and inner.get("type") == "content_block_delta":
            line["sandchat_stamp"] = time.time()
        self.emit(line)

    def assistant(self, message_id: str, block: dict[str, Any]) -> None:
        message = {"id": message_id, "type": "message", "role": "assistant", "model": MODEL, "content": [block]}
        self.emit(self.event("assistant", message=message, parent_tool_use_id=None))

    def init(self) -> None:
        self.emit(
            self.event(
                "system",
                subtype="init",
                cwd=os.getcwd(),
                tools=["Bash", "Edit", "Read", "Write"],
                mcp_servers=[],
                model=MODEL,
                permissionMode="bypassPermissions",
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
            time.sleep(delay_ms / 1000)

    def text_message(self, deltas: list[str], *, stop_after: int | None = None) -> None:
        """Stream one assistant message of text; `stop_after` ends the stream early (hang/die/fail)."""
        message_id = "msg_" + uuid.uuid4().hex[:20]
        self.stream(message_id, {"type": "message_start", "message": _message_start(message_id)})
        self.stream(
            message_id, {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        )
        for number, delta in enumerate(deltas):
            if number:
                time.sleep(self.delay_s)
            delta_event = {"type": "text_delta", "text": delta}
            self.stream(message_id, {"type": "content_block_delta", "index": 0, "delta": delta_event})
            if stop_after is not None and number + 1 >= stop_after:
                return
        self.assistant(message_id, {"type": "text", "text": "".join(deltas)})
        self.stream(message_id, {"type": "content_block_stop", "index": 0})
        self.stream(message_id, {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}})
        self.stream(message_id, {"type": "message_stop"})

    def tool_use(self, echo: str) -> None:
        message_id = "msg_" + uuid.uuid4().hex[:20]
        tool_id = "toolu_" + uuid.uuid4().hex[:20]
        tool_input = {"command": "echo hi", "description": "Say hi"}
        self.text_message([echo, "Let me check."])
        start = {"type": "tool_use", "id": tool_id, "name": "Bash", "input": {}}
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
        result = {"tool_use_id": tool_id, "type": "tool_result", "content": "hi", "is_error": False}
        self.emit(self.event("user", message={"role": "user", "content": [result]}, parent_tool_use_id=None))
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
                **extra,
            )
        )


def main(argv: list[str] | None = None) -> NoReturn:
    args = sys.argv[1:] if argv is None else argv
    if args[:2] == ["auth", "status"]:
        raise SystemExit(_auth_status())
    if any(arg in ("-h", "--help") for arg in _flags(args)):
        sys.stdout.write(HELP)
        raise SystemExit(0)
    if "--version" in _flags(args) or "-v" in _flags(args):
        print(VERSION)
        raise SystemExit(0)
    resume, prompt = _parse(args)
    if prompt is None:
        if sys.stdin.isatty():
            print("Error: Input must be provided either through stdin or as a prompt argument when using --print")
            raise SystemExit(1)
        prompt = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    raise SystemExit(_turn(prompt, resume))


def _turn(prompt: str, resume: str | None) -> int:
    sessions = _state_dir()
    out = sys.stdout.buffer
    if resume is not None and not _known_session(sessions, resume):
        message = f"No conversation found with session ID: {resume}"
        print(message, file=sys.stderr, flush=True)
        Simulator(out, resume, set()).result(
            text="", is_error=True, num_turns=0, subtype="error_during_execution", errors=[message]
        )
        return 1
    session_id = resume or str(uuid.uuid4())
    _record_turn(sessions, session_id)
    modes = _modes(prompt)
    simulator = Simulator(out, session_id, modes)
    simulator.init()
    if "auth-fail" in modes:
        simulator.api_retries("authentication_failed", 401, 10, 500)
        simulator.result(text="Failed to authenticate. API Error: 401 invalid x-api-key", is_error=True, num_turns=1)
        return 1
    if "retry" in modes:
        simulator.api_retries("overloaded", 529, 2, 50)
    deltas = _reply_deltas(
        prompt, _env_int("SIMULATOR_TOKENS", 40), markdown="markdown" in modes, environment="env" in modes
    )
    if "flood" in modes:
        simulator.delay_s = 0
        deltas += [f"{number:>8} " + "flood " * 15 + "\n" for number in range(FLOOD_DELTAS)]
    if "tool" in modes:
        # The reply still starts with the echo; the tool runs between it and the rest.
        simulator.tool_use(deltas[0])
        return _reply(simulator, deltas[1:], num_turns=2)
    return _reply(simulator, deltas, num_turns=1)


def _reply(simulator: Simulator, deltas: list[str], *, num_turns: int) -> int:
    modes = simulator.modes
    if "hang" in modes:
        simulator.text_message(deltas[:1] or ["…"], stop_after=1)
        _start_tool_child()
        while True:
            time.sleep(3600)
    if "die" in modes:
        simulator.text_message(deltas or ["…"], stop_after=max(1, len(deltas) // 2))
        print("Error: the simulator crashed mid-stream (as asked by [[die]])", file=sys.stderr, flush=True)
        os._exit(1)
    if "no-result" in modes:
        simulator.text_message(deltas or ["…"], stop_after=max(1, len(deltas) // 2))
        print("\n".join(LEAKY_STDERR), file=sys.stderr, flush=True)
        return 0
    if "garbage" in modes:
        simulator.garbage = True
    if "fail" in modes:
        simulator.text_message(deltas[:1] or ["…"], stop_after=1)
        error = 'API Error: 500 {"type":"error","error":{"type":"api_error","message":"Internal server error"}}'
        simulator.result(text=error, is_error=True, num_turns=num_turns)
        return 1
    if deltas:
        simulator.text_message(deltas)
    simulator.result(text="".join(deltas), is_error=False, num_turns=num_turns)
    return 0


def _start_tool_child() -> None:
    """A process the agent started, as a tool command would be: it must die with the agent's run."""
    import subprocess  # noqa: PLC0415 - only this mode needs it; the simulator starts fast

    subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(3600)"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _environment_report() -> str:
    lines = [f"cwd: {os.getcwd()}", "env:"] + [f"{name}={value}" for name, value in sorted(os.environ.items())]
    return "\n".join(lines) + "\n"


def _reply_deltas(prompt: str, tokens: int, *, markdown: bool, environment: bool = False) -> list[str]:
    deltas = [f"You said: {prompt[:ECHO_CHARS]}\n\n"]
    if environment:
        report = _environment_report()
        return deltas + [report[i : i + 200] for i in range(0, len(report), 200)]
    if markdown:
        size = max(1, -(-len(MARKDOWN) // max(1, tokens - 1)))
        return deltas + [MARKDOWN[i : i + size] for i in range(0, len(MARKDOWN), size)]
    words = re.findall(r"\S+\s*", FILLER)
    return deltas + [words[i % len(words)] for i in range(max(0, tokens - 1))]


def _message_start(message_id: str) -> dict[str, Any]:
    return {"id": message_id, "type": "message", "role": "assistant", "model": MODEL, "content": [], "usage": {}}


def _flags(args: list[str]) -> list[str]:
    return args[: args.index("--")] if "--" in args else args


def _parse(args: list[str]) -> tuple[str | None, str | None]:
    """The session to resume and the prompt argument, from the CLI's flags (unknown flags ignored)."""
    takes_value = {"--output-format", "--input-format", "--permission-mode", "--model", "--resume", "-r"}
    resume: str | None = None
    prompt: str | None = None
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            prompt = " ".join(args[index + 1 :]) or prompt
            break
        if arg.startswith("--resume="):
            resume = arg.split("=", 1)[1]
        elif arg in takes_value:
            index += 1
            if arg in ("--resume", "-r") and index < len(args):
                resume = args[index]
        elif not arg.startswith("-") and prompt is None:
            prompt = arg
        index += 1
    return resume, prompt


def _modes(prompt: str) -> set[str]:
    modes = {mode.strip() for mode in os.environ.get("SIMULATOR_MODE", "").split(",") if mode.strip()}
    return modes | {mode for mode in MODES if f"[[{mode}]]" in prompt}


def _state_dir() -> Path:
    configured = os.environ.get("SIMULATOR_STATE_DIR")
    if configured:
        path = Path(configured)
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(cache) / "sandchat-simulator"
    (path / "sessions").mkdir(parents=True, exist_ok=True)
    return path / "sessions"


def _known_session(sessions: Path, session_id: str) -> bool:
    return bool(_SESSION_ID.match(session_id)) and (sessions / session_id).is_file()


def _record_turn(sessions: Path, session_id: str) -> None:
    with (sessions / session_id).open("a", encoding="utf-8") as log:
        log.write(f"{time.time()}\n")


def _auth_status() -> int:
    mode = os.environ.get("SIMULATOR_AUTH", "")
    logged_in = mode != "logged-out"
    method = "none" if not logged_in else "api_key" if mode == "api-key" else "claude.ai"
    status = {"loggedIn": logged_in, "authMethod": method, "apiProvider": "firstParty"}
    print(json.dumps(status, indent=2))
    return 0 if logged_in else 1


def _env_int(name: str, default: int) -> int:
    try:
        return max(0, int(os.environ.get(name, default)))
    except ValueError:
        return default


if __name__ == "__main__":
    main()
