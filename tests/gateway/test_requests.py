"""Requests a client can get wrong, and resumes, against the in-process gateway on SQLite and PostgreSQL.

Each request gets exactly one answer; an error says what was wrong in one sentence and quotes at
most a little of what was sent; a request that failed never leaves its connection unable to ask again.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import asyncpg
import pytest
from sandchat import wire
from sandchat.database import Database
from sandchat.turns.beginning import NO_SUCH_THREAD, NOTHING_TO_RETRY
from sandchat.unavailable import REDIS_UNAVAILABLE
from sandchat_gateway.chat import MAX_QUOTE_CHARS, TOO_DEEP
from sqlalchemy import event
from sqlalchemy.engine import make_url

from tests.e2e.chat_client import before_the_next_answer
from tests.gateway.in_process import Client, Event, InProcessGateway, RedisFaults
from tests.turns.conftest import new_thread

MEGABYTE_ID = "t" * 1_000_000
# For what never reaches the database, one backend is enough.
protocol_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _queued_turn(gateway: InProcessGateway, database: Database) -> tuple[str, Client]:
    """A thread with a turn that has published three tokens (as a worker would), and a new connection
    that follows nothing yet, to resume it on."""
    thread_id = await new_thread(database)
    client = gateway.client()
    await client.send({"type": "message", "threadId": thread_id, "content": "hello"})
    started = await client.receive()
    assert started["type"] == "started", started
    turn_id = started["turnId"]
    frames = [(seq, wire.encode(wire.Token(thread_id, turn_id, seq, f"t{seq} "))) for seq in (1, 2, 3)]
    await gateway.store.publish(turn_id, frames)
    return thread_id, gateway.client()


async def _tokens(client: Client, count: int) -> list[int]:
    seqs: list[int] = []
    while len(seqs) < count:
        event_ = await client.receive()
        assert event_["type"] == "token", event_
        seqs.append(event_["seq"])
    return seqs


async def _one_error(gateway: InProcessGateway, request: Event | str) -> Event:
    client = gateway.client()
    await client.send(request)
    answer = await client.receive()
    assert await before_the_next_answer(client) == [], "one answer"
    assert answer["type"] == "error", answer
    assert answer["message"].endswith("."), answer
    return answer


@protocol_only
@pytest.mark.parametrize("after_seq", [2**63, 2**64, 2**70])
async def test_an_after_seq_past_63_bits_is_one_clear_error(gateway: InProcessGateway, after_seq: int) -> None:
    answer = await _one_error(gateway, f'{{"type": "resume", "threadId": "x", "afterSeq": {after_seq}}}')
    assert answer["code"] == "invalid_message"
    assert "afterSeq" in answer["message"]


@protocol_only
async def test_a_resume_after_a_refused_one_on_the_same_connection_is_answered(
    gateway: InProcessGateway, database: Database
) -> None:
    thread_id, client = await _queued_turn(gateway, database)
    await client.send(f'{{"type": "resume", "threadId": "{thread_id}", "afterSeq": {2**64}}}')
    assert (await client.receive())["code"] == "invalid_message"
    await client.send({"type": "resume", "threadId": thread_id, "afterSeq": 1})
    assert await _tokens(client, 2) == [2, 3]


@protocol_only
async def test_a_resume_after_one_that_redis_failed_is_answered(
    faults_and_gateway: tuple[RedisFaults, InProcessGateway], database: Database
) -> None:
    faults, gateway = faults_and_gateway
    thread_id, client = await _queued_turn(gateway, database)
    faults.arm(2, "outage")  # the turn is found, then Redis goes away (its channel is already subscribed)
    await client.send({"type": "resume", "threadId": thread_id, "afterSeq": 0})
    faults.heal()
    assert (await client.receive())["message"] == REDIS_UNAVAILABLE
    await client.send({"type": "resume", "threadId": thread_id, "afterSeq": 0})
    assert await _tokens(client, 3) == [1, 2, 3]


@protocol_only
async def test_a_second_resume_of_a_followed_turn_sends_again_what_came_after_its_after_seq(
    gateway: InProcessGateway, database: Database
) -> None:
    thread_id, client = await _queued_turn(gateway, database)
    await client.send({"type": "resume", "threadId": thread_id, "afterSeq": 0})
    assert await _tokens(client, 3) == [1, 2, 3]
    await client.send({"type": "resume", "threadId": thread_id, "afterSeq": 1})
    assert await _tokens(client, 2) == [2, 3]


@protocol_only
async def test_json_nested_100000_deep_is_one_clear_error(gateway: InProcessGateway) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    answer = await _one_error(gateway, f'{{"type": "message", "threadId": "x", "content": "hi", "extra": {nested}}}')
    assert (answer["code"], answer["message"]) == ("invalid_message", TOO_DEEP)


@protocol_only
async def test_a_retry_with_nothing_to_retry_is_one_clear_error(gateway: InProcessGateway, database: Database) -> None:
    thread_id = await new_thread(database)
    answer = await _one_error(gateway, {"type": "retry", "threadId": thread_id})
    assert (answer["code"], answer["message"], answer["threadId"]) == ("invalid_message", NOTHING_TO_RETRY, thread_id)


@protocol_only
@pytest.mark.parametrize("kind", ["message", "cancel", "resume"])
async def test_a_megabyte_thread_id_names_no_thread_and_is_not_echoed(gateway: InProcessGateway, kind: str) -> None:
    answer = await _one_error(gateway, {"type": kind, "threadId": MEGABYTE_ID, "content": "hi", "afterSeq": 0})
    assert (answer["code"], answer["message"], answer["threadId"]) == ("thread_not_found", NO_SUCH_THREAD, None)


@protocol_only
@pytest.mark.parametrize(
    "request_",
    [
        {"type": "message", "threadId": MEGABYTE_ID},  # no content
        {"type": "message", "threadId": MEGABYTE_ID, "content": 42},
        {"type": "x" * 1_000_000, "threadId": "x"},
        {"type": "resume", "threadId": "x", "afterSeq": "y" * 1_000_000},
    ],
)
async def test_an_invalid_request_quotes_at_most_a_little_of_it(
    gateway: InProcessGateway, request_: dict[str, Any]
) -> None:
    answer = await _one_error(gateway, request_)
    assert answer["code"] == "invalid_message"
    assert len(answer["message"]) <= len("Invalid message: .") + MAX_QUOTE_CHARS
    # The error names the thread the request named, unless that could not be a thread's id.
    assert answer["threadId"] == (None if request_["threadId"] == MEGABYTE_ID else request_["threadId"])


@pytest.mark.parametrize("kind", ["message", "cancel", "resume"])
async def test_a_nul_in_a_thread_id_names_no_thread(gateway: InProcessGateway, database: Database, kind: str) -> None:
    thread_id = await new_thread(database)
    answer = await _one_error(gateway, {"type": kind, "threadId": thread_id + "\x00", "content": "hi", "afterSeq": 0})
    assert (answer["code"], answer["message"]) == ("thread_not_found", NO_SUCH_THREAD)


def _delete_thread_from_another_connection(url: str, thread_id: str) -> None:
    async def delete() -> None:
        connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
        try:
            await connection.execute("DELETE FROM thread WHERE id = $1", thread_id)
        finally:
            await connection.close()

    worker = threading.Thread(target=asyncio.run, args=(delete(),))
    worker.start()
    worker.join(10)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_message_racing_the_deletion_of_its_thread_on_postgresql_is_told_the_thread_is_gone(
    gateway: InProcessGateway, database: Database, database_url: str
) -> None:
    # SQLite serialises writers, so only PostgreSQL lets the deletion land between the read and the write.
    thread_id = await new_thread(database)
    deleted = False

    def delete_before_the_first_write(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal deleted
        if not deleted and statement.startswith(("UPDATE thread", "INSERT INTO message")):
            deleted = True
            _delete_thread_from_another_connection(database_url, thread_id)

    event.listen(database.engine.sync_engine, "before_cursor_execute", delete_before_the_first_write)
    answer = await _one_error(gateway, {"type": "message", "threadId": thread_id, "content": "hello?"})
    assert (answer["code"], answer["message"]) == ("thread_not_found", NO_SUCH_THREAD)
    again = await _one_error(gateway, {"type": "message", "threadId": thread_id, "content": "again"})
    assert again["code"] == "thread_not_found", "the failed start freed the thread's lock"
