"""Run one claimed turn on the thread's live agent; its events become numbered wire events.

Every agent event becomes a wire event with the next ``seq``, published to the turn's channel and
replay log in one round trip per read of the agent's output (so deltas that arrive together go
out as one ``token``). The assistant message is written every few seconds and at the end. A turn
comes from the shared arq queue or from this worker's inbox (its thread's live agent is here).
Approval requests and their answers go through :mod:`sandchat_worker.turn_approvals`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry.context import Context
from redis.exceptions import RedisError
from sandchat import metrics, threads, tracing, wire
from sandchat.agent_cli import Fork, PermissionMode
from sandchat.logs import turn_context
from sandchat.transcript import Transcript
from sandchat.turns import Turns
from sandchat.turns.ending import TurnResult, finish_turn
from sandchat.turns.outcomes import PERSON_LOGIN_REFUSED, SHUTDOWN, THREAD_GONE, Ending, agent_ending, failed
from sandchat.turns.store import TurnInfo, TurnStart

from sandchat_worker.agent_control import PermissionRule, parse_rule
from sandchat_worker.agent_events import (
    AgentEvent,
    ApprovalRequest,
    ApprovalWithdrawn,
    TextDelta,
    ToolOutput,
    ToolUse,
    TurnOutcome,
    wire_event,
)
from sandchat_worker.agent_people import AgentPeople
from sandchat_worker.agent_pool import AgentPool
from sandchat_worker.agent_session import AgentSpec, LiveAgent
from sandchat_worker.agent_turn import StampedText
from sandchat_worker.progress_writer import ProgressWriter
from sandchat_worker.turn_approvals import expire_unanswered

log = logging.getLogger(__name__)

# A long reply's text so far is written to the database this often while it streams (the replay log holds
# the rest); the writes of all of a worker's turns go out together (progress_writer).
FLUSH_INTERVAL_S: Final = 3.0


@dataclass(slots=True)
class RunningTurn:
    """What the worker's control listener needs to reach a turn it runs."""

    info: TurnInfo | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    agent: LiveAgent | None = None
    publisher: TurnPublisher | None = None
    # One answer at a time reaches the agent (a person's, or an expiry's): see turn_approvals.
    answering: asyncio.Lock = field(default_factory=asyncio.Lock)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


@dataclass(slots=True)
class WorkerContext:
    """What every turn of one worker process shares."""

    worker_id: str
    turns: Turns
    pool: AgentPool
    inactivity_timeout_s: float
    default_mode: PermissionMode
    approval_timeout_s: float | None = None
    running: dict[str, RunningTurn] = field(default_factory=dict)
    people: AgentPeople = field(default_factory=AgentPeople)
    # When a turn on the service's own login last ended complete (time.monotonic()): the probe may wait.
    agent_answered_at: float = float("-inf")
    # The text so far of this worker's streaming replies, written together.
    progress: ProgressWriter = field(init=False)

    def __post_init__(self) -> None:
        self.progress = ProgressWriter(self.turns.database)


class TurnPublisher:
    """Turns agent events into numbered wire events, publishes them, and keeps the transcript.

    Publishing is serialised: an approval's answer, published from another task, takes the next
    ``seq`` after everything published before it (the replay log refuses a seq out of order).
    """

    def __init__(self, context: WorkerContext, info: TurnInfo, running: RunningTurn, last_seq: int) -> None:
        self.context = context
        self.info = info
        self.running = running
        self.transcript = Transcript(last_seq=last_seq)
        self._publishing = asyncio.Lock()
        self._flushed_at = time.monotonic()
        # Approval requests of this turn that wait for a person (sandchat_approvals_pending).
        self.open_requests: set[str] = set()
        self._output_seen = False

    def _next(self) -> int:
        self.transcript.last_seq += 1
        return self.transcript.last_seq

    def _encode(self, event: AgentEvent) -> bytes:
        if isinstance(event, TextDelta):
            self.transcript.add_text(event.text)
        elif isinstance(event, ToolUse):
            self.transcript.add_tool(event.tool_use_id, event.name, event.input)
        elif isinstance(event, ToolOutput):
            self.transcript.add_tool_result(event.tool_use_id, event.output, event.is_error)
        frame = wire.encode(wire_event(event, self.info.thread_id, self.info.turn_id, self._next()))
        if isinstance(event, StampedText):  # benchmarks only: pass the agent's stamp to the client
            return frame[:-1] + b',"stamp":' + repr(event.stamp).encode() + b"}"
        return frame

    async def on_events(self, batch: Sequence[AgentEvent]) -> None:
        approvals = self.context.turns.approvals
        if not self._output_seen:
            self._output_seen = True
            tracing.event("agent.first_output")
        async with self._publishing:
            frames: list[tuple[int, bytes]] = []
            for event in batch:
                if isinstance(event, ApprovalWithdrawn):
                    await self._publish(frames)
                    frames = []
                    await self._resolve(event.request_id, "cancelled")
                    continue
                if isinstance(event, ApprovalRequest):
                    # Recorded (the turn waits) before anyone can see it: an answer always finds it.
                    await approvals.ask(self.info.turn_id, event.request_id)
                    self.open_requests.add(event.request_id)
                    self.running.spawn(expire_unanswered(self.context, self.running, event.request_id))
                frame = self._encode(event)
                frames.append((self.transcript.last_seq, frame))
            await self._publish(frames)
        if time.monotonic() - self._flushed_at >= FLUSH_INTERVAL_S:
            self._flushed_at = time.monotonic()
            self.context.progress.put(self.info.message_id, self.transcript.text)

    async def resolve(self, request_id: str, resolution: wire.Resolution) -> None:
        """Say how a request ended (once): `approval_answered` to every follower of the turn."""
        async with self._publishing:
            await self._resolve(request_id, resolution)

    async def _resolve(self, request_id: str, resolution: wire.Resolution) -> None:
        self.open_requests.discard(request_id)
        if await self.context.turns.approvals.resolve(self.info.turn_id, request_id, resolution):
            info = self.info
            answered = wire.ApprovalAnswered(info.thread_id, info.turn_id, self._next(), request_id, resolution)
            await self._publish([(self.transcript.last_seq, wire.encode(answered))])

    async def _publish(self, frames: list[tuple[int, bytes]]) -> None:
        if frames:
            await self.context.turns.store.publish(self.info.turn_id, frames)

    async def settle(self) -> None:
        """The turn is ending, its agent let go: an answer still being delivered is announced first (its
        ``approval_answered`` takes its seq before the final event), and no progress write is due (the
        final write holds the whole text)."""
        async with self.running.answering:  # later deliveries find no agent and do nothing
            self.context.progress.forget(self.info.message_id)


