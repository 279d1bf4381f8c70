"""Helpers for live-agent tests: a person answering approvals, agents that are always cleaned up,
and the check that an agent's process group is really gone."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil
from sandchat.agent_cli import Fork, PermissionMode
from sandchat.agent_users import AgentUser
from sandchat.wire import Decision
from sandchat_worker.agent_control import PermissionRule
from sandchat_worker.agent_events import AgentEvent, ApprovalRequest, ApprovalWithdrawn, TurnOutcome
from sandchat_worker.agent_runners import AgentRunner
from sandchat_worker.agent_session import AgentSpec, ApprovalAnswer, LiveAgent

from tests.worker.conftest import EventsOf, Recorder

TIMEOUT_S = 60.0


@dataclass
class Person(Recorder):
    """on_events of a live turn: records what streams and answers each request from another task,
    as someone clicking in the chat would. ``decision`` None leaves requests waiting."""

    agent: LiveAgent | None = None
    decision: Decision | None = "allow"
    message: str | None = None
    answers: dict[str, str] | None = None
    asked: asyncio.Event = field(default_factory=asyncio.Event)
    replies: list[ApprovalAnswer] = field(default_factory=list)
    _answering: set[asyncio.Task[None]] = field(default_factory=set)

    requests = EventsOf(ApprovalRequest)
    withdrawn = EventsOf(ApprovalWithdrawn)

    async def __call__(self, events: Sequence[AgentEvent]) -> None:
        await super().__call__(events)
        for event in events:
            if isinstance(event, ApprovalRequest):
                self.asked.set()
                if self.decision is not None:
                    task = asyncio.create_task(self._answer(event.request_id, self.decision))
                    self._answering.add(task)
                    task.add_done_callback(self._answering.discard)

    async def _answer(self, request_id: str, decision: Decision) -> None:
        assert self.agent is not None
        self.replies.append(await self.agent.answer(request_id, decision, self.message, self.answers))


class LiveAgents:
    """Starts agents for a test and ends them all after it, checking no process of theirs is left."""

    def __init__(self) -> None:
        self.agents: list[LiveAgent] = []
        self.groups: set[int] = set()

    async def start(
        self,
        runner: AgentRunner,
        session_id: str | None = None,
        permission_mode: PermissionMode = "default",
        allowed_rules: Sequence[PermissionRule] = (),
        *,
        user: AgentUser | None = None,
        thread_id: str = "thread-1",
        fork: Fork | None = None,
    ) -> LiveAgent:
        agent = await LiveAgent.start(
            runner, AgentSpec(thread_id, session_id, permission_mode, allowed_rules, user=user, fork=fork)
        )
        self.agents.append(agent)
        self.note(agent)
        return agent

    def note(self, agent: LiveAgent) -> None:
        """Remember the agent's current process group (call again after it may have been replaced)."""
        if agent.pid is not None:
            self.groups.add(agent.pid)

    async def close(self) -> None:
        for agent in self.agents:
            self.note(agent)
            await agent.close()
        left = [pgid for pgid in self.groups if group_alive(pgid)]
        assert not left, f"process groups of ended agents still alive: {left}"


async def run_turn(
    agent: LiveAgent, prompt: str, person: Person | None = None, stop: asyncio.Event | None = None, **options: Any
) -> TurnOutcome:
    person = person if person is not None else Person()
    person.agent = agent
    return await asyncio.wait_for(
        agent.run_turn(
            prompt,
            on_events=person,
            stop=stop or asyncio.Event(),
            inactivity_timeout_s=options.get("inactivity_timeout_s", TIMEOUT_S),
        ),
        TIMEOUT_S,
    )


async def stop_at(event: asyncio.Event, stop: asyncio.Event) -> None:
    """Set ``stop`` once ``event`` happened (e.g. the first text arrived)."""
    await asyncio.wait_for(event.wait(), TIMEOUT_S)
    stop.set()


def group_alive(pgid: int) -> bool:
    """Does any process (not a zombie) of this process group still run?"""
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False
