"""Where turns run, and what happens to turns whose worker died or that no worker took."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from arq.constants import job_key_prefix
from sandchat import wire
from sandchat.database import Database
from sandchat.turns import Turns, queue
from sandchat.turns.beginning import MessageQueued, TurnBegun, submit
from sandchat.turns.outcomes import no_worker_message
from sandchat.turns.reaper import LOST_MESSAGE, WAITING_NOTICE_S, ReaperPolicy, reap

from tests.turns.conftest import ChannelRecorder, messages, new_thread, new_turn, queue_messages, send

Listen = Callable[[str], Awaitable[ChannelRecorder]]
POLICY = ReaperPolicy(pickup_timeout_s=30)


async def _age(turns: Turns, turn_id: str, seconds: float) -> None:
    """Make a registered turn look as if it had been queued ``seconds`` ago."""
    await turns.store.redis.zadd(turns.keys.active_turns, {turn_id: time.time() - seconds})


async def test_a_turn_of_a_thread_whose_agent_a_live_worker_holds_goes_to_that_worker_and_stays_there(
    turns: Turns, database: Database
) -> None:
    thread_id = await new_thread(database)
    await turns.routing.heartbeat("worker-a", [thread_id])
    await turns.routing.hold(thread_id, "worker-a")

    begun = await send(turns, thread_id, "hello")

    assert isinstance(begun, TurnBegun)
    assert await reap(turns, POLICY) == 0  # not taken yet, but its worker is alive: not handed to another
    assert await turns.routing.next_routed("worker-a", 1) == begun.info.turn_id
    assert not await queue.job_is_pending(turns.store.redis, begun.info.turn_id)


async def test_a_thread_held_by_a_dead_worker_goes_to_the_shared_queue(turns: Turns, database: Database) -> None:
    thread_id = await new_thread(database)
    await turns.routing.hold(thread_id, "worker-gone")  # its alive key has expired (never set here)

    begun = await send(turns, thread_id, "hello")

    assert isinstance(begun, TurnBegun)
    assert await queue.job_is_pending(turns.store.redis, begun.info.turn_id)


async def test_only_the_holder_releases_a_thread(turns: Turns, database: Database) -> None:
    thread_id = await new_thread(database)
    await turns.routing.hold(thread_id, "worker-a")

    await turns.routing.release(thread_id, "worker-b")
    assert await turns.store.redis.get(turns.keys.thread_agent(thread_id)) == b"worker-a"
    await turns.routing.release(thread_id, "worker-a")
    assert await turns.store.redis.get(turns.keys.thread_agent(thread_id)) is None


async def test_a_turn_is_claimed_by_one_worker_only(turns: Turns, database: Database) -> None:
    _, begun = await new_turn(turns, database, "hello")

    first = await turns.store.claim(begun.info.turn_id, "worker-a")
    second = await turns.store.claim(begun.info.turn_id, "worker-b")

    assert first is not None
    claimed = (first.info.turn_id, first.info.thread_id, first.info.message_id, first.info.user_message_id)
    assert claimed == (begun.info.turn_id, begun.info.thread_id, begun.info.message_id, begun.info.user_message_id)
    assert (first.info.state, first.cancel_requested) == ("running", False)
    assert second is None


async def test_a_queued_turn_is_taken_by_one_worker_only_and_a_worker_takes_no_more_than_it_has_room_for(
    turns: Turns, database: Database
) -> None:
    begun = [await send(turns, await new_thread(database), f"hello {n}") for n in range(3)]
    turn_ids = [turn.info.turn_id for turn in begun if isinstance(turn, TurnBegun)]
    redis, name = turns.store.redis, turns.keys.queue

    first, second = await asyncio.gather(
        queue.take_jobs(redis, name, turn_ids, 2, 60), queue.take_jobs(redis, name, turn_ids, 2, 60)
    )
    third = await queue.take_jobs(redis, name, turn_ids, 2, 60)

    taken = [job_id for job_id, _score in first + second]
    assert sorted(taken) == sorted(turn_ids)  # each once, by one of them
    assert sorted(len(each) for each in (first, second)) == [1, 2]
    assert third == []  # all in progress
    assert [await queue.job_is_pending(redis, turn_id) for turn_id in turn_ids] == [True, True, True]


async def test_a_stop_sent_before_any_worker_claimed_the_turn_reaches_the_worker_that_claims_it(
    turns: Turns, database: Database
) -> None:
    _, begun = await new_turn(turns, database, "hello")
    await turns.store.request_cancel(begun.info.turn_id)

    claimed = await turns.store.claim(begun.info.turn_id, "worker-a")

    assert claimed is not None
    assert claimed.cancel_requested


async def test_a_turn_someone_is_already_ending_cannot_be_claimed(turns: Turns, database: Database) -> None:
    _, begun = await new_turn(turns, database, "hello")
    assert await turns.store.claim_finish(begun.info.turn_id)  # a reaper ending the unclaimed turn

    assert await turns.store.claim(begun.info.turn_id, "worker-a") is None


async def test_a_running_turn_whose_worker_died_is_interrupted_and_the_next_message_starts(
    turns: Turns, database: Database, listen: Listen
) -> None:
    thread_id, begun = await new_turn(turns, database, "first")
    (queued,) = await queue_messages(turns, thread_id, "second")
    assert await turns.store.claim(begun.info.turn_id, "worker-a") is not None
    token = wire.Token(thread_id, begun.info.turn_id, 1, "partial")
    await turns.store.publish(begun.info.turn_id, [(1, wire.encode(token))])
    await turns.store.redis.delete(turns.keys.turn_alive(begun.info.turn_id))  # the worker stopped heart-beating
    watchers = await listen(turns.keys.thread_channel(thread_id))

    assert await reap(turns, POLICY) == 1

    stored = await messages(database, thread_id)
    interrupted = next(m for m in stored if m.id == begun.info.message_id)
    assert (interrupted.content, interrupted.status) == ("partial", "interrupted")
    await watchers.until(lambda frames: len(frames) == 1)
    assert isinstance(watchers.frames[0], wire.Started)
    assert watchers.frames[0].user_message_id == queued.message_id


async def test_a_turn_waiting_for_an_answer_whose_worker_died_is_interrupted(turns: Turns, database: Database) -> None:
    thread_id, begun = await new_turn(turns, database, "do something")
    assert await turns.store.claim(begun.info.turn_id, "worker-a") is not None
    assert await turns.approvals.ask(begun.info.turn_id, "req-1")  # the turn waits for a person's answer
    await turns.store.redis.delete(turns.keys.turn_alive(begun.info.turn_id))  # the worker stopped heart-beating

    assert await reap(turns, POLICY) == 1

    assert (await messages(database, thread_id))[-1].status == "interrupted"
    assert await turns.store.running_turn(thread_id) is None


async def test_a_turn_routed_to_a_worker_that_died_before_taking_it_is_queued_for_any_worker(
    turns: Turns, database: Database
) -> None:
    thread_id = await new_thread(database)
    await turns.routing.heartbeat("worker-a", [thread_id])
    begun = await send(turns, thread_id, "hello")
    assert isinstance(begun, TurnBegun)
    await turns.store.redis.delete(turns.keys.worker_alive("worker-a"))

    assert await reap(turns, POLICY) == 0

    assert await queue.job_is_pending(turns.store.redis, begun.info.turn_id)
    assert await turns.store.claim(begun.info.turn_id, "worker-b") is not None


async def test_a_turn_no_worker_takes_says_it_waits_then_ends_with_a_clear_error(
    turns: Turns, database: Database, listen: Listen
) -> None:
    thread_id, begun = await new_turn(turns, database, "anyone there?")
    turn = await listen(turns.keys.turn_channel(begun.info.turn_id))

    await _age(turns, begun.info.turn_id, WAITING_NOTICE_S + 0.1)
    await reap(turns, POLICY)
    await reap(turns, POLICY)  # said once only
    await _age(turns, begun.info.turn_id, POLICY.pickup_timeout_s)
    assert await reap(turns, POLICY) == 1

    await turn.until(lambda frames: len(frames) == 2)
    waiting, final = turn.frames
    assert isinstance(waiting, wire.Status)
    assert (waiting.thread_id, waiting.seq) == (thread_id, 1)
    assert isinstance(final, wire.Error)
    assert (final.code, final.message, final.seq) == ("agent_offline", no_worker_message(30), 2)
    assert (final.thread_id, final.turn_id, final.message_id) == (thread_id, begun.info.turn_id, begun.info.message_id)
    stored = await messages(database, thread_id)
    assert [(m.content, m.status) for m in stored] == [("anyone there?", "complete"), ("", "error")]
    assert await turns.store.running_turn(thread_id) is None


async def test_a_worker_claiming_late_continues_after_the_waiting_notice(turns: Turns, database: Database) -> None:
    _, begun = await new_turn(turns, database, "hello")
    await _age(turns, begun.info.turn_id, WAITING_NOTICE_S + 0.1)
    await reap(turns, POLICY)

    claimed = await turns.store.claim(begun.info.turn_id, "worker-a")

    assert claimed is not None
    assert claimed.last_seq == 1


async def test_a_turn_whose_message_is_still_being_stored_is_not_taken_for_lost(
    turns: Turns, database: Database
) -> None:
    """Under write load storing the message may outlast the lost-job grace: the turn has no job yet."""
    thread_id = await new_thread(database)
    reaped_meanwhile: list[int] = []

    async def slow_store(accepted: TurnBegun | MessageQueued) -> None:  # after the store, before dispatch
        assert isinstance(accepted, TurnBegun)
        await _age(turns, accepted.info.turn_id, POLICY.lost_job_grace_s + 1)
        reaped_meanwhile.append(await reap(turns, POLICY))

    begun = await submit(turns, thread_id, "hello", slow_store)

    assert isinstance(begun, TurnBegun)
    assert reaped_meanwhile == [0]
    assert await queue.job_is_pending(turns.store.redis, begun.info.turn_id)
    assert await turns.store.claim(begun.info.turn_id, "worker-a") is not None


async def test_a_turn_whose_job_vanished_before_any_claim_ends_and_frees_the_thread(
    turns: Turns, database: Database
) -> None:
    thread_id, begun = await new_turn(turns, database, "hello")
    await turns.store.redis.delete(f"{job_key_prefix}{begun.info.turn_id}")  # a worker died picking it up
    await _age(turns, begun.info.turn_id, 10)

    assert await reap(turns, POLICY) == 1

    reply = (await messages(database, thread_id))[-1]
    assert (reply.status, reply.error) == ("error", LOST_MESSAGE)
    assert await turns.store.running_turn(thread_id) is None


async def test_a_turn_whose_start_is_slow_is_not_taken_for_lost(turns: Turns, database: Database) -> None:
    """A gateway slowed down (a burst of starts) between storing a turn and queueing it: no reaper ends it."""
    thread_id = await new_thread(database)
    reaped: list[int] = []

    async def slow_start(accepted: TurnBegun | MessageQueued) -> None:
        assert isinstance(accepted, TurnBegun)
        await _age(turns, accepted.info.turn_id, 10)
        reaped.append(await reap(turns, POLICY))

    begun = await submit(turns, thread_id, "hello", slow_start)

    assert isinstance(begun, TurnBegun)
    assert reaped == [0]
    assert await queue.job_is_pending(turns.store.redis, begun.info.turn_id)
    assert await turns.store.running_turn(thread_id) == begun.info.turn_id
    assert (await messages(database, thread_id))[-1].status == "streaming"
    assert await reap(turns, POLICY) == 0


async def test_a_queued_message_left_without_a_coming_turn_is_started(turns: Turns, database: Database) -> None:
    thread_id, begun = await new_turn(turns, database, "first")
    (queued,) = await queue_messages(turns, thread_id, "second")
    # A finisher that died after freeing the thread and before starting its next message.
    await turns.store.end(thread_id, begun.info.turn_id)

    await reap(turns, POLICY)

    running = await turns.store.running_turn(thread_id)
    info = await turns.store.info(running or "")
    assert info is not None
    assert info.user_message_id == queued.message_id