@dataclass(frozen=True, slots=True)
class _Loaded:
    prompt: str
    # The person whose turn this is (their workspace and agent login are theirs alone).
    owner_id: str
    session_id: str | None
    permission_mode: PermissionMode
    allowed_rules: list[PermissionRule]
    # A thread made by editing a message, before its first turn: the session it starts from.
    fork: Fork | None = None


async def _load_turn(context: WorkerContext, info: TurnInfo) -> _Loaded | None:
    """What the turn's agent starts with: as the gateway stored it with the turn (no database read on the
    way to the first token), else from the database (``None``: the thread was deleted meanwhile)."""
    start = info.start
    if start is None:
        async with context.turns.database.reading() as session:
            prompt = await threads.get_message(session, info.user_message_id)
            thread = await threads.get_thread(session, info.thread_id)
        if prompt is None or thread is None:
            return None
        start = TurnStart.of(thread, prompt.content)
    mode: PermissionMode = start.permission_mode or context.default_mode  # type: ignore[assignment]
    rules = [rule for value in start.allowed_tools if (rule := parse_rule(value)) is not None]
    fork = None
    if start.session_id is None and start.fork_session_id is not None:
        fork = Fork(start.fork_session_id, start.fork_at_entry)
    return _Loaded(start.prompt, start.owner_id, start.session_id, mode, rules, fork)


async def run_turn(ctx: dict[str, Any], turn_id: str) -> str:
    """arq's entry point (the shared queue); the inbox calls :func:`run_claimed_turn` the same way."""
    context: WorkerContext = ctx["sandchat"]
    return await run_claimed_turn(context, turn_id)


async def run_claimed_turn(context: WorkerContext, turn_id: str) -> str:
    """Claim the turn and run it to its end; returns its outcome (``done`` or the error code)."""
    # Reachable by a cancel before the claim: one sent earlier is seen by the claim, later ones by the listener.
    running = context.running.setdefault(turn_id, RunningTurn())
    try:
        claimed = await context.turns.store.claim(turn_id, context.worker_id)
        if claimed is None:
            log.info("turn %s already ended or taken before this worker claimed it", turn_id)
            return "skipped"
        info = running.info = claimed.info
        parent = _queue_waited(info)
        span = tracing.tracer().start_as_current_span(
            "turn.run", context=parent, attributes={"turn_id": turn_id, "thread_id": info.thread_id}
        )
        with turn_context(turn_id, info.thread_id), span:
            log.info("turn %s of thread %s: claimed by this worker", turn_id, info.thread_id)
            if claimed.cancel_requested:
                running.stop.set()
            return await _run(context, info, claimed.last_seq, running)
    finally:
        context.running.pop(turn_id, None)
        for task in list(running.tasks):
            task.cancel()


def _queue_waited(info: TurnInfo) -> Context | None:
    """Record the turn's wait in the queue (metric, and a span in the gateway's trace); that trace's context."""
    parent = tracing.parent_context(info.trace)
    if info.queued_at:
        metrics.QUEUE_WAIT.observe(max(0.0, time.time() - info.queued_at))
        if parent is not None:
            tracing.tracer().start_span("turn.queued", context=parent, start_time=int(info.queued_at * 1e9)).end()
    return parent


