"""A message starts a turn on a free thread, and waits in the thread's queue on a busy one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sandchat import threads, wire
from sandchat.database import Database
from sandchat.turns import Turns, queue
from sandchat.turns.beginning import MessageRefused, TurnBegun
from sandchat.turns.store import TurnStart

from tests.turns.conftest import ChannelRecorder, messages, new_thread, new_turn, queue_messages, send

Listen = Callable[[str], Awaitable[ChannelRecorder]]


async def test_a_message_on_a_free_thread_is_stored_then_started_and_queued_for_a_worker(
    turns: Turns, database: Database, listen: Listen
) -> None:
    thread_id = await new_thread(database)
    watchers = await listen(turns.keys.thread_channel(thread_id))

    begun = await send(turns, thread_id, "hello there")

    assert isinstance(begun, TurnBegun)
    assert begun.title == "hello there"
    stored = await messages(database, thread_id)
    assert [(m.id, m.role, m.status, m.content) for m in stored] == [
        (begun.info.user_message_id, "user", "complete", "hello there"),
        (begun.info.message_id, "assistant", "streaming", ""),
    ]
    assert await turns.store.running_turn(thread_id) == begun.info.turn_id
    assert await queue.job_is_pending(turns.store.redis, begun.info.turn_id)
    await watchers.until(lambda frames: len(frames) == 2)
    assert watchers.frames == [
        wire.Started(thread_id, begun.info.turn_id, begun.info.user_message_id, begun.info.message_id),
        wire.Title(thread_id, "hello there"),
    ]


async def test_a_started_turn_carries_what_its_agent_starts_with(turns: Turns, database: Database) -> None:
    thread_id = await new_thread(database)
    rule = {"toolName": "Bash", "ruleContent": "touch touched.txt"}
    async with database.transaction() as session:
        await threads.set_session_id(session, thread_id, "5f0c9a52-0000-4000-8000-000000000001")
        await threads.update_thread(session, thread_id, permission_mode="acceptEdits")
        await threads.allow_always(session, thread_id, [rule])
        owner = (await threads.get_thread(session, thread_id)).owner_id  # type: ignore[union-attr]

    begun = await send(turns, thread_id, "hello there")

    assert isinstance(begun, TurnBegun)
    # What the worker claims: it starts the agent from this, without reading the database first.
    info = await turns.store.info(begun.info.turn_id)
    assert info is not None
    assert info.start == TurnStart(
        prompt="hello there",
        owner_id=owner,
        session_id="5f0c9a52-0000-4000-8000-000000000001",
        permission_mode="acceptEdits",
        allowed_tools=[rule],
    )


async def test_messages_sent_while_a_turn_runs_are_queued_in_order(
    turns: Turns, database: Database, listen: Listen
) -> None:
    thread_id, first = await new_turn(turns, database, "first")
    watchers = await listen(turns.keys.thread_channel(thread_id))

    second, third = await queue_messages(turns, thread_id, "second", "third")

    assert (second.position, third.position) == (1, 2)
    assert await turns.store.running_turn(thread_id) == first.info.turn_id
    stored = await messages(database, thread_id)
    assert [(m.content, m.status) for m in stored] == [
        ("first", "complete"),
        ("", "streaming"),
        ("second", "queued"),
        ("third", "queued"),
    ]
    await watchers.until(lambda frames: len(frames) == 2)
    assert watchers.frames == [
        wire.Queued(thread_id, second.message_id, 1),
        wire.Queued(thread_id, third.message_id, 2),
    ]


async def test_a_message_to_a_missing_thread_is_refused_and_leaves_no_lock(turns: Turns) -> None:
    refused = await send(turns, "7a0c2c3e-0000-4000-8000-000000000000", "hello")

    assert refused == MessageRefused("thread_not_found", "No thread with this id.")
    assert await turns.store.running_turn("7a0c2c3e-0000-4000-8000-000000000000") is None
    assert await turns.store.latest_turn("7a0c2c3e-0000-4000-8000-000000000000") is None  # nothing to resume
    assert await turns.store.active() == []


async def test_a_message_to_a_thread_deleted_while_its_turn_runs_is_refused(turns: Turns, database: Database) -> None:
    thread_id = await new_thread(database)
    assert isinstance(await send(turns, thread_id, "first"), TurnBegun)
    async with database.transaction() as session:
        assert await threads.delete_thread(session, thread_id)

    refused = await send(turns, thread_id, "second")

    assert refused == MessageRefused("thread_not_found", "No thread with this id.")
