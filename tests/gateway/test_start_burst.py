"""Many turns started at the same instant, on SQLite and PostgreSQL: every one is accepted and stored.

Two gateways (two engines on one database, as two processes would have) take 200 first messages at
once, one per thread and connection, and two more to threads just deleted. Every client hears
`started` for its own message (the two: no such thread), and every thread holds its message followed
by the reply being streamed, in that order. On SQLite no store had to be tried again (the write lock
never timed out).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sandchat import threads
from sandchat.database import Database
from sandchat.redis_keys import RedisKeys
from sandchat.turns import queue

from tests.gateway.in_process import Client, Event, InProcessGateway, running_gateway
from tests.turns.conftest import new_thread

STARTS = 200
# Generous: 200 starts on a loaded 2-core machine; a guard against hanging, not a speed check.
ANSWER_TIMEOUT_S = 120.0


@pytest.fixture
async def two_gateways(
    redis_url: str, redis_keys: RedisKeys, database: Database
) -> AsyncIterator[list[InProcessGateway]]:
    other_database = Database(database.url)
    redis_clients = [queue.connect(redis_url), queue.connect(redis_url)]
    try:
        async with (
            running_gateway(redis_clients[0], database, redis_keys, lost_job_grace_s=60, reap_every_s=5) as first,
            running_gateway(
                redis_clients[1], other_database, redis_keys, lost_job_grace_s=60, reap_every_s=5
            ) as second,
        ):
            yield [first, second]
    finally:
        for client in redis_clients:
            await client.aclose(close_connection_pool=True)
        await other_database.close()


async def _first_answer(client: Client, thread_id: str, content: str) -> Event:
    await client.send({"type": "message", "threadId": thread_id, "content": content})
    while True:
        answer = await client.receive(timeout=ANSWER_TIMEOUT_S)
        if answer["type"] != "title":
            return answer


async def test_200_simultaneous_starts_are_all_accepted_and_stored_in_order(
    two_gateways: list[InProcessGateway], database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    thread_ids = [await new_thread(database) for _ in range(STARTS)]
    deleted = [await new_thread(database) for _ in range(2)]
    async with database.transaction() as session:
        for thread_id in deleted:
            await threads.delete_thread(session, thread_id)
    clients = [two_gateways[index % 2].client() for index in range(STARTS + len(deleted))]
    contents = [f"message {index}" for index in range(STARTS)]

    # The messages to deleted threads go out amid the others (the stores are written together).
    answers = await asyncio.gather(
        *(_first_answer(c, t, m) for c, t, m in zip(clients, thread_ids, contents, strict=False)),
        *(_first_answer(c, t, "lost") for c, t in zip(clients[STARTS:], deleted, strict=True)),
    )
    gone = answers[STARTS:]
    answers = answers[:STARTS]

    assert [(answer["type"], answer["code"]) for answer in gone] == [("error", "thread_not_found")] * len(deleted)

    refused = [answer for answer in answers if answer["type"] != "started"]
    assert refused == [], f"{len(refused)} of {STARTS} refused, e.g. {refused[:3]}"
    assert [answer["threadId"] for answer in answers] == thread_ids
    async with database.reading() as session:
        for thread_id, content, answer in zip(thread_ids, contents, answers, strict=True):
            stored = await threads.list_messages(session, thread_id)
            assert [(m.role, m.content, m.status) for m in stored] == [
                ("user", content, "complete"),
                ("assistant", "", "streaming"),
            ]
            assert [m.id for m in stored] == [answer["userMessageId"], answer["messageId"]]
    assert "database busy" not in caplog.text
