"""create thread and message

Revision ID: 248afac52450
Revises:
Create Date: 2026-11-25 08:43:47.258181+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "248afac52450"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _uuid(name: str, *, nullable: bool = False) -> sa.Column[str]:
    """A uuid column: 36 characters, the text form."""
    return sa.Column(name, sa.String(length=36), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "thread",
        _uuid("id"),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("claude_session_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_thread")),
    )
    op.create_index("ix_thread_updated_at", "thread", ["updated_at", "id"], unique=False)
    op.create_table(
        "message",
        _uuid("id"),
        _uuid("thread_id"),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _uuid("turn_id", nullable=True),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('user', 'assistant')", name=op.f("ck_message_role")),
        sa.CheckConstraint(
            "status IN ('complete', 'streaming', 'error', 'cancelled', 'interrupted')",
            name=op.f("ck_message_status"),
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["thread.id"], name=op.f("fk_message_thread_id_thread"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
    )
    op.create_index("ix_message_thread_id_created_at", "message", ["thread_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_message_thread_id_created_at", table_name="message")
    op.drop_table("message")
    op.drop_index("ix_thread_updated_at", table_name="thread")
    op.drop_table("thread")
