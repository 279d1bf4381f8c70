"""sandchat-agent: check the agent and talk to it from a terminal, with the worker's own runner.

    sandchat-agent probe
    sandchat-agent ask "<prompt>" [--resume ID] [--json]

`ask --json` prints one event per line in the WebSocket wire format (docs/protocol.md#server--client),
so what an operator sees here is exactly what a browser would get.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Sequence

from sandchat import wire
from sandchat.settings import Settings, SettingsError, load_settings
from sandchat.turns.outcomes import Ending, agent_ending

from sandchat_worker.agent_events import (
    AgentEvent,
    StatusNote,
    TextDelta,
    ToolOutput,
    ToolUse,
    TurnOutcome,
    wire_event,
)
from sandchat_worker.agent_probe import probe
from sandchat_worker.agent_runners import build_runner
from sandchat_worker.agent_turn import run_agent_turn


class WirePrinter:
    """Prints a turn as wire events, one JSON object per line, seq from 1."""

    def __init__(self) -> None:
        self.turn_id = str(uuid.uuid4())
        self.seq = 0

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _print(self, event: wire.ServerEvent) -> None:
        sys.stdout.write(wire.encode(event).decode() + "\n")
        sys.stdout.flush()

    async def on_events(self, events: Sequence[AgentEvent]) -> None:
        for event in events:
            self._print(self.to_wire(event))

    def to_wire(self, event: AgentEvent) -> wire.ServerEvent:
        return wire_event(event, "", self.turn_id, self._next())

    def finish(self, outcome: TurnOutcome, ending: Ending) -> None:
        seq = self._next()
        if ending.code is None:
            self._print(
                wire.Done(
                    thread_id="",
                    turn_id=self.turn_id,
                    seq=seq,
                    message_id="",
                    session_id=outcome.session_id,
                    cost_usd=outcome.cost_usd,
                    duration_ms=outcome.duration_ms,
                )
            )
            return
        message = ending.message or "The agent failed."
        self._print(wire.Error(thread_id="", turn_id=self.turn_id, seq=seq, code=ending.code, message=message))


class TextPrinter:
    """Prints the reply as it streams; tools and status notes go to stderr."""

    async def on_events(self, events: Sequence[AgentEvent]) -> None:
        for event in events:
            match event:
                case TextDelta(text):
                    sys.stdout.write(text)
                    sys.stdout.flush()
                case ToolUse(_, name, tool_input):
                    print(f"\n[tool {name}] {json.dumps(tool_input, ensure_ascii=False)}", file=sys.stderr)
                case ToolOutput(_, output, is_error):
                    print(f"[{'tool error' if is_error else 'tool output'}] {output}", file=sys.stderr)
                case StatusNote(message):
                    print(f"[status] {message}", file=sys.stderr)

    def finish(self, outcome: TurnOutcome, ending: Ending) -> None:
        sys.stdout.write("\n")
        if ending.code is not None:
            print(f"error ({ending.code}): {ending.message}", file=sys.stderr)
            if outcome.kind == "offline" and outcome.error:
                print(outcome.error, file=sys.stderr)
        if outcome.session_id:
            print(f"session: {outcome.session_id}", file=sys.stderr)


async def _ask(settings: Settings, prompt: str, resume: str | None, *, as_json: bool) -> int:
    printer: WirePrinter | TextPrinter = WirePrinter() if as_json else TextPrinter()
    outcome = await run_agent_turn(
        build_runner(settings),
        prompt,
        resume,
        on_events=printer.on_events,
        cancel=asyncio.Event(),
        inactivity_timeout_s=settings.agent_inactivity_timeout_s,
    )
    timeout_s = settings.agent_inactivity_timeout_s
    printer.finish(outcome, agent_ending(outcome.kind, outcome.error, inactivity_timeout_s=timeout_s))
    return 0 if outcome.kind == "complete" else 1


async def _probe(settings: Settings) -> int:
    result = await probe(build_runner(settings))
    print(f"{result.status}: {result.message}")
    return 0 if result.status == "healthy" else 1


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sandchat-agent", description="Check the agent and talk to it.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("probe", help="check that the agent CLI is reachable and logged in")
    ask = commands.add_parser("ask", help="run one turn with the configured runner and stream the reply")
    ask.add_argument("prompt", help="the message to send (given to the agent on stdin, never as a flag)")
    ask.add_argument("--resume", metavar="ID", help="the agent session to continue")
    ask.add_argument("--json", action="store_true", help="print one wire event (docs/protocol.md) per line")
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        build_runner(settings)
    except SettingsError as exc:
        print(f"sandchat: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        if args.command == "probe":
            code = asyncio.run(_probe(settings))
        else:
            code = asyncio.run(_ask(settings, args.prompt, args.resume, as_json=args.json))
    except KeyboardInterrupt:
        # run_agent_turn has already killed the agent on the way out.
        code = 130
    raise SystemExit(code)
