"""A live agent: one long-lived CLI process per active thread, many turns, approvals, stop without loss.

    agent = await LiveAgent.start(runner, AgentSpec(thread_id, session_id, "default", allowed_rules))
    outcome = await agent.run_turn(prompt, on_events=..., stop=stop, inactivity_timeout_s=600)
    # meanwhile, from another task: await agent.answer(request_id, "allow")

A turn is one user message on stdin and ends at that turn's `result`. When the agent asks before a
tool, an :class:`~sandchat_worker.agent_events.ApprovalRequest` goes through ``on_events`` and the
turn waits (its inactivity timeout does not run) until :meth:`LiveAgent.answer` or until the CLI
withdraws it (:class:`~sandchat_worker.agent_events.ApprovalWithdrawn`); every request ends one of
those two ways, also when the turn ends early. ``stop`` set → the CLI's ``interrupt``: the turn ends
``cancelled`` with its partial text and the process stays for the next message; no `result` within
:data:`INTERRUPT_GRACE_S` → the process group is killed. A process that died (killed, crashed) is
replaced at the next turn by one that resumes the session; a session the CLI no longer has is
replaced by a new one in the same turn. Agent problems never raise: they are the outcome's kind.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from sandchat.agent_cli import Fork, PermissionMode, live_args
from sandchat.agent_process import AgentStartError
from sandchat.agent_users import AgentUser
from sandchat.wire import Decision

from sandchat_worker.agent_control import PermissionRule, approval_answer, rule_flag, user_message
from sandchat_worker.agent_events import AgentEvent, ApprovalRequest, ApprovalWithdrawn, TextDelta, TurnOutcome
from sandchat_worker.agent_live_process import AuthFailed, Exited, LiveProcess, TurnEnded, TurnItem
from sandchat_worker.agent_outcome import CANCELLED_MESSAGE, Stop, TurnEnding, turn_outcome
from sandchat_worker.agent_runners import AgentRunner
from sandchat_worker.agent_turn import EXIT_WAIT_S

log = logging.getLogger(__name__)

OnEvents = Callable[[Sequence[AgentEvent]], Awaitable[None]]

# After an interrupt, how long the CLI has to end the turn before its process group is killed.
INTERRUPT_GRACE_S: Final = 3.0
# How long an answer to our set_permission_mode may take.
CONTROL_TIMEOUT_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """Which agent a thread's turn wants: its session, permission mode and rules, and whose it is."""

    thread_id: str
    # The session to resume; None: any (a live agent keeps its own, a new one starts a new session).
    session_id: str | None
    permission_mode: PermissionMode
    allowed_rules: Sequence[PermissionRule] = ()
    # Whose agent (their directories and login); None: the operator's, in the workspace.
    user: AgentUser | None = None
    # A new session starts as a copy of this one's history.
    fork: Fork | None = None


@dataclass(frozen=True, slots=True)
class ApprovalAnswer:
    """What became of a person's answer."""

    # False: the request was no longer waiting (answered, withdrawn, its turn over, the agent gone).
    delivered: bool
    # "Allow always": the rules the session now allows; store them on the thread.
    granted: tuple[PermissionRule, ...] = ()


