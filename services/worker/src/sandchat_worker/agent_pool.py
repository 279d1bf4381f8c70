"""The live agents of one worker process: thread id → :class:`~sandchat_worker.agent_session.LiveAgent`.

    async with pool.agent(AgentSpec(thread_id, session_id, mode, allowed_rules)) as agent:
        outcome = await agent.run_turn(...)

A thread's agent is reused turn after turn: a new permission mode is switched in place (or the
process restarted on the same session), a different session or rules the process does not know
start a new agent. Idle agents end after ``idle_s``; at ``max_agents`` the longest-idle one is let go
before another starts, and ends meanwhile (a CLI takes tens of milliseconds or more to exit, which a
new thread's first message must not wait for). An agent in use is never ended for either: when
every agent is busy one more starts, and the excess ends as soon as turns finish (keep the worker's
concurrent jobs at or below ``max_agents`` to stay under it). ``on_start``/``on_end`` say which
threads this worker holds, once each per agent — also for an agent whose process crashed while idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

from sandchat_worker.agent_runners import AgentRunner
from sandchat_worker.agent_session import AgentSpec, LiveAgent

log = logging.getLogger(__name__)

OnThread = Callable[[str], Awaitable[None]]

# A sweep with nothing to wait for still looks again this often (cheap: one pass over a small dict).
MAX_SWEEP_INTERVAL_S: Final = 60.0


class AgentPool:
    def __init__(
        self,
        runner: AgentRunner,
        *,
        max_agents: int,
        idle_s: float,
        on_start: OnThread | None = None,
        on_end: OnThread | None = None,
    ) -> None:
        self.runner = runner
        self.max_agents = max_agents
        self.idle_s = idle_s
        self._on_start = on_start
        self._on_end = on_end
        self._agents: dict[str, LiveAgent] = {}
        self._leased: set[str] = set()
        self._changed = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None
        # Agents let go for the cap and still ending, by thread: the thread's next agent waits for its
        # last one to be gone (one process per session at a time).
        self._ending: dict[str, asyncio.Task[None]] = {}
        # ``on_start`` of each agent, run beside the agent's first turn (it is not on the way to the
        # first token); ``on_end`` of that agent waits for it, so the two are said in order.
        self._starting: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    def __len__(self) -> int:
        return len(self._agents)

    @property
    def threads(self) -> list[str]:
        """The threads whose live agent this worker holds."""
        return list(self._agents)

    def get(self, thread_id: str) -> LiveAgent | None:
        """The thread's live agent, if this worker holds one (e.g. to answer an approval)."""
        return self._agents.get(thread_id)

    @contextlib.asynccontextmanager
    async def agent(self, spec: AgentSpec) -> AsyncIterator[LiveAgent]:
        """:meth:`checkout` for the body of the ``async with``, then :meth:`checkin`."""
        agent = await self.checkout(spec)
        try:
            yield agent
        finally:
            self.checkin(agent)

    async def checkout(self, spec: AgentSpec) -> LiveAgent:
        """The thread's agent for one turn, started or adapted as needed; never ended while in use.

        ``spec.session_id`` None: the live agent's own session is kept (a new agent starts a new one).
        ``spec.user``: whose agent (a changed login starts a new process on the same session)."""
        thread_id = spec.thread_id
        if self._closing:
            raise RuntimeError("the agent pool is closed")
        if thread_id in self._leased:
            raise RuntimeError(f"thread {thread_id} already has a turn on this worker")
        self._leased.add(thread_id)
        try:
            agent = self._agents.get(thread_id)
            if agent is not None and not self._fits(agent, spec):
                # Rules the process does not know, or a login it was not started with: a new one on the
                # same session.
                spec = dataclasses.replace(spec, session_id=spec.session_id or agent.session_id)
                await self._end(agent)
                agent = None
            if agent is None:
                agent = await self._start(spec)
            else:
                await agent.set_permission_mode(spec.permission_mode)
        except BaseException:
            self._leased.discard(thread_id)
            raise
        self._ensure_sweeper()
        return agent

    def checkin(self, agent: LiveAgent) -> None:
        """The turn is over: the agent may idle, be evicted, or be dropped if its process died."""
        self._leased.discard(agent.thread_id)
        agent.idle_since = time.monotonic()
        self._changed.set()

    async def end(self, thread_id: str) -> None:
        """End the thread's agent now (e.g. the thread was deleted)."""
        agent = self._agents.get(thread_id)
        if agent is not None:
            await self._end(agent)

    async def close_all(self) -> None:
        """Shutdown: end every agent, busy or not (a running turn then ends as its process does)."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await asyncio.gather(*(self._end(agent) for agent in list(self._agents.values())), *self._ending.values())

    def _fits(self, agent: LiveAgent, spec: AgentSpec) -> bool:
        if spec.session_id is not None and spec.session_id != agent.session_id:
            return False
        if agent.user != spec.user:
            return False
        return all(rule in agent.allowed_rules for rule in spec.allowed_rules)

    async def _start(self, spec: AgentSpec) -> LiveAgent:
        thread_id = spec.thread_id
        await self._make_room()
        if (ending := self._ending.get(thread_id)) is not None:
            await asyncio.wait({ending})
        agent = await LiveAgent.start(self.runner, spec)
        agent.on_exit = self._on_exit
        self._agents[thread_id] = agent
        self._starting[thread_id] = asyncio.create_task(self._notify(self._on_start, thread_id))
        return agent

    async def _make_room(self) -> None:
        while len(self._agents) >= self.max_agents:
            idle = self._idle_agents()
            if not idle:
                log.warning("all %d live agents are busy: starting one more", len(self._agents))
                return
            agent = idle[0]
            del self._agents[agent.thread_id]
            self._ending[agent.thread_id] = asyncio.create_task(self._close(agent))

    def _idle_agents(self) -> list[LiveAgent]:
        """Agents not in use, longest idle first."""
        idle = [a for a in self._agents.values() if a.thread_id not in self._leased and not a.busy]
        return sorted(idle, key=lambda agent: agent.idle_since)

    async def _end(self, agent: LiveAgent) -> None:
        if self._agents.get(agent.thread_id) is not agent:
            return
        del self._agents[agent.thread_id]
        await self._close(agent)

    async def _close(self, agent: LiveAgent) -> None:
        """End an agent no longer in the pool."""
        agent.on_exit = None
        try:
            await agent.close()
            if (starting := self._starting.pop(agent.thread_id, None)) is not None:
                await starting
            await self._notify(self._on_end, agent.thread_id)
        finally:
            if self._ending.get(agent.thread_id) is asyncio.current_task():
                del self._ending[agent.thread_id]

    def _on_exit(self, agent: LiveAgent) -> None:
        self._changed.set()

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            self._changed.clear()
            wait_s = await self._sweep()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands as the event is set.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._changed.wait()

    async def _sweep(self) -> float:
        """End dead, idle-expired and over-cap agents; returns how long until the next may expire."""
        now = time.monotonic()
        next_expiry = MAX_SWEEP_INTERVAL_S
        idle = self._idle_agents()
        for agent in idle:
            if not agent.alive or now - agent.idle_since >= self.idle_s:
                await self._end(agent)
            else:
                next_expiry = min(next_expiry, agent.idle_since + self.idle_s - now)
        for agent in self._idle_agents()[: max(0, len(self._agents) - self.max_agents)]:
            await self._end(agent)
        return max(0.0, next_expiry)

    async def _notify(self, callback: OnThread | None, thread_id: str) -> None:
        if callback is None:
            return
        try:
            await callback(thread_id)
        except Exception:
            log.exception("agent pool callback failed for thread %s", thread_id)
