"""Alembic environment: async engine from sandchat's settings, metadata from sandchat's models."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from sandchat.database import create_engine
from sandchat.models import Base
from sandchat.search_schema import is_model_object
from sandchat.settings import load_settings
from sqlalchemy import event
from sqlalchemy.engine import Connection

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _database_url() -> str:
    # Tests pass the URL explicitly; services and `make migrate` use DATABASE_URL.
    url = config.attributes.get("database_url")
    return str(url) if url else load_settings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=is_model_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    # A batch migration rebuilds a SQLite table by dropping the old one: with foreign keys on, that
    # drop deletes every row that refers to it (a thread's messages, by cascade). The pragma has no
    # effect inside a transaction, so it is set as the connection opens, after sandchat's own pragmas.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=OFF")
    finally:
        cursor.close()


async def _run_online() -> None:
    engine = create_engine(_database_url())
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _foreign_keys_off)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_online())
