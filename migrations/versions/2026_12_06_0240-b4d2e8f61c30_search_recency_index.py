"""search: a recency index of messages on PostgreSQL

Revision ID: b4d2e8f61c30
Revises: e5b9c3d72f18
Create Date: 2026-12-06 02:40:00.000000+00:00

PostgreSQL ranks the newest matches of a search only (sandchat.search): a common word walks this
index newest first until it has them. SQLite needs none (its FTS5 rowids are in insertion order).
Like the other search objects, the models do not know it (sandchat.search_schema).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b4d2e8f61c30"
down_revision: str | None = "e5b9c3d72f18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_message_search_recency ON message (created_at, id)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_message_search_recency")
