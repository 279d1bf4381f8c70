"""A retry runs a thread's last message again once its reply failed or was stopped: a new reply follows the
failed one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sandchat import threads, wire
from sandchat.database import Database
from sandchat.turns import Turns, queue
from sandchat.turns.beginning import (
    BUSY_RETRY,
    NO_SUCH_THREAD,
    NOTHING_TO_RETRY,
    STORE_FAILED,
    MessageQueued,
    MessageRefused,
    Submitted,
    TurnBegun,
    submit_retry,
)
from sandchat.turns.ending import finish_turn
from sandchat.turns.outcomes import CANCELLED, DONE, failed
from sandchat.turns.store import TurnInfo
from sandchat.turns.thread_queue import new_turn as registered_turn
from sqlalchemy.exc import OperationalError

from tests.gateway.in_process import DatabaseFaults
from tests.turns.conftest import ChannelRecorder, messages, new_thread, new_turn, text_transcript

Listen = Callable[[str], Awaitable[ChannelRecorder]]

NOT_FOUND = MessageRefused("thread_not_found", NO_SUCH_THREAD)
BUSY = MessageRefused("thread_busy", BUSY_RETRY)
NOTHING = MessageRefused("invalid_message", NOTHING_TO_RETRY)


async def _owner(database: Database, thread_id: str) -> str:
    async with database.reading() as session:
        thread = await threads.get_thread(session, thread_id)
    assert thread is not None
    return thread.owner_id


async def _retry(turns: Turns, thread_id: str, user_id: str) -> tuple[Submitted, list[TurnBegun | MessageQueued]]:
    """The retry's result, and what its sender was told first (``on_accepted``)."""
    accepted: list[TurnBegun | MessageQueued] = []

    async def on_accepted(answer: TurnBegun | MessageQueued) -> None:
        accepted.append(answer)

    return await submit_retry(turns, thread_id, on_accepted, user_id=user_id), accepted


async def _failed_turn(turns: Turns, database: Database) -> tuple[str, TurnBegun]:
    """A thread whose one turn ended in an error after part of its reply."""
    thread_id, begun = await new_turn(turns, database, "make the file")
    assert await finish_turn(turns, begun.info, text_transcript("I will"), failed("The agent stopped."))
    return thread_id, begun


async def test_a_retry_after_a_failed_reply_starts_a_new_reply_to_the_same_message(
    turns: Turns, database: Database, listen: Listen
) -> None:
    thread_id, first = await _failed_turn(turns, database)
    watchers = await listen(turns.keys.thread_channel(thread_id))

    begun, accepted = await _retry(turns, thread_id, await _owner(database, thread_id))

    assert isinstance(begun, TurnBegun), begun
    assert accepted == [begun]
    info = begun.info
    assert info.user_message_id == first.info.user_message_id
    assert info.user_id == await _owner(database, thread_id)  # whose agent and slot the turn takes
    assert info.turn_id != first.info.turn_id
    assert info.message_id != first.info.message_id
    stored = await messages(database, thread_id)
    assert [(m.id, m.role, m.status, m.content) for m in stored] == [
        (first.info.user_message_id, "user", "complete", "make the file"),
        (first.info.message_id, "assistant", "error", "I will"),
        (info.message_id, "assistant", "streaming", ""),
    ]
    assert stored[-1].turn_id == info.turn_id
    assert await turns.store.running_turn(thread_id) == info.turn_id
    assert await queue.job_is_pending(turns.store.redis, info.turn_id)
    await watchers.until(lambda frames: len(frames) == 1)
    assert watchers.frames == [wire.Started(thread_id, info.turn_id, info.user_message_id, info.message_id)]


async def test_a_stopped_reply_can_be_retried_but_a_complete_one_cannot(turns: Turns, database: Database) -> None:
    stopped_thread, stopped = await new_turn(turns, database, "one")
    assert await finish_turn(turns, stopped.info, text_transcript("partial"), CANCELLED)
    done_thread, done = await new_turn(turns, database, "two")
    assert await finish_turn(turns, done.info, text_transcript("all of it"), DONE)

    retried, _ = await _retry(turns, stopped_thread, await _owner(database, stopped_thread))
    refused, told = await _retry(turns, done_thread, await _owner(database, done_thread))

    assert isinstance(retried, TurnBegun), retried
    assert retried.info.user_message_id == stopped.info.user_message_id
    assert (refused, told) == (NOTHING, [])
    assert await turns.store.running_turn(done_thread) is None
    assert [m.status for m in await messages(database, done_thread)] == ["complete", "complete"]


