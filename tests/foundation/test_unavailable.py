"""What the operator's log says when the database or Redis fails: the cause, never what a user wrote."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sandchat.unavailable import why
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine


async def test_a_database_error_is_told_by_the_drivers_sentence_without_the_statement_or_its_values(
    tmp_path: Path,
) -> None:
    path = tmp_path / "locked.db"
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 0.05})
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE note (body TEXT)"))
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(OperationalError) as caught:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO note (body) VALUES (:body)"), {"body": "a person's words"})
    finally:
        holder.rollback()
        holder.close()
        await engine.dispose()
    assert why(caught.value) == "OperationalError: database is locked"


def test_any_other_error_is_told_by_its_class_alone() -> None:
    assert why(RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")) == "ConnectionError"
