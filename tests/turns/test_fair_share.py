"""Fair share: at most USER_MAX_TURNS running turns per person; the rest wait in order, say so, and start
as soon as a slot frees, however the turn holding it ended. One person's line never holds up another."""

from __future__ import annotations

import time

import pytest
from sandchat import wire
from sandchat.database import Database
from sandchat.turns import Turns, queue
from sandchat.turns.beginning import MessageQueued, OnAccepted, TurnBegun, submit
from sandchat.turns.ending import finish_turn
from sandchat.turns.fair_share import waiting_message
from sandchat.turns.outcomes import CANCELLED, DONE, Ending, failed
from sandchat.turns.reaper import ReaperPolicy, reap
from sandchat.turns.store import TurnInfo

from tests.turns.conftest import new_thread, text_transcript

ALICE = "a1a1a1a1-0000-4000-8000-000000000001"
BOB = "b0b0b0b0-0000-4000-8000-000000000002"
POLICY = ReaperPolicy(pickup_timeout_s=30)


async def _nothing(_accepted: TurnBegun | MessageQueued) -> None:
    return None


async def start(turns: Turns, database: Database, user_id: str, content: str = "hello") -> TurnInfo:
    """A message of ``user_id`` on a new thread of theirs: its turn."""
    accepted: OnAccepted = _nothing
    begun = await submit(turns, await new_thread(database), content, accepted, user_id=user_id)
    assert isinstance(begun, TurnBegun)
    return begun.info


async def dispatched(turns: Turns, info: TurnInfo) -> bool:
    """Whether the turn went to the workers (its job is queued), rather than waiting for a slot."""
    return await queue.job_is_pending(turns.store.redis, info.turn_id)


async def said(turns: Turns, info: TurnInfo) -> list[wire.ServerEvent]:
    """What a client following the turn (or resuming it) reads so far."""
    return [wire.decode_event(frame) for frame in await turns.store.replay(info.turn_id)]


async def test_a_fourth_turn_waits_says_so_and_another_persons_turn_does_not(turns: Turns, database: Database) -> None:
    alices = [await start(turns, database, ALICE, f"task {n}") for n in range(4)]
    bobs = await start(turns, database, BOB)

    assert [await dispatched(turns, info) for info in alices] == [True, True, True, False]
    assert await dispatched(turns, bobs)
    fourth = alices[3]
    assert await said(turns, fourth) == [
        wire.Status(fourth.thread_id, fourth.turn_id, 1, waiting_message(3, 1)),
    ]
    assert "3 turns running" in waiting_message(3, 1)
    assert await said(turns, bobs) == []


@pytest.mark.parametrize(
    "ending",
    [DONE, failed("The agent failed."), CANCELLED, Ending("timeout", "The agent printed nothing.", "error")],
    ids=["done", "error", "cancel", "timeout"],
)
async def test_a_waiting_turn_starts_when_one_ends_however_it_ends(
    turns: Turns, database: Database, ending: Ending
) -> None:
    running = [await start(turns, database, ALICE) for _ in range(3)]
    waiting = await start(turns, database, ALICE)
    assert not await dispatched(turns, waiting)

    assert await finish_turn(turns, running[1], text_transcript("partial"), ending)

    assert await dispatched(turns, waiting)
    assert await turns.fair_share.running(ALICE) == 3
    claimed = await turns.store.claim(waiting.turn_id, "worker-a")
    assert claimed is not None
    assert claimed.last_seq == 1  # the worker goes on after the "waiting" status


async def test_a_turn_whose_worker_died_gives_its_slot_to_the_next_in_line(turns: Turns, database: Database) -> None:
    running = [await start(turns, database, ALICE) for _ in range(3)]
    waiting = await start(turns, database, ALICE)
    assert await turns.store.claim(running[0].turn_id, "worker-a") is not None
    await turns.store.redis.delete(turns.keys.turn_alive(running[0].turn_id))  # the worker stopped heart-beating

    assert await reap(turns, POLICY) == 1

    assert await dispatched(turns, waiting)


async def test_waiting_turns_start_in_the_order_they_were_sent(turns: Turns, database: Database) -> None:
    running = [await start(turns, database, ALICE) for _ in range(3)]
    first, second = await start(turns, database, ALICE), await start(turns, database, ALICE)
    assert await said(turns, second) == [wire.Status(second.thread_id, second.turn_id, 1, waiting_message(3, 2))]

    await finish_turn(turns, running[0], text_transcript("one"), DONE)
    assert (await dispatched(turns, first), await dispatched(turns, second)) == (True, False)

    await finish_turn(turns, running[1], text_transcript("two"), DONE)
    assert await dispatched(turns, second)


async def test_a_waiting_turn_that_is_stopped_leaves_the_line(turns: Turns, database: Database) -> None:
    running = [await start(turns, database, ALICE) for _ in range(3)]
    stopped, later = await start(turns, database, ALICE), await start(turns, database, ALICE)

    assert await finish_turn(turns, stopped, text_transcript(""), CANCELLED)
    await finish_turn(turns, running[0], text_transcript("one"), DONE)

    assert await dispatched(turns, later)
    assert await turns.fair_share.running(ALICE) == 3


async def test_a_turn_waiting_for_a_slot_is_not_ended_as_unpicked(turns: Turns, database: Database) -> None:
    running = [await start(turns, database, ALICE) for _ in range(3)]
    waiting = await start(turns, database, ALICE)
    stale = time.time() - POLICY.pickup_timeout_s - 1
    await turns.store.redis.zadd(turns.keys.active_turns, {waiting.turn_id: stale})
    for info in running:  # claimed and alive: the person's slots stay taken
        assert await turns.store.claim(info.turn_id, "worker-a") is not None

    assert await reap(turns, POLICY) == 0

    assert await turns.store.running_turn(waiting.thread_id) == waiting.turn_id
    assert not await dispatched(turns, waiting)


async def test_a_slot_held_by_a_turn_that_vanished_is_given_back_by_the_reaper(
    turns: Turns, database: Database
) -> None:
    running = [await start(turns, database, ALICE) for _ in range(3)]
    waiting = await start(turns, database, ALICE)
    for info in running[1:]:
        assert await turns.store.claim(info.turn_id, "worker-a") is not None
    # A turn forgotten without its ending (its info expired with Redis under memory pressure).
    await turns.store.redis.delete(turns.keys.turn_info(running[0].turn_id))

    await reap(turns, POLICY)

    assert await dispatched(turns, waiting)


async def test_a_person_whose_every_slot_was_held_by_vanished_turns_gets_the_waiting_turn_started(
    turns: Turns, database: Database
) -> None:
    running = [await start(turns, database, ALICE) for _ in range(3)]
    waiting = await start(turns, database, ALICE)
    for info in running:  # forgotten without their endings: only the waiting turn is left of this person
        await turns.store.redis.delete(turns.keys.turn_info(info.turn_id))

    await reap(turns, POLICY)

    assert await dispatched(turns, waiting)


async def test_the_operators_own_turns_have_no_limit(turns: Turns, database: Database) -> None:
    operators = [await start(turns, database, "") for _ in range(5)]

    assert all([await dispatched(turns, info) for info in operators])
