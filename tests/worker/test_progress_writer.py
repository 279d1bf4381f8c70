"""A worker's streaming replies: their text so far reaches the database together, never over an end."""

from __future__ import annotations

from sandchat import threads
from sandchat.database import Database
from sandchat_worker.progress_writer import ProgressWriter
from sqlalchemy import event
from sqlalchemy.engine import Connection


async def _replies(database: Database, count: int) -> list[str]:
    async with database.transaction() as session:
        thread = await threads.create_thread(session)
        replies = [
            await threads.add_message(session, thread.id, "assistant", "", status="streaming", turn_id=f"t{n}")
            for n in range(count)
        ]
    return [reply.id for reply in replies]


async def _stored(database: Database, reply_id: str) -> tuple[str, str]:
    async with database.reading() as session:
        message = await threads.get_message(session, reply_id)
    assert message is not None
    return message.content, message.status


async def test_the_replies_of_many_turns_are_written_in_one_transaction(database: Database) -> None:
    replies = await _replies(database, 50)
    transactions: list[int] = []

    def count(connection: Connection) -> None:
        transactions.append(1)

    event.listen(database.engine.sync_engine, "begin", count)
    writer = ProgressWriter(database, gap_s=0.01)
    try:
        for n, reply_id in enumerate(replies):
            writer.put(reply_id, f"reply {n}, first words")
        for n, reply_id in enumerate(replies):
            writer.put(reply_id, f"reply {n}, first words and more")  # the newer text replaces the older
        await writer.written()
    finally:
        event.remove(database.engine.sync_engine, "begin", count)
        await writer.close()
    assert [await _stored(database, reply_id) for reply_id in replies] == [
        (f"reply {n}, first words and more", "streaming") for n in range(50)
    ]
    assert len(transactions) == 1


async def test_a_reply_that_ended_keeps_its_final_text(database: Database) -> None:
    ended, forgotten, streaming = await _replies(database, 3)
    writer = ProgressWriter(database, gap_s=0.01)
    try:
        writer.put(ended, "the whole")
        writer.put(forgotten, "half of")
        writer.put(streaming, "so far")
        writer.forget(forgotten)
        async with database.transaction() as session:
            await threads.finish_message(session, ended, content="the whole reply", status="complete")
            await threads.finish_message(session, forgotten, content="half of it", status="cancelled")
        await writer.written()
    finally:
        await writer.close()
    assert await _stored(database, ended) == ("the whole reply", "complete")
    assert await _stored(database, forgotten) == ("half of it", "cancelled")
    assert await _stored(database, streaming) == ("so far", "streaming")