class LiveAgent:
    def __init__(self, runner: AgentRunner, spec: AgentSpec) -> None:
        self.runner = runner
        self.thread_id = spec.thread_id
        # Whose agent this is (their directories and login); None: the operator's, in the workspace.
        self.user = spec.user
        # Known before the first turn (a new session gets its id from us), so a turn stopped early stays resumable.
        self.session_id = spec.session_id or str(uuid.uuid4())
        self.permission_mode: PermissionMode = spec.permission_mode
        self.allowed_rules: list[PermissionRule] = list(spec.allowed_rules)
        self.idle_since = time.monotonic()
        # False until a process has started on the session: the CLI creates it rather than resumes it.
        self._resume = spec.session_id is not None
        # Until the first process has started: the session this one is forked from.
        self._fork: Fork | None = None if self._resume else spec.fork
        self._process: LiveProcess | None = None
        self._not_started: str | None = None
        self._approvals: dict[str, ApprovalRequest] = {}
        self._answered = asyncio.Event()
        self._busy = False
        self._closed = False
        self._exit_watch: asyncio.Future[int] | None = None
        # Called (synchronously) whenever a process of this agent ends; the pool uses it to notice crashes.
        self.on_exit: Callable[[LiveAgent], None] | None = None

    @classmethod
    async def start(cls, runner: AgentRunner, spec: AgentSpec) -> LiveAgent:
        """Start the CLI for a thread (as ``spec.user``'s agent): resume ``spec.session_id``, or a new
        session when None (a copy of ``spec.fork``'s history when given). Never raises for an agent that
        cannot start: its first turn then ends ``offline``."""
        agent = cls(runner, spec)
        await agent._spawn()
        return agent

    @property
    def alive(self) -> bool:
        """The process runs (a dead one is replaced at the next turn)."""
        return self._process is not None and self._process.alive

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def pending_approvals(self) -> list[ApprovalRequest]:
        return list(self._approvals.values())

    async def run_turn(
        self, prompt: str, *, on_events: OnEvents, stop: asyncio.Event, inactivity_timeout_s: float
    ) -> TurnOutcome:
        """Run one turn to its `result`; agent problems come back as the outcome's kind, never as exceptions."""
        if self._busy or self._closed:
            raise RuntimeError("a live agent runs one turn at a time, and none once closed")
        self._busy = True
        try:
            if stop.is_set():  # stopped before it started: nothing was sent, the agent is untouched
                return TurnOutcome("cancelled", "", self.session_id, error=CANCELLED_MESSAGE)
            ending = await self._turn(prompt, on_events, stop, inactivity_timeout_s)
            result = ending.result
            if self._resume and result is not None and result.is_stale_session and not ending.text:
                # The CLI lost the thread's session (new sandbox, wiped home): a new one, in this turn.
                log.info("thread %s: agent session %s is gone; starting a new one", self.thread_id, self.session_id)
                await self._respawn(new_session=True)
                ending = await self._turn(prompt, on_events, stop, inactivity_timeout_s)
            return turn_outcome(ending, self.session_id, inactivity_timeout_s)
        finally:
            self._busy = False
            self.idle_since = time.monotonic()

    async def answer(
        self, request_id: str, decision: Decision, message: str | None = None, answers: dict[str, str] | None = None
    ) -> ApprovalAnswer:
        """Answer a waiting request: allow (with AskUserQuestion's ``answers``), allow always, or deny (``message``
        is the reason the agent reads). The first answer wins; later ones are not delivered."""
        request = self._approvals.pop(request_id, None)
        process = self._process
        if request is None or process is None or not process.alive:
            return ApprovalAnswer(delivered=False)
        line, granted = approval_answer(request, decision, message, answers)
        delivered = await process.write(line)
        if delivered:
            self.allowed_rules += [rule for rule in granted if rule not in self.allowed_rules]
        elif self._busy:
            # The CLI is gone: the turn ends at once, and the request with it (withdrawn).
            self._approvals.setdefault(request_id, request)
        self._answered.set()
        return ApprovalAnswer(delivered, tuple(granted) if delivered else ())

    async def set_permission_mode(self, mode: PermissionMode) -> bool:
        """Switch the mode between turns: in the running process when the CLI accepts (True), else by
        restarting it on the same session with the new mode (False; e.g. into bypassPermissions)."""
        if self._busy:
            raise RuntimeError("the permission mode changes between turns")
        if mode == self.permission_mode:
            return True
        process = self._process
        if process is not None and process.alive:
            answer = await process.request("set_permission_mode", CONTROL_TIMEOUT_S, mode=mode)
            if answer is not None and answer.error is None:
                self.permission_mode = mode
                return True
            log.info("thread %s: the agent refused mode %s; restarting it", self.thread_id, mode)
        self.permission_mode = mode
        await self._respawn(new_session=False)
        return False

    async def close(self) -> None:
        """End the process and whatever it started; the session stays resumable by a new LiveAgent."""
        self._closed = True
        if self._process is not None:
            await self._process.close()

    async def _spawn(self) -> None:
        args = live_args(
            self.session_id,
            resume=self._resume,
            permission_mode=self.permission_mode,
            allowed_tools=[rule_flag(rule) for rule in self.allowed_rules],
            fork=self._fork,
        )
        try:
            self._process = await LiveProcess.start(
                self.runner, args, self.user
            )  # off the event loop, like a one-shot turn
        except AgentStartError as exc:
            self._process = None
            self._not_started = str(exc)
            return
        self._not_started = None
        # From now on the session is this process's: a later process resumes it.
        self._resume = True
        self._fork = None
        self._exit_watch = asyncio.ensure_future(self._process.wait())
        self._exit_watch.add_done_callback(self._exited)

    def _exited(self, _: asyncio.Future[int]) -> None:
        if self.on_exit is not None:
            self.on_exit(self)

    async def _respawn(self, *, new_session: bool) -> None:
        if self._process is not None:
            await self._process.kill()
        if new_session:
            self.session_id, self._resume = str(uuid.uuid4()), False
        await self._spawn()

    async def _turn(self, prompt: str, on_events: OnEvents, stop: asyncio.Event, timeout_s: float) -> TurnEnding:
        if self._process is None or not self._process.alive:
            await self._respawn(new_session=False)
        process = self._process
        if process is None:
            return TurnEnding(not_started=self._not_started)
        ending = TurnEnding()
        try:
            await process.write(user_message(prompt))  # a CLI that cannot read it shows up as Exited
            ending.stopped = await self._follow(process, ending, on_events, stop, timeout_s)
        except BaseException:
            # A failing on_events or a cancelled job: never leave the agent working unseen.
            self._approvals.clear()
            await process.kill()
            raise
        # Requests nobody can answer any more (the process was killed or died) end as withdrawn.
        withdrawn: list[AgentEvent] = [ApprovalWithdrawn(request_id) for request_id in self._approvals]
        self._approvals.clear()
        if withdrawn:
            await on_events(withdrawn)
        if not process.alive:
            try:
                async with asyncio.timeout(EXIT_WAIT_S):
                    await process.wait()
            except TimeoutError:
                await process.kill()
        ending.session_id = process.parser.session_id
        ending.last_entry = ending.last_entry or process.parser.last_entry
        ending.returncode = process.process.returncode
        ending.stderr_tail = bytes(process.stderr_tail)
        return ending

    async def _follow(
        self, process: LiveProcess, ending: TurnEnding, on_events: OnEvents, stop: asyncio.Event, timeout_s: float
    ) -> Stop | None:
        """Relay the turn's items until its end; returns why it stopped early, or None."""
        stopping_since: float | None = None
        stopped = asyncio.ensure_future(stop.wait())
        waiting = _ItemWait(process, stopped)
        try:
            while True:
                if stopped.done() and stopping_since is None:
                    stopping_since = time.monotonic()
                    await process.interrupt()
                if stopping_since is None and not self._approvals:
                    # The usual wait, once per read of the agent's output: no task, no timer of its own.
                    item = await waiting.next(timeout_s)
                    if item is None:
                        if stopped.done():
                            continue
                        await process.kill()
                        return "timeout"
                    if (stopped_early := await self._on_item(process, item, ending, on_events, None)) != "more":
                        return stopped_early
                    continue
                waits: set[asyncio.Future[Any]] = {getting := asyncio.ensure_future(process.items.get())}
                answered: asyncio.Future[Any] | None = None
                if stopping_since is not None:
                    timeout: float | None = max(0.0, stopping_since + INTERRUPT_GRACE_S - time.monotonic())
                elif self._approvals:
                    # Waiting for a person: no inactivity timeout, but an answer restarts it.
                    timeout = None
                    self._answered.clear()
                    waits.add(answered := asyncio.ensure_future(self._answered.wait()))
                else:
                    timeout = timeout_s
                if stopping_since is None:
                    waits.add(stopped)
                done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if answered is not None:
                    answered.cancel()
                if getting not in done:
                    getting.cancel()  # an item that arrived meanwhile stays in the queue
                    if done:
                        continue  # stop was asked, or a person answered
                    await process.kill()
                    return "cancelled" if stopping_since is not None else "timeout"
                if (
                    stopped_early := await self._on_item(process, getting.result(), ending, on_events, stopping_since)
                ) != "more":
                    return stopped_early
        finally:
            waiting.close()
            stopped.cancel()

    async def _on_item(
        self,
        process: LiveProcess,
        item: TurnItem,
        ending: TurnEnding,
        on_events: OnEvents,
        stopping_since: float | None,
    ) -> Stop | Literal["more"] | None:
        """Relay one item of the turn; ``"more"`` while the turn goes on, else why it ended (None: its result)."""
        if isinstance(item, list):
            if relayed := self._track(item, ending):
                await on_events(relayed)
            return "more"
        if isinstance(item, TurnEnded):
            ending.result, ending.last_entry = item.result, item.last_entry
            return "cancelled" if stopping_since is not None and item.result.is_error else None
        if isinstance(item, AuthFailed):
            ending.auth_failed = True
            await process.kill()
            return "unauthenticated"
        assert isinstance(item, Exited)
        return "cancelled" if stopping_since is not None else None

    def _track(self, batch: list[AgentEvent], ending: TurnEnding) -> list[AgentEvent]:
        """Note the batch's text and requests; a withdrawal of a request already answered is dropped."""
        relayed: list[AgentEvent] = []
        for event in batch:
            if isinstance(event, TextDelta):
                ending.text.append(event.text)
            elif isinstance(event, ApprovalRequest):
                self._approvals[event.request_id] = event
            elif isinstance(event, ApprovalWithdrawn) and self._approvals.pop(event.request_id, None) is None:
                continue
            relayed.append(event)
        return relayed


