"""A person's answer to an approval request, from the turn's control channel to the agent.

The gateway takes the first answer atomically (sandchat.turns.approvals) and tells the worker
running the turn (``approve:<request id>`` on its control channel). Here the answer is read, given
to the live agent, and announced once as ``approval_answered``. An unanswered request expires after
APPROVAL_TIMEOUT_S the same way, as if someone had said no (``expired``). Deliveries of one turn
take turns (a lock), so a person's answer and an expiry never both reach the agent.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

from sandchat import threads
from sandchat.turns.approvals import Answer

from sandchat_worker.agent_control import PermissionRule

if TYPE_CHECKING:
    from sandchat_worker.turn_job import RunningTurn, WorkerContext

log = logging.getLogger(__name__)


def expired_message(timeout_s: float) -> str:
    return f"No one answered within {timeout_s:g} s, so the tool was not allowed."


EXPIRED_DECISION: Final = "deny"


async def deliver_answer(context: WorkerContext, running: RunningTurn, request_id: str) -> None:
    """Give the person's answer to the agent and announce it (a no-op if it was delivered already)."""
    async with running.answering:
        info, agent, publisher = running.info, running.agent, running.publisher
        if info is None or agent is None or publisher is None:
            return
        answer = await context.turns.approvals.answer_of(info.turn_id, request_id)
        if answer is None:
            return  # resolved already, or never asked
        reply = await agent.answer(request_id, answer.decision, answer.message, answer.answers)
        if not reply.delivered:
            return  # withdrawn meanwhile: its withdrawal says so (`cancelled`)
        if reply.granted:
            await _allow_always(context, info.thread_id, list(reply.granted))
        await publisher.resolve(request_id, answer.decision)


async def expire_unanswered(context: WorkerContext, running: RunningTurn, request_id: str) -> None:
    """After APPROVAL_TIMEOUT_S without an answer, tell the agent no, and everyone why."""
    timeout_s = context.approval_timeout_s
    if timeout_s is None:
        return
    await asyncio.sleep(timeout_s)
    async with running.answering:
        info, agent, publisher = running.info, running.agent, running.publisher
        if info is None or agent is None or publisher is None:
            return
        message = expired_message(timeout_s)
        taken = await context.turns.approvals.answer(info.turn_id, request_id, Answer(EXPIRED_DECISION, message))
        if taken != "taken":
            return  # a person answered first (being delivered), or it is over
        reply = await agent.answer(request_id, EXPIRED_DECISION, message)
        if reply.delivered:
            log.info("turn %s: approval request %s expired after %g s", info.turn_id, request_id, timeout_s)
            await publisher.resolve(request_id, "expired")


async def deliver_missed_answers(context: WorkerContext) -> None:
    """After the control channel reconnected: answers given meanwhile are in Redis; deliver them."""
    for turn_id, running in list(context.running.items()):
        for request in await context.turns.approvals.open_requests(turn_id):
            if request.answer is not None:
                running.spawn(deliver_answer(context, running, request.request_id))


async def _allow_always(context: WorkerContext, thread_id: str, rules: list[PermissionRule]) -> None:
    """Rules granted with "Allow always" hold for the thread's later agents too (after an idle end)."""
    try:
        async with context.turns.database.transaction() as session:
            await threads.allow_always(session, thread_id, [dict(rule) for rule in rules])
    except Exception as exc:  # the running agent has them; only a later agent would ask again
        log.warning("thread %s: rules allowed always not stored (%s)", thread_id, type(exc).__name__)
