"""The worker's pool of live agents (with the simulator): reuse, the cap and who is ended for it,
idle end, crashes, shutdown, and the start/end callbacks that say which threads a worker holds."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

import pytest
from sandchat_worker.agent_control import PermissionRule
from sandchat_worker.agent_pool import AgentPool
from sandchat_worker.agent_runners import SimulatorRunner
from sandchat_worker.agent_session import AgentSpec, LiveAgent

from tests.worker.live_agents import TIMEOUT_S, group_alive, run_turn


@dataclass
class Holdings:
    """What a registry of thread → worker would be told."""

    started: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    groups: set[int] = field(default_factory=set)

    async def on_start(self, thread_id: str) -> None:
        async with self.changed:
            self.started.append(thread_id)
            self.changed.notify_all()

    async def on_end(self, thread_id: str) -> None:
        async with self.changed:
            self.ended.append(thread_id)
            self.changed.notify_all()

    def note(self, agent: LiveAgent) -> None:
        """Remember the agent's process group: none may be left alive after the test."""
        assert agent.pid is not None
        self.groups.add(agent.pid)

    async def until_ended(self, *thread_ids: str) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: set(thread_ids) <= set(self.ended)), TIMEOUT_S)


class MakePool(Protocol):
    def __call__(self, max_agents: int = 4, idle_s: float = 600) -> AgentPool: ...


@pytest.fixture
def holdings() -> Holdings:
    return Holdings()


@pytest.fixture
async def make_pool(holdings: Holdings) -> AsyncIterator[MakePool]:
    pools: list[AgentPool] = []

    def make(max_agents: int = 4, idle_s: float = 600) -> AgentPool:
        pool = AgentPool(
            SimulatorRunner(), max_agents=max_agents, idle_s=idle_s, on_start=holdings.on_start, on_end=holdings.on_end
        )
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close_all()
    assert not [pgid for pgid in holdings.groups if group_alive(pgid)]


@pytest.fixture
def pool(make_pool: MakePool) -> AgentPool:
    """A pool with the default cap and idle time."""
    return make_pool()


async def use(pool: AgentPool, holdings: Holdings, thread_id: str, prompt: str = "hello") -> LiveAgent:
    """One turn on the thread, through the pool."""
    async with pool.agent(AgentSpec(thread_id, None, "default")) as agent:
        holdings.note(agent)
        outcome = await run_turn(agent, prompt)
        assert outcome.kind == "complete", outcome.error
    return agent


async def test_a_threads_agent_is_reused_turn_after_turn(pool: AgentPool, holdings: Holdings) -> None:
    first = await use(pool, holdings, "t1")
    second = await use(pool, holdings, "t1")
    assert second is first
    assert holdings.started == ["t1"]
    assert holdings.ended == []


async def test_at_the_cap_the_longest_idle_agent_ends_first(make_pool: MakePool, holdings: Holdings) -> None:
    pool = make_pool(max_agents=2)
    await use(pool, holdings, "t1")
    await use(pool, holdings, "t2")
    await use(pool, holdings, "t1")  # t2 is now the longest idle
    await use(pool, holdings, "t3")
    await holdings.until_ended("t2")
    assert holdings.ended == ["t2"]
    assert (pool.get("t1") is not None, pool.get("t2") is None, pool.get("t3") is not None) == (True, True, True)


async def test_an_agent_in_use_is_never_ended_for_the_cap(make_pool: MakePool, holdings: Holdings) -> None:
    pool = make_pool(max_agents=1)
    busy = await pool.checkout(AgentSpec("t1", None, "default"))
    holdings.note(busy)
    other = await use(pool, holdings, "t2")
    assert busy.alive
    assert holdings.ended == []
    assert other.pid is not None
    # Back under the cap as soon as the busy one is done: the longest idle (t2) ends.
    pool.checkin(busy)
    await holdings.until_ended("t2")
    assert pool.get("t1") is busy
    assert len(pool) == 1


async def test_an_idle_agent_ends_after_the_idle_time(make_pool: MakePool, holdings: Holdings) -> None:
    pool = make_pool(idle_s=0.3)
    agent = await use(pool, holdings, "t1")
    await holdings.until_ended("t1")
    assert pool.get("t1") is None
    assert not agent.alive
    assert agent.pid is not None
    assert not group_alive(agent.pid)


async def test_after_an_idle_end_the_next_message_resumes_the_session(make_pool: MakePool, holdings: Holdings) -> None:
    pool = make_pool(idle_s=0.3)
    first = await use(pool, holdings, "t1")
    await holdings.until_ended("t1")
    async with pool.agent(AgentSpec("t1", first.session_id, "default")) as agent:
        holdings.note(agent)
        outcome = await run_turn(agent, "hello again")
    assert agent is not first
    assert outcome.session_id == first.session_id
    assert holdings.started == ["t1", "t1"]


async def test_an_agent_whose_process_died_while_idle_is_let_go(pool: AgentPool, holdings: Holdings) -> None:
    agent = await use(pool, holdings, "t1")
    assert agent.pid is not None
    os.killpg(agent.pid, signal.SIGKILL)
    await holdings.until_ended("t1")
    assert pool.get("t1") is None


async def test_another_session_for_the_thread_starts_another_agent(pool: AgentPool, holdings: Holdings) -> None:
    first = await use(pool, holdings, "t1")
    other_session = await use(pool, holdings, "t2")
    await pool.end("t2")
    async with pool.agent(AgentSpec("t1", other_session.session_id, "default")) as agent:
        holdings.note(agent)
    assert agent is not first
    assert agent.session_id == other_session.session_id
    assert holdings.ended == ["t2", "t1"]


async def test_a_new_permission_mode_is_applied_to_the_running_agent(pool: AgentPool, holdings: Holdings) -> None:
    first = await use(pool, holdings, "t1")
    pid = first.pid
    async with pool.agent(AgentSpec("t1", None, "acceptEdits")) as agent:
        pass
    assert agent is first
    assert (agent.permission_mode, agent.pid) == ("acceptEdits", pid)


async def test_rules_the_process_does_not_know_restart_it_with_them(pool: AgentPool, holdings: Holdings) -> None:
    first = await use(pool, holdings, "t1")
    rule = PermissionRule(toolName="Bash", ruleContent="touch touched.txt")
    async with pool.agent(AgentSpec("t1", None, "default", [rule])) as agent:
        holdings.note(agent)
    assert agent is not first
    assert agent.session_id == first.session_id
    assert agent.allowed_rules == [rule]


async def test_a_second_turn_on_a_busy_thread_is_refused(pool: AgentPool, holdings: Holdings) -> None:
    agent = await pool.checkout(AgentSpec("t1", None, "default"))
    holdings.note(agent)
    with pytest.raises(RuntimeError, match="already has a turn"):
        await pool.checkout(AgentSpec("t1", None, "default"))
    pool.checkin(agent)


async def test_shutdown_ends_every_agent_busy_or_not(pool: AgentPool, holdings: Holdings) -> None:
    await use(pool, holdings, "t1")
    busy = await pool.checkout(AgentSpec("t2", None, "default"))
    holdings.note(busy)
    await pool.close_all()
    assert sorted(holdings.ended) == ["t1", "t2"]
    assert len(pool) == 0