class _ItemWait:
    """Waits for a live process's next item, a stop, or the inactivity limit, at the cost of one future.

    A turn waits once per read of the agent's output; a task per ``Queue.get`` and ``asyncio.wait``
    with a fresh timer each time cost more than relaying the token. The limit is one timer per
    turn instead, moved forward lazily: when it fires before the current deadline it re-arms.
    """

    def __init__(self, process: LiveProcess, stopped: asyncio.Future[Any]) -> None:
        self.process = process
        self.stopped = stopped
        self.loop = asyncio.get_running_loop()
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._wake: asyncio.Future[None] | None = None

    async def next(self, timeout_s: float) -> TurnItem | None:
        """The next item; None when stopped or when ``timeout_s`` passed without one."""
        items = self.process.items
        if items.empty():
            wake = self._wake = self.loop.create_future()
            self.process.item_arrived = wake
            self.stopped.add_done_callback(self._woken)
            self._deadline = self.loop.time() + timeout_s
            if self._timer is None:
                self._timer = self.loop.call_at(self._deadline, self._expire)
            try:
                await wake
            finally:
                self.stopped.remove_done_callback(self._woken)
                self.process.item_arrived = self._wake = None
            if items.empty():
                return None
        return items.get_nowait()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _woken(self, _: object = None) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _expire(self) -> None:
        self._timer = None
        if self._wake is None:
            return  # not waiting: the next wait arms it again
        if self.loop.time() < self._deadline:
            self._timer = self.loop.call_at(self._deadline, self._expire)
            return
        self._woken()
