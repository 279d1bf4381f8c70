"""Thread and message operations, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sandchat import threads
from sandchat.database import Database
from sandchat.models import DEFAULT_TITLE
from sqlalchemy.exc import IntegrityError


async def test_new_thread_gets_the_default_title_and_no_session(database: Database) -> None:
    async with database.transaction() as session:
        thread = await threads.create_thread(session)
    async with database.transaction() as session:
        stored = await threads.get_thread(session, thread.id)
    assert stored is not None
    assert stored.title == DEFAULT_TITLE
    assert stored.claude_session_id is None
    assert stored.created_at.tzinfo is not None


async def test_threads_are_listed_most_recent_first_across_pages(database: Database) -> None:
    ids = []
    for index in range(7):
        async with database.transaction() as session:
            ids.append((await threads.create_thread(session, f"thread {index}")).id)
    # Writing to the oldest thread makes it the most recent.
    async with database.transaction() as session:
        await threads.add_message(session, ids[0], "user", "hello")

    seen: list[str] = []
    cursor = None
    while True:
        async with database.transaction() as session:
            page = await threads.list_threads(session, limit=3, cursor=cursor)
        seen += [thread.id for thread in page.threads]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [ids[0], *reversed(ids[1:])]


async def test_a_forged_cursor_is_refused(database: Database) -> None:
    async with database.transaction() as session:
        with pytest.raises(threads.InvalidCursorError):
            await threads.list_threads(session, cursor="not-a-cursor")


async def test_messages_come_back_in_the_order_they_were_written(database: Database) -> None:
    async with database.transaction() as session:
        thread = await threads.create_thread(session)
        for index in range(20):
            await threads.add_message(session, thread.id, "user" if index % 2 == 0 else "assistant", str(index))
    async with database.transaction() as session:
        messages = await threads.list_messages(session, thread.id)
    assert [message.content for message in messages] == [str(index) for index in range(20)]


async def test_adding_a_message_bumps_the_thread(database: Database) -> None:
    async with database.transaction() as session:
        thread = await threads.create_thread(session)
    before = thread.updated_at
    async with database.transaction() as session:
        await threads.add_message(session, thread.id, "user", "hi")
    async with database.transaction() as session:
        after = await threads.get_thread(session, thread.id)
    assert after is not None
    assert after.updated_at > before


async def test_streaming_reply_is_updated_then_finalised(database: Database) -> None:
    async with database.transaction() as session:
        thread = await threads.create_thread(session)
        reply = await threads.add_message(session, thread.id, "assistant", "", status="streaming", turn_id="t1")
    async with database.transaction() as session:
        await threads.write_progress(session, {reply.id: "partial"})
    async with database.transaction() as session:
        stored = await threads.get_message(session, reply.id)
    assert stored is not None
    assert (stored.content, stored.status) == ("partial", "streaming")
    async with database.transaction() as session:
        assert await threads.finish_message(
            session, reply.id, content="partial and done", status="complete", meta={"costUsd": 0.01}
        )
    async with database.transaction() as session:
        # A progress write that lands after the end changes nothing.
        await threads.write_progress(session, {reply.id: "partial and"})
    async with database.transaction() as session:
        stored = await threads.get_message(session, reply.id)
    assert stored is not None
    assert (stored.content, stored.status, stored.meta) == ("partial and done", "complete", {"costUsd": 0.01})


async def test_session_id_and_rename_are_kept(database: Database) -> None:
    async with database.transaction() as session:
        thread = await threads.create_thread(session)
        await threads.set_session_id(session, thread.id, "abc-123")
        await threads.rename_thread(session, thread.id, "Renamed")
    async with database.transaction() as session:
        stored = await threads.get_thread(session, thread.id)
    assert stored is not None
    assert (stored.claude_session_id, stored.title) == ("abc-123", "Renamed")


async def test_deleting_a_thread_deletes_its_messages(database: Database) -> None:
    async with database.transaction() as session:
        thread = await threads.create_thread(session)
        message = await threads.add_message(session, thread.id, "user", "bye")
    async with database.transaction() as session:
        assert await threads.delete_thread(session, thread.id)
    async with database.transaction() as session:
        assert await threads.get_message(session, message.id) is None
        assert not await threads.delete_thread(session, thread.id)


async def test_a_message_needs_an_existing_thread(database: Database) -> None:
    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            await threads.add_message(session, "no-such-thread", "user", "orphan")


async def test_an_unknown_role_is_refused_by_the_schema(database: Database) -> None:
    async with database.transaction() as session:
        thread = await threads.create_thread(session)
    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            await threads.add_message(session, thread.id, "system", "nope")


@pytest.mark.parametrize(
    ("content", "title"),
    [
        ("Fix the flaky test in the parser", "Fix the flaky test in the parser"),
        (
            "Please refactor the websocket gateway so that it shares a single redis connection",
            "Please refactor the websocket gateway so that it shares a",
        ),
        ("a" * 80, "a" * 60),
        ("   \n  ", DEFAULT_TITLE),
        ("line one\nline two", "line one line two"),
    ],
)
def test_title_is_the_first_sixty_characters_cut_at_a_word(content: str, title: str) -> None:
    assert threads.title_from_message(content) == title
    assert len(threads.title_from_message(content)) <= 60


async def test_beginning_an_exchange_stores_both_messages_and_titles_the_first(database: Database) -> None:
    async with database.transaction() as session:
        thread = await threads.create_thread(session)
    async with database.transaction() as session:
        first = await threads.begin_exchange(session, thread.id, "Refactor the gateway please", "turn-1")
    async with database.transaction() as session:
        second = await threads.begin_exchange(session, thread.id, "And now the worker", "turn-2")
    assert first is not None
    assert second is not None
    assert (first.title, second.title) == ("Refactor the gateway please", None)
    async with database.transaction() as session:
        stored = await threads.list_messages(session, thread.id)
        renamed = await threads.get_thread(session, thread.id)
    assert [(m.role, m.status, m.turn_id) for m in stored] == [
        ("user", "complete", None),
        ("assistant", "streaming", "turn-1"),
        ("user", "complete", None),
        ("assistant", "streaming", "turn-2"),
    ]
    assert renamed is not None
    assert renamed.title == "Refactor the gateway please"


async def test_a_title_the_user_chose_is_kept_and_a_missing_thread_is_none(database: Database) -> None:
    async with database.transaction() as session:
        thread = await threads.create_thread(session, "My plan")
        exchange = await threads.begin_exchange(session, thread.id, "first words", "turn-1")
        missing = await threads.begin_exchange(session, "no-such-thread", "hello", "turn-2")
    assert exchange is not None
    assert exchange.title is None
    assert missing is None