async def test_a_retry_while_a_reply_runs_is_refused_as_busy_and_changes_nothing(
    turns: Turns, database: Database
) -> None:
    thread_id, running = await new_turn(turns, database, "still going")

    refused, told = await _retry(turns, thread_id, await _owner(database, thread_id))

    assert (refused, told) == (BUSY, [])
    assert await turns.store.running_turn(thread_id) == running.info.turn_id
    assert len(await messages(database, thread_id)) == 2


async def test_a_retry_racing_a_turn_that_just_took_the_thread_is_refused_as_busy(
    turns: Turns, database: Database
) -> None:
    """The failed reply is still the last message, but another turn has taken the thread's lock (its
    message not stored yet): the retry must not run beside it."""
    thread_id, _ = await _failed_turn(turns, database)
    owner = await _owner(database, thread_id)
    other = registered_turn(thread_id, "7a0c2c3e-0000-4000-8000-00000000abcd", owner)
    assert await turns.store.begin(other)

    refused, told = await _retry(turns, thread_id, owner)

    assert (refused, told) == (BUSY, [])
    assert await turns.store.running_turn(thread_id) == other.turn_id
    assert [m.status for m in await messages(database, thread_id)] == ["complete", "error"]


async def test_a_retry_of_a_thread_that_is_not_the_persons_is_refused_as_missing(
    turns: Turns, database: Database
) -> None:
    thread_id, _ = await _failed_turn(turns, database)

    refused, told = await _retry(turns, thread_id, "7a0c2c3e-0000-4000-8000-0000000000ff")
    missing, _ = await _retry(turns, "7a0c2c3e-0000-4000-8000-000000000000", await _owner(database, thread_id))

    assert (refused, told, missing) == (NOT_FOUND, [], NOT_FOUND)
    assert await turns.store.running_turn(thread_id) is None
    assert [m.status for m in await messages(database, thread_id)] == ["complete", "error"]


async def test_a_retry_of_an_empty_thread_has_nothing_to_retry(turns: Turns, database: Database) -> None:
    thread_id = await new_thread(database)

    refused, told = await _retry(turns, thread_id, await _owner(database, thread_id))

    assert (refused, told) == (NOTHING, [])
    assert await turns.store.running_turn(thread_id) is None


async def test_the_database_failing_at_any_step_of_a_retry_refuses_it_once_and_frees_the_thread(
    turns: Turns, database: Database
) -> None:
    with DatabaseFaults(database) as faults:
        thread_id, _ = await _failed_turn(turns, database)
        owner = await _owner(database, thread_id)
        before = faults.steps
        healthy, _ = await _retry(turns, thread_id, owner)
        assert isinstance(healthy, TurnBegun), healthy
        steps = faults.steps - before
        assert steps >= 3, "read the thread and its last messages, write the reply, commit"
        for step in range(1, steps + 1):
            thread_id, _ = await _failed_turn(turns, database)
            faults.arm(step)
            try:
                result, told = await _retry(turns, thread_id, owner)
            except OperationalError:
                # While the thread is read, before anything is taken, the failure propagates (the
                # gateway answers it "unavailable").
                result, told = None, []
            finally:
                faults.heal()
            if isinstance(result, TurnBegun):
                assert told == [result], step
                continue
            if result is not None:  # refused once it held the lock: the lock is let go
                assert (result, told) == (MessageRefused("agent_error", STORE_FAILED), []), step
            assert await turns.store.running_turn(thread_id) is None, step
            assert "streaming" not in [m.status for m in await messages(database, thread_id)], step


async def test_a_retry_overtaken_by_another_tabs_retry_is_refused_and_leaves_no_turn_behind(
    turns: Turns, database: Database
) -> None:
    """Two tabs retry the same failed reply: one reads the thread, the other retries and its reply
    ends, then the first takes the lock. It must find nothing left to retry, let the lock go, and
    leave no turn a resume would find."""
    thread_id, _ = await _failed_turn(turns, database)
    owner = await _owner(database, thread_id)
    store = turns.store
    begin = store.begin
    overtaken: list[TurnBegun] = []

    async def other_tab_first(info: TurnInfo, *, after: str | None = None) -> bool:
        if not overtaken:  # once: the other tab's retry runs between this one's read and its lock
            store.begin = begin  # type: ignore[method-assign]
            other, _ = await _retry(turns, thread_id, owner)
            assert isinstance(other, TurnBegun), other
            assert await finish_turn(turns, other.info, text_transcript("done this time"), DONE)
            overtaken.append(other)
        return await begin(info, after=after)

    store.begin = other_tab_first  # type: ignore[method-assign]
    refused, told = await _retry(turns, thread_id, owner)

    assert (refused, told) == (NOTHING, [])
    assert await store.running_turn(thread_id) is None
    assert await store.latest_turn(thread_id) == overtaken[0].info.turn_id
    assert [m.status for m in await messages(database, thread_id)] == ["complete", "error", "complete"]
