"""Approval requests: recorded pending, answered once (first answer wins), resolved once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from sandchat import wire
from sandchat.database import Database
from sandchat.turns import Turns
from sandchat.turns.approvals import Answer, approved_request
from sandchat.turns.beginning import TurnBegun
from sandchat.turns.ending import end_unattended

from tests.turns.conftest import ChannelRecorder, messages, new_turn

Listen = Callable[[str], Awaitable[ChannelRecorder]]


async def _running_turn(turns: Turns, database: Database) -> TurnBegun:
    _, begun = await new_turn(turns, database, "do something")
    assert await turns.store.claim(begun.info.turn_id, "worker-1") is not None
    return begun


async def _state(turns: Turns, turn_id: str) -> str:
    info = await turns.store.info(turn_id)
    assert info is not None
    return info.state


async def test_a_pending_request_makes_the_turn_wait_until_it_is_resolved(turns: Turns, database: Database) -> None:
    begun = await _running_turn(turns, database)
    turn_id = begun.info.turn_id

    assert await turns.approvals.ask(turn_id, "req-1")
    assert await _state(turns, turn_id) == "waiting"
    assert await turns.approvals.answer(turn_id, "req-1", Answer("allow")) == "taken"
    assert await _state(turns, turn_id) == "waiting"  # until the worker has told the agent
    assert await turns.approvals.resolve(turn_id, "req-1", "allow")

    assert await _state(turns, turn_id) == "running"
    assert await turns.approvals.open_requests(turn_id) == []


async def test_the_first_answer_wins_and_later_ones_are_told_so(turns: Turns, database: Database, redis: Redis) -> None:
    begun = await _running_turn(turns, database)
    turn_id = begun.info.turn_id
    await turns.approvals.ask(turn_id, "req-1")
    control = redis.pubsub()
    await control.subscribe(turns.keys.turn_control(turn_id))
    await control.get_message(timeout=1)  # the subscription confirmation

    first = await turns.approvals.answer(turn_id, "req-1", Answer("deny", message="not now"))
    second = await turns.approvals.answer(turn_id, "req-1", Answer("allow"))

    assert (first, second) == ("taken", "answered already")
    assert await turns.approvals.answer_of(turn_id, "req-1") == Answer("deny", message="not now")
    told = await control.get_message(timeout=2)
    assert told is not None
    assert approved_request(told["data"]) == "req-1"
    # The losing answer reached no worker: what is published after it is the next thing heard.
    await redis.publish(turns.keys.turn_control(turn_id), b"after the answers")
    after = await control.get_message(timeout=2)
    assert after is not None
    assert after["data"] == b"after the answers"
    await control.aclose()  # type: ignore[no-untyped-call]


async def test_an_answer_to_a_request_that_does_not_exist_is_refused(turns: Turns, database: Database) -> None:
    begun = await _running_turn(turns, database)

    assert await turns.approvals.answer(begun.info.turn_id, "nope", Answer("allow")) == "unknown"


async def test_while_one_of_several_requests_is_open_the_turn_still_waits(turns: Turns, database: Database) -> None:
    begun = await _running_turn(turns, database)
    turn_id = begun.info.turn_id
    await turns.approvals.ask(turn_id, "req-1")
    await turns.approvals.ask(turn_id, "req-2")

    await turns.approvals.resolve(turn_id, "req-1", "allow")

    assert await _state(turns, turn_id) == "waiting"
    assert [request.request_id for request in await turns.approvals.open_requests(turn_id)] == ["req-2"]
    assert not await turns.approvals.resolve(turn_id, "req-1", "deny")  # resolved once only


async def test_a_dead_workers_open_requests_are_answered_interrupted_before_the_turn_ends(
    turns: Turns, database: Database, listen: Listen
) -> None:
    begun = await _running_turn(turns, database)
    turn_id = begun.info.turn_id
    turn = await listen(turns.keys.turn_channel(turn_id))
    approval = wire.Approval(begun.info.thread_id, turn_id, 1, "req-1", "Bash", {"command": "ls"}, [])
    await turns.approvals.ask(turn_id, "req-1")
    await turns.store.publish(turn_id, [(1, wire.encode(approval))])
    await turns.approvals.answer(turn_id, "req-1", Answer("allow"))  # answered, but the worker died first

    assert await end_unattended(turns, turn_id)

    await turn.until(lambda frames: len(frames) == 3)
    assert turn.frames[1] == wire.ApprovalAnswered(begun.info.thread_id, turn_id, 2, "req-1", "interrupted")
    final = turn.frames[2]
    assert isinstance(final, wire.Error)
    assert (final.code, final.seq) == ("interrupted", 3)
    assert (await messages(database, begun.info.thread_id))[-1].status == "interrupted"