async def _run(context: WorkerContext, info: TurnInfo, last_seq: int, running: RunningTurn) -> str:
    turns = context.turns
    publisher = running.publisher = TurnPublisher(context, info, running, last_seq)
    # A new session's id, written while the turn runs (not on the way to its first token) and settled
    # before the turn ends, however it ends: a turn stopped early stays resumable.
    remembering: asyncio.Task[None] | None = None
    try:
        loaded = await _load_turn(context, info)
        if loaded is None:  # the thread was deleted while the turn waited
            await finish_turn(turns, info, publisher.transcript, THREAD_GONE)
            return THREAD_GONE.outcome
        user = await context.people.agent_user(loaded.owner_id)
        if isinstance(user, Ending):  # a person whose agent cannot log in: no agent starts
            await finish_turn(turns, info, publisher.transcript, user)
            return user.outcome
        with tracing.tracer().start_as_current_span("agent.start"):
            agent = await context.pool.checkout(
                AgentSpec(
                    info.thread_id,
                    loaded.session_id,
                    loaded.permission_mode,
                    loaded.allowed_rules,
                    user=user,
                    fork=loaded.fork,
                )
            )
        try:
            running.agent = agent
            if agent.session_id != loaded.session_id:
                remembering = asyncio.create_task(_remember_session(context, info, agent.session_id))
            with tracing.tracer().start_as_current_span("agent.turn"):
                outcome = await agent.run_turn(
                    loaded.prompt,
                    on_events=publisher.on_events,
                    stop=running.stop,
                    inactivity_timeout_s=context.inactivity_timeout_s,
                )
        finally:
            running.agent = None
            context.pool.checkin(agent)
        await publisher.settle()
        await _settle_session(info, remembering)
        ending, result = _conclude(context, user is not None, outcome)
        with tracing.tracer().start_as_current_span("turn.end", attributes={"outcome": ending.outcome}):
            await finish_turn(turns, info, publisher.transcript, ending, result)
        return ending.outcome
    except asyncio.CancelledError:
        # The worker is shutting down: say so and free the thread (its agent is ended with the pool).
        await publisher.settle()
        await _settle_session(info, remembering)
        await asyncio.shield(finish_turn(turns, info, publisher.transcript, SHUTDOWN))
        raise
    except Exception as exc:
        log.exception("turn %s failed", info.turn_id)
        await publisher.settle()
        await _settle_session(info, remembering)
        try:
            await finish_turn(turns, info, publisher.transcript, failed(f"Internal error: {type(exc).__name__}."))
        except RedisError:
            metrics.BACKEND_ERRORS.labels("redis", "turn_end").inc()
            # Redis is away: once it is back, a reaper sees no heartbeat and ends the turn as interrupted.
            log.warning("turn %s: Redis unavailable; a reaper will end it", info.turn_id)
        return "agent_error"


def _conclude(context: WorkerContext, own_login: bool, outcome: TurnOutcome) -> tuple[Ending, TurnResult]:
    """How the turn ends, given its agent's outcome (``own_login``: the person's login, not the service's)."""
    _count_agent(outcome)
    if not own_login and outcome.kind == "complete":
        context.agent_answered_at = time.monotonic()  # the service's own login works
    ending = agent_ending(outcome.kind, outcome.error, inactivity_timeout_s=context.inactivity_timeout_s)
    if own_login and outcome.kind == "unauthenticated":
        ending = PERSON_LOGIN_REFUSED
    meta: dict[str, Any] = {"numTurns": outcome.num_turns}
    if outcome.last_entry is not None:
        meta["agentUuid"] = outcome.last_entry  # where an edit of the next message forks the session
    return ending, TurnResult(outcome.session_id, outcome.cost_usd, outcome.duration_ms, meta)


def _count_agent(outcome: TurnOutcome) -> None:
    metrics.AGENT_EXITS.labels(outcome.kind).inc()
    for usage in outcome.model_usage:
        metrics.AGENT_COST.labels(usage.model).inc(max(usage.cost_usd, 0.0))
        metrics.AGENT_TOKENS.labels(usage.model, "input").inc(max(usage.input_tokens, 0))
        metrics.AGENT_TOKENS.labels(usage.model, "output").inc(max(usage.output_tokens, 0))


async def _remember_session(context: WorkerContext, info: TurnInfo, session_id: str) -> None:
    """A new session is the thread's from its first turn on: a turn stopped early stays resumable."""
    async with context.turns.database.transaction() as session:
        await threads.set_session_id(session, info.thread_id, session_id)


async def _settle_session(info: TurnInfo, remembering: asyncio.Task[None] | None) -> None:
    """Wait for the session's write; a failed one is left to the turn's final write (it stores the session too)."""
    if remembering is None:
        return
    try:
        await asyncio.shield(remembering)
    except Exception as exc:
        metrics.BACKEND_ERRORS.labels("database", "session_write").inc()
        log.warning("turn %s: its session could not be stored now (%s)", info.turn_id, type(exc).__name__)
