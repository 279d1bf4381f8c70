"""A turn ends once; the thread's next queued message then starts under the same lock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sandchat import threads, wire
from sandchat.database import Database
from sandchat.turns import Turns
from sandchat.turns.beginning import TurnBegun
from sandchat.turns.ending import TurnResult, finish_turn
from sandchat.turns.outcomes import CANCELLED, DONE

from tests.turns.conftest import ChannelRecorder, messages, new_thread, new_turn, queue_messages, send, text_transcript

Listen = Callable[[str], Awaitable[ChannelRecorder]]


async def test_a_finished_turn_frees_the_thread_and_stores_its_reply(
    turns: Turns, database: Database, listen: Listen
) -> None:
    thread_id, begun = await new_turn(turns, database, "hi")
    turn = await listen(turns.keys.turn_channel(begun.info.turn_id))

    result = TurnResult("sess-1", 0.5, 1200)
    ended = await finish_turn(turns, begun.info, text_transcript("Hello!", last_seq=3), DONE, result)

    assert ended
    assert await turns.store.running_turn(thread_id) is None
    reply = (await messages(database, thread_id))[-1]
    assert (reply.content, reply.status, reply.meta) == ("Hello!", "complete", {"costUsd": 0.5, "durationMs": 1200})
    async with database.reading() as session:
        thread = await threads.get_thread(session, thread_id)
    assert thread is not None
    assert thread.claude_session_id == "sess-1"  # the thread's next turn resumes the agent's session
    await turn.until(lambda frames: len(frames) == 1)
    assert turn.frames == [wire.Done(thread_id, begun.info.turn_id, 4, begun.info.message_id, "sess-1", 0.5, 1200)]
    assert not await finish_turn(turns, begun.info, text_transcript("again"), DONE)


async def test_a_finished_turn_is_still_the_one_a_resume_of_its_thread_replays(
    turns: Turns, database: Database
) -> None:
    thread_id = await new_thread(database)
    assert await turns.store.latest_turn(thread_id) is None  # nothing to resume yet
    begun = await send(turns, thread_id, "hi")
    assert isinstance(begun, TurnBegun)

    assert await finish_turn(turns, begun.info, text_transcript("Hello!", last_seq=3), DONE)

    assert await turns.store.latest_turn(thread_id) == begun.info.turn_id
    replayed = [wire.decode_event(frame) for frame in await turns.store.replay(begun.info.turn_id)]
    assert isinstance(replayed[-1], wire.Done)


async def test_queued_messages_start_one_after_another_in_the_order_they_were_sent(
    turns: Turns, database: Database, listen: Listen
) -> None:
    thread_id, first = await new_turn(turns, database, "first")
    second, third = await queue_messages(turns, thread_id, "second", "third")
    watchers = await listen(turns.keys.thread_channel(thread_id))

    await finish_turn(turns, first.info, text_transcript("one"), DONE)

    next_turn = await turns.store.running_turn(thread_id)
    assert next_turn not in (None, first.info.turn_id)
    await watchers.until(lambda frames: len(frames) == 1)
    started = watchers.frames[0]
    assert isinstance(started, wire.Started)
    assert (started.turn_id, started.user_message_id) == (next_turn, second.message_id)
    stored = await messages(database, thread_id)
    assert [(m.content, m.status) for m in stored if m.status != "queued"] == [
        ("first", "complete"),
        ("one", "complete"),
        ("second", "complete"),
        ("", "streaming"),
    ]
    assert [m.content for m in stored if m.status == "queued"] == ["third"]
    info = await turns.store.info(started.turn_id)
    assert info is not None

    await finish_turn(turns, info, text_transcript("two"), CANCELLED)

    await watchers.until(lambda frames: len(frames) == 2)
    assert isinstance(watchers.frames[1], wire.Started)
    assert watchers.frames[1].user_message_id == third.message_id
    assert [m.status for m in await messages(database, thread_id)][-3:] == ["cancelled", "complete", "streaming"]


async def test_a_message_queued_just_as_the_turn_ends_still_gets_its_turn(turns: Turns, database: Database) -> None:
    thread_id, first = await new_turn(turns, database, "first")
    # The sender stored its message while the lock was held, and has not looked at the lock again yet:
    # the finisher must find the message itself.
    async with database.transaction() as session:
        late = await threads.queue_message(session, thread_id, "late", "5f3b1a52-0000-4000-8000-000000000001")
    assert late is not None

    await finish_turn(turns, first.info, text_transcript("one"), DONE)

    running = await turns.store.running_turn(thread_id)
    assert running is not None
    info = await turns.store.info(running)
    assert info is not None
    assert info.user_message_id == late.id


async def test_a_queued_message_removed_before_its_turn_is_skipped(turns: Turns, database: Database) -> None:
    thread_id, first = await new_turn(turns, database, "first")
    removed, kept = await queue_messages(turns, thread_id, "never mind", "kept")
    async with database.transaction() as session:
        assert await threads.remove_queued(session, thread_id, removed.message_id) == "removed"

    await finish_turn(turns, first.info, text_transcript("one"), DONE)

    running = await turns.store.running_turn(thread_id)
    info = await turns.store.info(running or "")
    assert info is not None
    assert info.user_message_id == kept.message_id
    assert "never mind" not in [m.content for m in await messages(database, thread_id)]


async def test_a_started_message_can_no_longer_be_removed(turns: Turns, database: Database) -> None:
    thread_id, first = await new_turn(turns, database, "first")
    (second,) = await queue_messages(turns, thread_id, "second")
    await finish_turn(turns, first.info, text_transcript("one"), DONE)

    async with database.transaction() as session:
        outcome = await threads.remove_queued(session, thread_id, second.message_id)

    assert outcome == "started"
