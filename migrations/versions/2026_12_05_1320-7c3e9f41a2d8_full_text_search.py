"""full-text search over thread titles and messages

Revision ID: 7c3e9f41a2d8
Revises: 5a1c0e7d9b21
Create Date: 2026-12-05 13:20:00.000000+00:00

SQLite: an FTS5 table with a key table, kept in step by triggers. PostgreSQL: stored tsvector
columns with GIN indexes. See sandchat/search_schema.py; the models do not know these objects.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7c3e9f41a2d8"
down_revision: str | None = "5a1c0e7d9b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Messages are indexed up to their first 100,000 characters (sandchat.search_schema.INDEXED_CHARS).
INDEXED_CHARS = 100_000
# Letters and digits only, as FTS5's unicode61 tokenizer sees words.
WORDS = "'[^[:alnum:]]+', ' ', 'g'"

# Made again by revision d4a8b2c61e07, after rebuilding ``thread`` dropped them. SQLite stores a
# trigger's SQL without IF NOT EXISTS: the schema is the same as with a plain CREATE TRIGGER.
SQLITE_THREAD_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS search_thread_insert AFTER INSERT ON thread BEGIN
        INSERT INTO search_row (thread_id, message_id) VALUES (new.id, NULL);
        INSERT INTO search_index (rowid, body) VALUES (last_insert_rowid(), new.title);
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_thread_update AFTER UPDATE OF title ON thread BEGIN
        UPDATE search_index SET body = new.title WHERE rowid =
            (SELECT search_rowid FROM search_row WHERE thread_id = new.id AND message_id IS NULL);
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_thread_delete AFTER DELETE ON thread BEGIN
        DELETE FROM search_index WHERE rowid IN (SELECT search_rowid FROM search_row WHERE thread_id = old.id);
        DELETE FROM search_row WHERE thread_id = old.id;
    END""",
]
SQLITE_UP = [
    "CREATE VIRTUAL TABLE search_index USING fts5(body, tokenize = 'unicode61 remove_diacritics 0')",
    # An FTS5 row's key must outlive VACUUM and table rebuilds: an INTEGER PRIMARY KEY does.
    "CREATE TABLE search_row (search_rowid INTEGER PRIMARY KEY, thread_id VARCHAR(36) NOT NULL, "
    "message_id VARCHAR(36) UNIQUE)",
    "CREATE INDEX search_row_thread ON search_row (thread_id)",
    """CREATE TRIGGER search_message_insert AFTER INSERT ON message BEGIN
        INSERT INTO search_row (thread_id, message_id) VALUES (new.thread_id, new.id);
        INSERT INTO search_index (rowid, body)
            VALUES ((SELECT search_rowid FROM search_row WHERE message_id = new.id), substr(new.content, 1, 100000));
    END""",
    """CREATE TRIGGER search_message_update AFTER UPDATE OF content ON message BEGIN
        UPDATE search_index SET body = substr(new.content, 1, 100000)
            WHERE rowid = (SELECT search_rowid FROM search_row WHERE message_id = new.id);
    END""",
    """CREATE TRIGGER search_message_delete AFTER DELETE ON message BEGIN
        DELETE FROM search_index WHERE rowid = (SELECT search_rowid FROM search_row WHERE message_id = old.id);
        DELETE FROM search_row WHERE message_id = old.id;
    END""",
    *SQLITE_THREAD_TRIGGERS,
    # What is already stored: titles, then messages.
    "INSERT INTO search_row (thread_id, message_id) SELECT id, NULL FROM thread",
    "INSERT INTO search_row (thread_id, message_id) SELECT thread_id, id FROM message",
    "INSERT INTO search_index (rowid, body) SELECT r.search_rowid, t.title FROM search_row r "
    "JOIN thread t ON t.id = r.thread_id WHERE r.message_id IS NULL",
    "INSERT INTO search_index (rowid, body) SELECT r.search_rowid, substr(m.content, 1, 100000) "
    "FROM search_row r JOIN message m ON m.id = r.message_id",
]
SQLITE_DOWN = [
    *(
        f"DROP TRIGGER IF EXISTS search_{name}"
        for name in (
            "message_insert",
            "message_update",
            "message_delete",
            "thread_insert",
            "thread_update",
            "thread_delete",
        )
    ),
    "DROP TABLE IF EXISTS search_row",
    "DROP TABLE IF EXISTS search_index",
]

POSTGRESQL_UP = [
    "ALTER TABLE thread ADD COLUMN search_vector tsvector "
    f"GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(title, {WORDS}))) STORED",
    "ALTER TABLE message ADD COLUMN search_vector tsvector "
    f"GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(left(content, {INDEXED_CHARS}), {WORDS}))) STORED",
    "CREATE INDEX ix_thread_search ON thread USING gin (search_vector)",
    "CREATE INDEX ix_message_search ON message USING gin (search_vector)",
]
POSTGRESQL_DOWN = [
    "DROP INDEX IF EXISTS ix_message_search",
    "DROP INDEX IF EXISTS ix_thread_search",
    "ALTER TABLE message DROP COLUMN IF EXISTS search_vector",
    "ALTER TABLE thread DROP COLUMN IF EXISTS search_vector",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(SQLITE_UP if dialect == "sqlite" else POSTGRESQL_UP)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(SQLITE_DOWN if dialect == "sqlite" else POSTGRESQL_DOWN)
