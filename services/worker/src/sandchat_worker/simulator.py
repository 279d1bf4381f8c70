"""sandchat-fake-claude: a stand-in for the Claude Code CLI, for demos, tests and load.

It is started once per one-shot turn and benchmarked, so it imports the standard library only.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from sandchat_worker import simulator_sessions as sessions
from sandchat_worker.simulator_output import VERSION, Interrupted, Simulator, _env_int

if TYPE_CHECKING:
    from sandchat_worker.simulator_tools import Gate, Permissions

ECHO_CHARS = 200

HELP = """\
usage: sandchat-fake-claude -p [--output-format stream-json] [--verbose] [--include-partial-messages]
                            [--input-format stream-json] [--permission-mode MODE]
                            [--permission-prompt-tool stdio] [--allowedTools=RULE ...]
                            [--resume=SESSION_ID | --session-id=UUID] [PROMPT]
       sandchat-fake-claude auth status [--json]

A stand-in for the Claude Code CLI. It takes the same flags, reads the prompt from stdin (or the
PROMPT argument) and prints the CLI's stream-json events: system/init with a session id,
stream_event text deltas, assistant, result. The reply starts "You said: <first 200 characters
of the prompt>" and goes on with filler markdown.

With --input-format stream-json it lives on: each line {"type":"user","message":{...}} on stdin is
one turn ending with its own result, until stdin ends. It speaks the CLI's control protocol there:
`interrupt` (the partial reply, a result error_during_execution, the process stays),
`set_permission_mode`, and with --permission-prompt-tool stdio it asks before a tool its mode asks
for (control_request can_use_tool; default and plan ask for [[touch]], [[edit]], [[write]]; every
mode asks for [[ask]]) and honours the answer: allow (with updatedInput), allow with
updatedPermissions (the same request is not asked again in that session), deny with a reason.
Without a way to ask, such a tool is refused. --allowedTools=RULE (e.g. "Bash(touch touched.txt)")
allows from the start. Nothing is ever really run.

