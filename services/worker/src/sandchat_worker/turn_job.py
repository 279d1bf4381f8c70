"""The arq job: run one turn of the agent and relay what it says.

Every agent event becomes a wire event with the next ``seq``, published to the turn's channel and
replay log in one round trip per read of the agent's output (so deltas that arrive together go
out as one ``token``). The assistant message is written every few seconds and at the end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from redis.exceptions import RedisError
from sandchat import events, threads
from sandchat.database import Database
from sandchat.transcript import Transcript
from sandchat.turn_end import CANCELLED_MESSAGE, finish_turn
from sandchat.turn_store import TurnInfo, TurnStore

from sandchat_worker.agent_events import AgentEvent, StatusNote, TextDelta, ToolOutput, ToolUse, TurnOutcome
from sandchat_worker.agent_runners import AgentRunner
from sandchat_worker.agent_turn import StampedText, run_agent_turn

log = logging.getLogger(__name__)

# A long reply is written to the database this often while it streams (the replay log holds the rest).
FLUSH_INTERVAL_S: Final = 3.0
NOT_LOGGED_IN: Final = "The agent is not logged in. Log the Claude CLI in inside the sandbox (see docs/operating.md)."


@dataclass(slots=True)
class WorkerContext:
    """What every job of one worker process shares (kept in arq's ctx)."""

    worker_id: str
    store: TurnStore
    database: Database
    runner: AgentRunner
    inactivity_timeout_s: float
    cancels: dict[str, asyncio.Event] = field(default_factory=dict)


class TurnRelay:
    """Turns agent events into numbered wire events, publishes them, and keeps the transcript."""

    def __init__(self, context: WorkerContext, info: TurnInfo) -> None:
        self.context = context
        self.info = info
        self.transcript = Transcript()
        self._flushed_at = time.monotonic()
        self._flush: asyncio.Task[None] | None = None

    def _next(self) -> int:
        self.transcript.last_seq += 1
        return self.transcript.last_seq

    def _encode(self, event: AgentEvent) -> bytes:
        info = self.info
        wire: events.TurnEvent
        if isinstance(event, TextDelta):
            self.transcript.add_text(event.text)
            wire = events.Token(info.thread_id, info.turn_id, self._next(), event.text)
            if isinstance(event, StampedText):  # benchmarks only: pass the agent's stamp to the client
                return events.encode(wire)[:-1] + b',"stamp":' + repr(event.stamp).encode() + b"}"
        elif isinstance(event, ToolUse):
            self.transcript.add_tool(event.tool_use_id, event.name, event.input)
            wire = events.Tool(info.thread_id, info.turn_id, self._next(), event.tool_use_id, event.name, event.input)
        elif isinstance(event, ToolOutput):
            self.transcript.add_tool_result(event.tool_use_id, event.output, event.is_error)
            wire = events.ToolResult(
                info.thread_id, info.turn_id, self._next(), event.tool_use_id, event.output, event.is_error
            )
        else:
            assert isinstance(event, StatusNote)
            wire = events.Status(info.thread_id, info.turn_id, self._next(), event.message)
        return events.encode(wire)

    async def on_events(self, batch: Sequence[AgentEvent]) -> None:
        frames = [(0, self._encode(event)) for event in batch]
        first = self.transcript.last_seq - len(frames) + 1
        await self.context.store.publish(self.info.turn_id, [(first + i, frame) for i, (_, frame) in enumerate(frames)])
        if time.monotonic() - self._flushed_at >= FLUSH_INTERVAL_S and (self._flush is None or self._flush.done()):
            self._flushed_at = time.monotonic()
            self._flush = asyncio.create_task(self._write_progress(self.transcript.text))

    async def _write_progress(self, text: str) -> None:
        try:
            async with self.context.database.transaction() as session:
                await threads.update_message(session, self.info.message_id, content=text)
        except Exception as exc:
            log.warning("turn %s: progress write failed: %s", self.info.turn_id, type(exc).__name__)

    async def settle(self) -> None:
        if self._flush is not None:
            await asyncio.gather(self._flush, return_exceptions=True)


def _ending(outcome: TurnOutcome, inactivity_timeout_s: float) -> tuple[events.ErrorCode | None, str | None]:
    match outcome.kind:
        case "complete":
            return None, None
        case "offline":
            return "agent_offline", events.AGENT_OFFLINE_MESSAGE
        case "unauthenticated":
            return "agent_error", NOT_LOGGED_IN
        case "timeout":
            return "timeout", f"The agent printed nothing for {inactivity_timeout_s:g} s and was stopped."
        case "cancelled":
            return "cancelled", CANCELLED_MESSAGE
        case _:
            return "agent_error", outcome.error or "The agent failed."


async def _load_turn(context: WorkerContext, info: TurnInfo) -> tuple[str, str | None] | None:
    async with context.database.reading() as session:
        prompt = await threads.get_message(session, info.user_message_id)
        thread = await threads.get_thread(session, info.thread_id)
    if prompt is None or thread is None:
        return None
    return prompt.content, thread.claude_session_id


async def run_turn(ctx: dict[str, Any], turn_id: str) -> str:
    """arq entry point. Returns the final status (arq keeps it as the job result)."""
    context: WorkerContext = ctx["sandchat"]
    store = context.store
    # Listen for a cancel before taking the turn: one sent earlier is seen by `start`, later ones by the listener.
    cancel = context.cancels.setdefault(turn_id, asyncio.Event())
    started = await store.start(turn_id, context.worker_id)  # one round trip
    if started is None:
        context.cancels.pop(turn_id, None)
        log.info("turn %s already ended before a worker took it", turn_id)
        return "skipped"
    info, cancel_requested = started
    if cancel_requested:
        cancel.set()
    relay = TurnRelay(context, info)
    try:
        loaded = await _load_turn(context, info)
        if loaded is None:  # the thread was deleted while the turn waited
            await finish_turn(store, context.database, info, relay.transcript, code="agent_error", error="Thread gone.")
            return "error"
        prompt, session_id = loaded
        outcome = await run_agent_turn(
            context.runner,
            prompt,
            session_id,
            on_events=relay.on_events,
            cancel=cancel,
            inactivity_timeout_s=context.inactivity_timeout_s,
        )
        await relay.settle()
        code, error = _ending(outcome, context.inactivity_timeout_s)
        await finish_turn(
            store,
            context.database,
            info,
            relay.transcript,
            code=code,
            error=error,
            session_id=outcome.session_id,
            cost_usd=outcome.cost_usd,
            duration_ms=outcome.duration_ms,
            extra_meta={"numTurns": outcome.num_turns},
        )
        log.info("turn %s ended: %s (%d chars)", turn_id, code or "done", relay.transcript.length)
        return code or "complete"
    except asyncio.CancelledError:
        # The worker is shutting down: the agent was killed by run_agent_turn; say so and free the thread.
        await relay.settle()
        await asyncio.shield(
            finish_turn(
                store,
                context.database,
                info,
                relay.transcript,
                code="interrupted",
                error="The worker was stopped while this reply was streaming.",
            )
        )
        raise
    except Exception as exc:
        log.exception("turn %s failed", turn_id)
        await relay.settle()
        try:
            await finish_turn(
                store,
                context.database,
                info,
                relay.transcript,
                code="agent_error",
                error=f"Internal error: {type(exc).__name__}.",
            )
        except RedisError:
            # Redis is away: once it is back, a reaper sees no heartbeat and ends the turn as interrupted.
            log.warning("turn %s: Redis unavailable; a reaper will end it", turn_id)
        return "error"
    finally:
        context.cancels.pop(turn_id, None)
