"""Alembic owns the schema: upgrade, downgrade and no drift, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sandchat.database import Database, create_engine
from sandchat.models import Base
from sandchat.search_schema import is_model_object
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tests import backends


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
    command.downgrade(backends.alembic_config(database_url), "base")
    assert not {"thread", "message"} & asyncio.run(_tables(database_url))
    command.upgrade(backends.alembic_config(database_url), "head")
    assert {"thread", "message"} <= asyncio.run(_tables(database_url))


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