Sessions are kept as files in $SIMULATOR_STATE_DIR (default: <user cache dir>/sandchat-simulator):
--resume of a known id keeps it; an unknown id fails like the real CLI ("No conversation found
with session ID: ..." on stderr, a result line with error_during_execution, exit code 1).
--session-id starts a session with that id. --resume=ID --fork-session copies that session's
history into a new one (the --session-id given, else a new id); --resume-session-at=UUID keeps only
the history up to that chain entry (the uuid of a turn's last assistant or user line), as the real
CLI does; an entry the session does not have fails ("No message found with message.uuid of: ...").

Environment:
  SIMULATOR_TOKENS=40      how many text deltas the reply streams
  SIMULATOR_DELAY_MS=20    pause between two deltas
  SIMULATOR_STAMP=1        add "sandchat_stamp": <unix time> to every delta line (benchmarks)
  SIMULATOR_MODE=a,b       behaviours, as the magic words below (e.g. SIMULATOR_MODE=tool,retry)
  SIMULATOR_AUTH=logged-out|api-key   what `auth status` reports (default: logged in, firstParty)

Magic words anywhere in the prompt:
  [[tool]]       run a Bash tool (`echo hi`, never asked for) before replying: tool_use, then its tool_result
  [[touch]]      a Bash tool `touch touched.txt` (asked for in default and plan modes)
  [[edit]]       an Edit of notes.md, old_string -> new_string (a diff; asked for in default and plan)
  [[write]]      a Write of written.txt (asked for in default and plan)
  [[ask]]        AskUserQuestion with one question (asked for in every mode); its answer is the output
  [[slow]]       a long reply, 200 deltas 50 ms apart (to stop it midway)
  [[retry]]      the API is overloaded twice (system/api_retry events), then it replies
  [[fail]]       the API fails after the first delta: an error result, exit code 1
  [[fail-once]]  like [[fail]] the first time the session gets this message; run again, it replies
  [[hang]]       print the first delta, start a child process that sleeps (like a tool command),
                 then print nothing, forever (live: until interrupted)
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
  [[history]]    after the echo, say which earlier prompts the session remembers
                 ("Earlier in this session: first | second.")
"""

TOOL_WORDS = ("tool", "touch", "edit", "write", "ask")
MODES = (
    *TOOL_WORDS,
    "slow",
    "retry",
    "fail",
    "hang",
    "die",
    "auth-fail",
    "markdown",
    "flood",
    "garbage",
    "no-result",
    "env",
    "history",
    "fail-once",
)
FLOOD_DELTAS = 20_000
SLOW_DELTAS = 200
SLOW_DELAY_S = 0.05
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
_TAKES_VALUE = {
    "--output-format",
    "--input-format",
    "--permission-mode",
    "--permission-prompt-tool",
    "--model",
    "--resume",
    "-r",
    "--session-id",
    "--resume-session-at",
    "--allowedTools",
    "--allowed-tools",
}


class Options:
    """The flags that matter here (a dataclass would cost this per-turn process its import time)."""

    def __init__(self) -> None:
        self.prompt: str | None = None
        self.resume: str | None = None
        self.session_id: str | None = None
        self.fork = False
        self.resume_at: str | None = None
        self.live = False
        self.prompt_tool = False
        self.may_bypass = False
        self.permission_mode = "bypassPermissions"
        self.allowed_tools: list[str] = []

    def permissions(self) -> Permissions:
        # Imported only when a tool runs: most one-shot turns never need it.
        from sandchat_worker.simulator_tools import Permissions  # noqa: PLC0415

        permissions = Permissions(self.permission_mode)
        for value in self.allowed_tools:
            permissions.allow_flag(value)
        return permissions


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
    options = _parse(args)
    session_id = _open_session(options)
    if session_id is None:
        raise SystemExit(1)
    if options.live:
        from sandchat_worker.simulator_live import run_live  # noqa: PLC0415 - the one-shot path stays lean

        def play(prompt: str, pause: Callable[[float], None], gate: Gate) -> None:
            simulator = _begin_turn(Simulator(sys.stdout.buffer, session_id, _modes(prompt), pause), prompt)
            simulator.permission_mode = gate.permissions.mode
            try:
                _play_turn(simulator, prompt, lambda: gate)
            except Interrupted:
                simulator.interrupted(num_turns=1)
            finally:
                sessions.record_entry(_state_dir(), session_id, simulator.last_entry)

        permissions = options.permissions()
        raise SystemExit(
            run_live(permissions, prompt_tool=options.prompt_tool, may_bypass=options.may_bypass, play_turn=play)
        )
    prompt = options.prompt
    if prompt is None:
        if sys.stdin.isatty():
            print("Error: Input must be provided either through stdin or as a prompt argument when using --print")
            raise SystemExit(1)
        prompt = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    simulator = _begin_turn(Simulator(sys.stdout.buffer, session_id, _modes(prompt)), prompt)
    simulator.permission_mode = options.permission_mode
    try:
        code = _play_turn(simulator, prompt, lambda: _nobody_to_ask(options))
    finally:
        sessions.record_entry(_state_dir(), session_id, simulator.last_entry)
    raise SystemExit(code)


def _begin_turn(simulator: Simulator, prompt: str) -> Simulator:
    simulator.history = sessions.history(_state_dir(), simulator.session_id)
    sessions.record_prompt(_state_dir(), simulator.session_id, prompt)
    return simulator


def _nobody_to_ask(options: Options) -> Gate:
    from sandchat_worker.simulator_tools import NobodyToAsk  # noqa: PLC0415

    return NobodyToAsk(options.permissions())


def _open_session(options: Options) -> str | None:
    """The session of this process; None (after saying so like the real CLI) when --resume names none."""
    resume = options.resume
    if resume is not None and not sessions.known(_state_dir(), resume):
        _fail_to_open(resume, f"No conversation found with session ID: {resume}")
        return None
    if resume is None:
        return options.session_id or str(uuid.uuid4())
    session_id = (options.session_id or str(uuid.uuid4())) if options.fork else resume
    if (options.fork or options.resume_at is not None) and not sessions.fork(
        _state_dir(), resume, session_id, options.resume_at
    ):
        _fail_to_open(resume, f"No message found with message.uuid of: {options.resume_at}")
        return None
    return session_id


def _fail_to_open(session_id: str, message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    Simulator(sys.stdout.buffer, session_id, set()).result(
        text="", is_error=True, num_turns=0, subtype="error_during_execution", errors=[message]
    )


def _play_turn(simulator: Simulator, prompt: str, gate: Callable[[], Gate]) -> int:
    """One turn; the exit code a one-shot process ends with."""
    modes = simulator.modes
    simulator.init()
    if "auth-fail" in modes:
        simulator.api_retries("authentication_failed", 401, 10, 500)
        simulator.result(text="Failed to authenticate. API Error: 401 invalid x-api-key", is_error=True, num_turns=1)
        return 1
    if "retry" in modes:
        simulator.api_retries("overloaded", 529, 2, 50)
    tokens = SLOW_DELTAS if "slow" in modes else _env_int("SIMULATOR_TOKENS", 40)
    deltas = _reply_deltas(prompt, tokens, markdown="markdown" in modes, environment="env" in modes)
    if "fail-once" in modes and prompt[: sessions.PROMPT_CHARS] not in simulator.history:
        modes.add("fail")
    if "history" in modes:
        deltas.insert(1, "Earlier in this session: " + (" | ".join(simulator.history) or "nothing") + ".\n\n")
    if "slow" in modes:
        simulator.delay_s = SLOW_DELAY_S
    if "flood" in modes:
        simulator.delay_s = 0
        deltas += [f"{number:>8} " + "flood " * 15 + "\n" for number in range(FLOOD_DELTAS)]
    word = next((word for word in TOOL_WORDS if word in modes), None)
    if word is not None:
        # The reply still starts with the echo; the tool runs between it and the rest.
        from sandchat_worker.simulator_tools import run_tool, tool_scenario  # noqa: PLC0415

        simulator.text_message([deltas[0], "Let me check."])
        run_tool(simulator, tool_scenario(word), gate())
        return _reply(simulator, deltas[1:], num_turns=2)
    return _reply(simulator, deltas, num_turns=1)


def _reply(simulator: Simulator, deltas: list[str], *, num_turns: int) -> int:
    modes = simulator.modes
    if "hang" in modes:
        simulator.text_message(deltas[:1] or ["…"], stop_after=1)
        _start_tool_child()
        simulator.pause(float("inf"))
    if "die" in modes:
        simulator.text_message(deltas or ["…"], stop_after=max(1, len(deltas) // 2))
        print("Error: the simulator crashed mid-stream (as asked by [[die]])", file=sys.stderr, flush=True)
        os._exit(1)
    if "no-result" in modes:
        simulator.text_message(deltas or ["…"], stop_after=max(1, len(deltas) // 2))
        print("\n".join(LEAKY_STDERR), file=sys.stderr, flush=True)
        sys.stdout.flush()
        # At once, like a crashing CLI: a live simulator's stdin reader thread must not hold up (or
        # abort) the interpreter's shutdown.
        os._exit(0)
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


def _flags(args: list[str]) -> list[str]:
    return args[: args.index("--")] if "--" in args else args


def _parse(args: list[str]) -> Options:
    """The CLI's flags that matter here, in both the `--flag value` and `--flag=value` forms (unknown flags ignored)."""
    options = Options()
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            options.prompt = " ".join(args[index + 1 :]) or options.prompt
            break
        name, has_value, value = arg.partition("=")
        if name in _TAKES_VALUE and not has_value:
            index += 1
            value = args[index] if index < len(args) else ""
        if name in _TAKES_VALUE or (has_value and name.startswith("--")):
            _set(options, name, value)
        elif arg == "--fork-session":
            options.fork = True
        elif arg in ("--dangerously-skip-permissions", "--allow-dangerously-skip-permissions"):
            options.may_bypass = True
        elif not arg.startswith("-") and options.prompt is None:
            options.prompt = arg
        index += 1
    options.may_bypass = options.may_bypass or options.permission_mode == "bypassPermissions"
    return options


def _set(options: Options, name: str, value: str) -> None:
    match name:
        case "--resume" | "-r":
            options.resume = value
        case "--session-id":
            options.session_id = value
        case "--resume-session-at":
            options.resume_at = value
        case "--input-format":
            options.live = value == "stream-json"
        case "--permission-mode":
            options.permission_mode = value
        case "--permission-prompt-tool":
            options.prompt_tool = value == "stdio"
        case "--allowedTools" | "--allowed-tools":
            options.allowed_tools.append(value)


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


def _auth_status() -> int:
    mode = os.environ.get("SIMULATOR_AUTH", "")
    logged_in = mode != "logged-out"
    method = "none" if not logged_in else "api_key" if mode == "api-key" else "claude.ai"
    status = {"loggedIn": logged_in, "authMethod": method, "apiProvider": "firstParty"}
    print(json.dumps(status, indent=2))
    return 0 if logged_in else 1


if __name__ == "__main__":
    main()
