"""Redis or the database failing at each step of a turn's start, on SQLite and PostgreSQL.

Between taking a thread's lock and handing the turn to a worker, the gateway talks to Redis and
to the database several times. Whichever of those calls fails, and however (refused, answer lost,
an outage), the client gets one clear answer (`started`, or an error), the thread accepts a new
message within a bounded time — started at once, or queued and started once the failed turn has
been ended — and nothing the user wrote is lost: a message the client was told is stored is stored,
and every stored reply ends in a final status.
"""

from __future__ import annotations

import asyncio

import pytest
from sandchat import threads
from sandchat.database import Database
from sandchat.turns.beginning import STORE_FAILED
from sandchat.unavailable import DATABASE_UNAVAILABLE, REDIS_UNAVAILABLE

from tests.e2e.chat_client import before_the_next_answer
from tests.gateway.in_process import (
    Client,
    DatabaseFaults,
    Event,
    InProcessGateway,
    RedisFault,
    RedisFaults,
    eventually,
)
from tests.turns.conftest import new_thread

# The bound: a lost turn noticed by a reaper, its end, and a final write, with room for a loaded machine.
RECOVERY_S = 10.0
# What a failed start is answered, by what failed. Redis failing anywhere is the one error; the
# database failing is "unavailable" while the gateway looks the thread up and "could not be stored"
# once the start itself reads or writes: which of the two depends on the step that failed.
REDIS_ERRORS = {REDIS_UNAVAILABLE}
DATABASE_ERRORS = {DATABASE_UNAVAILABLE, STORE_FAILED}


def _message(thread_id: str, content: str) -> Event:
    return {"type": "message", "threadId": thread_id, "content": content}


async def _answer(client: Client) -> Event:
    """The one answer to a message: `started`, `queued` or an error, and nothing else.

    A `title` is a thread event, not an answer: the title a started turn gave its thread comes when it
    comes, before or after the answer to the next message.
    """
    answer = await client.receive()
    while answer["type"] == "title":
        answer = await client.receive()
    later = await before_the_next_answer(client)
    rest = [event for event in later if event["type"] != "title"]
    assert rest == [], f"more than one answer: {answer} then {rest}"
    return answer


async def _accepts_a_new_message(gateway: InProcessGateway, thread_id: str, what: str) -> Event:
    """A new message starts: at once, or queued behind the failed turn and started once it has ended."""
    client = gateway.client()
    held = await gateway.store.running_turn(thread_id) is not None
    await client.send(_message(thread_id, "and again"))
    answer = await client.receive()
    if held:  # by the failed turn, which a reaper may end before the message arrives: either answer is right
        assert answer["type"] in ("started", "queued"), (what, answer)
    else:  # nothing else sends here: the free thread is still free
        assert answer["type"] == "started", (what, answer)
    if answer["type"] == "started":
        return answer
    async with asyncio.timeout(RECOVERY_S):
        while True:
            event = await client.receive(RECOVERY_S)
            if event["type"] == "started" and event["userMessageId"] == answer["messageId"]:
                return event


async def _stop(gateway: InProcessGateway, thread_id: str) -> None:
    """Stop the thread's turn (no worker runs in these tests) and wait until the thread is free."""
    client = gateway.client()
    await client.send({"type": "cancel", "threadId": thread_id})

    async def free() -> bool:
        return await gateway.store.running_turn(thread_id) is None

    await eventually(free, RECOVERY_S, "the stopped turn frees its thread")
    for each in gateway.clients:  # and their subscriptions: nothing of this start talks to Redis later
        await each.close()
    gateway.clients.clear()


async def _assert_nothing_lost(database: Database, thread_id: str, first: str, answer: Event) -> None:
    """The stored conversation: the first message if it was said to be stored, and only final replies."""

    async def settled() -> list[tuple[str, str, str]] | None:
        async with database.reading() as session:
            stored = [(m.role, m.content, m.status) for m in await threads.list_messages(session, thread_id)]
        return None if any(status == "streaming" for _, _, status in stored) else stored

    stored = await eventually(settled, RECOVERY_S, "every stored reply ends in a final status")
    users = [content for role, content, _ in stored if role == "user"]
    if answer["type"] == "started":
        assert users == [first, "and again"], stored
    else:
        # Not told it was stored, the first message may be stored or not: a fault before the commit
        # loses it, one that loses the commit's answer keeps it (its reply then ends in a final status).
        assert users in ([first, "and again"], ["and again"]), stored
    assert [role for role, _, _ in stored] == ["user", "assistant"] * len(users), stored


async def _check_the_aftermath(
    gateway: InProcessGateway,
    database: Database,
    thread_id: str,
    first: str,
    answer: Event,
    step: int,
    errors: set[str],
) -> None:
    """One clear error (or a start that survived the fault), then a usable thread and nothing lost."""
    if answer["type"] == "started":  # stored; if it could not be dispatched, a reaper ends it
        await _stop(gateway, thread_id)
    else:
        assert answer["type"] == "error", (step, answer)
        assert answer["message"] in errors, (step, answer)
    await _accepts_a_new_message(gateway, thread_id, f"after a failure at step {step} answered {answer}")
    await _stop(gateway, thread_id)
    await _assert_nothing_lost(database, thread_id, first, answer)


