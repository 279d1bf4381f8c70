"""The SQL each migration emits on PostgreSQL, as alembic's offline mode writes it, revision by revision.

A released revision must keep emitting the SQL it was released with: a deployed database has run it,
and a fresh one must end up the same. ``tests/data/released_migrations.postgresql.sql`` holds that SQL;
a new revision is recorded there once it is part of main:

    .venv/bin/python -m tests.migration_sql > tests/data/released_migrations.postgresql.sql

The one value that changes from run to run, the moment a data migration stamps, is written ``'<now>'``.
A new SQLAlchemy or alembic may write the same schema differently: then read the difference, and record
again only if it changes nothing a database would hold.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Final

from alembic import command
from sandchat_dev.stack import alembic_config

RELEASED: Final = Path(__file__).parent / "data" / "released_migrations.postgresql.sql"
# Offline mode connects to nothing: the URL only chooses the dialect.
_DIALECT_URL: Final = "postgresql+asyncpg://offline/none"
_HEADER: Final = re.compile(r"^-- Running upgrade (\S*) -> (\S+)$", re.MULTILINE)
_TIMESTAMP: Final = re.compile(r"'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?\+00:00'")


def offline_sql() -> str:
    """Every revision's upgrade SQL, from the empty database to head."""
    config = alembic_config(_DIALECT_URL)
    buffer = io.StringIO()
    config.output_buffer = buffer
    command.upgrade(config, "head", sql=True)
    return _TIMESTAMP.sub("'<now>'", buffer.getvalue())


def by_revision(sql: str) -> dict[str, str]:
    """The SQL of each revision: what follows its ``-- Running upgrade`` line, up to the next one."""
    headers = list(_HEADER.finditer(sql))
    ends = [header.start() for header in headers[1:]] + [len(sql)]
    return {header.group(2): sql[header.end() : end].strip() for header, end in zip(headers, ends, strict=True)}


if __name__ == "__main__":
    print(offline_sql(), end="")
