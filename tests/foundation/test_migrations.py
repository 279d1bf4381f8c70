"""Alembic owns the schema: upgrade, downgrade and no drift, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sandchat import threads
from sandchat.database import Database, create_engine
from sandchat.models import LOCAL_USER_ID, Base
from sandchat.search import search
from sandchat.search_schema import is_model_object
from sandchat_dev.stack import alembic_config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from tests import backends
from tests.migration_sql import RELEASED, by_revision, offline_sql


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def _drift(url: str) -> list[object]:
    def compare(connection: Connection) -> list[object]:
        opts = {"compare_type": True, "include_object": is_model_object}
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


async def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    assert await _drift(database_url) == []


def test_upgrade_creates_and_downgrade_removes_both_tables(database_url: str) -> None:
    # Alembic's env.py runs its own event loop, so this test is synchronous.
    assert {"thread", "message"} <= asyncio.run(_tables(database_url))
    command.downgrade(alembic_config(database_url), "base")
    assert not {"thread", "message"} & asyncio.run(_tables(database_url))
    command.upgrade(alembic_config(database_url), "head")
    assert {"thread", "message"} <= asyncio.run(_tables(database_url))


def test_released_revisions_still_emit_the_sql_they_were_released_with() -> None:
    released = by_revision(RELEASED.read_text())
    now = by_revision(offline_sql())
    changed = [revision for revision, sql in released.items() if now.get(revision) != sql]
    assert changed == [], f"released revisions whose SQL changed (or that are gone): {changed}"
    unrecorded = [revision for revision in now if revision not in released]
    assert unrecorded == [], f"record the new revisions {unrecorded}: see tests/migration_sql.py"


def test_revision_files_have_dated_names() -> None:
    versions = sorted((Path(backends.ROOT) / "migrations" / "versions").glob("*.py"))
    assert versions, "no migration revisions"
    for path in versions:
        assert path.name[:4].isdigit(), path.name


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'x.db'}")
    try:
        line = await database.describe()
    finally:
        await database.close()
    assert "journal_mode=wal" in line
    assert "busy_timeout=10000ms" in line
    assert "foreign_keys=1" in line


async def _fill_single_user_database(url: str) -> None:
    """Two threads with messages, written as the schema before owners stored them."""
    engine = create_engine(url)
    stamp = "2026-12-01 10:00:00"
    try:
        async with engine.begin() as connection:
            for number, title in enumerate(("Walrus migration notes", "Quokka plans"), start=1):
                await connection.execute(
                    text(
                        "INSERT INTO thread (id, title, created_at, updated_at) VALUES (:id, :title, :at, :at)"
                    ).bindparams(id=f"thread-{number}", title=title, at=datetime.fromisoformat(stamp))
                )
                for index, role in enumerate(("user", "assistant")):
                    await connection.execute(
                        text(
                            "INSERT INTO message (id, thread_id, role, content, status, created_at) "
                            "VALUES (:id, :thread, :role, :content, 'complete', :at)"
                        ).bindparams(
                            id=f"message-{number}-{index}",
                            thread=f"thread-{number}",
                            role=role,
                            content=f"{role} text about pangolin{number}",
                            at=datetime.fromisoformat(stamp),
                        )
                    )
    finally:
        await engine.dispose()


async def _after_upgrade(url: str) -> tuple[list[tuple[str, str]], int, list[str], list[str]]:
    database = Database(url)
    try:
        async with database.transaction() as session:
            owners = [
                (row.id, row.owner_id) for row in (await session.execute(text("SELECT id, owner_id FROM thread")))
            ]
            messages = int((await session.execute(text("SELECT count(*) FROM message"))).scalar_one())
            old_hits = [hit.thread_id for word in ("walrus", "pangolin2") for hit in (await search(session, word)).hits]
            thread = await threads.create_thread(session, "Capybara")
            await threads.add_message(session, thread.id, "user", "a new word: axolotl")
        async with database.reading() as session:
            new_hits = sorted(
                {hit.thread_id for hit in (await search(session, "capybara")).hits}
                | {hit.thread_id for hit in (await search(session, "axolotl")).hits}
            )
            assert new_hits == [thread.id]
        return sorted(owners), messages, sorted(set(old_hits)), new_hits
    finally:
        await database.close()


def test_upgrade_from_a_single_user_database_keeps_every_thread_message_and_search_hit(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "7c3e9f41a2d8")
    asyncio.run(_fill_single_user_database(database_url))
    command.upgrade(config, "head")
    owners, messages, old_hits, new_hits = asyncio.run(_after_upgrade(database_url))
    assert owners == [("thread-1", LOCAL_USER_ID), ("thread-2", LOCAL_USER_ID)]
    assert messages == 4
    assert old_hits == ["thread-1", "thread-2"]
    assert len(new_hits) == 1


async def _search_objects(url: str) -> list[tuple[str, ...]]:
    """The full-text search objects as the database stores them (SQLite's SQL text; PostgreSQL's definitions)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                query = "SELECT type, name, sql FROM sqlite_master WHERE name LIKE 'search%' ORDER BY type, name"
            else:
                query = (
                    "SELECT table_name, column_name, generation_expression FROM information_schema.columns "
                    "WHERE column_name = 'search_vector' UNION ALL "
                    "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%search%' "
                    "ORDER BY 1, 2"
                )
            return [tuple(str(field) for field in row) for row in await connection.execute(text(query))]
    finally:
        await engine.dispose()


def test_the_owners_revision_leaves_the_search_objects_as_the_search_revision_made_them(database_url: str) -> None:
    # d4a8b2c61e07 rebuilds `thread` on SQLite, which drops its search triggers; it makes them again
    # from 7c3e9f41a2d8's own statements, on the way up and on the way down.
    config = alembic_config(database_url)
    command.downgrade(config, "5a1c0e7d9b21")
    command.upgrade(config, "7c3e9f41a2d8")
    made = asyncio.run(_search_objects(database_url))
    command.upgrade(config, "d4a8b2c61e07")
    after_upgrade = asyncio.run(_search_objects(database_url))
    command.downgrade(config, "7c3e9f41a2d8")
    after_downgrade = asyncio.run(_search_objects(database_url))
    command.upgrade(config, "head")
    assert len(made) >= 4
    assert after_upgrade == made
    assert after_downgrade == made