async def _redis_steps_of_a_start(faults: RedisFaults, gateway: InProcessGateway, database: Database) -> int:
    """How many Redis commands a healthy start sends, from the lock to `started` (scripts loaded first)."""
    counts = []
    for _ in range(2):
        thread_id = await new_thread(database)
        client = gateway.client()
        before = faults.sent
        await client.send(_message(thread_id, "hello"))
        counts.append(faults.sent - before)
        assert (await _answer(client))["type"] == "started"
        await _stop(gateway, thread_id)
    return counts[-1]


@pytest.mark.parametrize("fault", ["refused", "reply_lost", "outage"])
async def test_redis_failing_at_any_step_of_a_start_leaves_the_thread_usable_and_loses_nothing(
    faults_and_gateway: tuple[RedisFaults, InProcessGateway], database: Database, fault: RedisFault
) -> None:
    faults, gateway = faults_and_gateway
    steps = await _redis_steps_of_a_start(faults, gateway, database)
    assert steps >= 5, "lock, subscribe, hand-over, enqueue, wake-up at least"
    for step in range(1, steps + 1):
        thread_id = await new_thread(database)
        client = gateway.client()
        first = f"words said before Redis failed at step {step}"
        faults.arm(step, fault)
        await client.send(_message(thread_id, first))
        faults.heal()
        await _check_the_aftermath(gateway, database, thread_id, first, await _answer(client), step, REDIS_ERRORS)


async def test_the_database_failing_at_any_step_of_a_start_leaves_the_thread_usable_and_loses_nothing(
    faults_and_gateway: tuple[RedisFaults, InProcessGateway], database: Database
) -> None:
    _, gateway = faults_and_gateway
    with DatabaseFaults(database) as faults:
        await _fail_the_database_at_each_step(gateway, database, faults)


async def _fail_the_database_at_each_step(
    gateway: InProcessGateway, database: Database, faults: DatabaseFaults
) -> None:
    thread_id = await new_thread(database)
    client = gateway.client()
    before = faults.steps
    await client.send(_message(thread_id, "hello"))
    steps = faults.steps - before
    assert (await _answer(client))["type"] == "started"
    await _stop(gateway, thread_id)
    assert steps >= 3, "read the thread, write the messages, commit"
    for step in range(1, steps + 1):
        thread_id = await new_thread(database)
        client = gateway.client()
        first = f"words said before the database failed at step {step}"
        faults.arm(step)
        await client.send(_message(thread_id, first))
        faults.heal()
        await _check_the_aftermath(gateway, database, thread_id, first, await _answer(client), step, DATABASE_ERRORS)


async def _a_turn_holding(gateway: InProcessGateway, database: Database) -> tuple[str, Client]:
    """A new thread whose turn holds it (no worker runs here), and the client that started it."""
    thread_id = await new_thread(database)
    client = gateway.client()
    await client.send(_message(thread_id, "the turn that holds the thread"))
    assert (await _answer(client))["type"] == "started"
    return thread_id, client


async def _stored(database: Database, thread_id: str, content: str) -> list[tuple[str, str]]:
    async with database.reading() as session:
        return [(m.role, m.status) for m in await threads.list_messages(session, thread_id) if m.content == content]


async def test_the_database_failing_at_any_step_of_queueing_a_message_answers_once_and_loses_nothing(
    faults_and_gateway: tuple[RedisFaults, InProcessGateway], database: Database
) -> None:
    _, gateway = faults_and_gateway
    with DatabaseFaults(database) as faults:
        thread_id, client = await _a_turn_holding(gateway, database)
        before = faults.steps
        await client.send(_message(thread_id, "queued behind it"))
        assert (await _answer(client))["type"] == "queued"
        steps = faults.steps - before
        assert steps >= 3, "write the message, count its place, commit"
        for step in range(1, steps + 1):
            thread_id, client = await _a_turn_holding(gateway, database)
            second = f"words queued before the database failed at step {step}"
            faults.arm(step)
            await client.send(_message(thread_id, second))
            faults.heal()
            answer = await _answer(client)
            if answer["type"] == "queued":
                assert await _stored(database, thread_id, second) == [("user", "queued")], step
            else:
                refused = (answer["type"], answer["code"], answer["message"])
                assert refused == ("error", "agent_error", STORE_FAILED), (step, answer)
                # Not told it was queued, the message may be queued or not: a fault before the commit
                # loses it, one that loses the commit's answer keeps it (it runs after the turn).
                assert await _stored(database, thread_id, second) in ([], [("user", "queued")]), step
            # The thread takes the next message as usual.
            await client.send(_message(thread_id, "and again"))
            assert (await _answer(client))["type"] == "queued", step
