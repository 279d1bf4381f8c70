"""queued messages and permission modes

Revision ID: 5a1c0e7d9b21
Revises: 248afac52450
Create Date: 2026-11-25 16:22:12.731879+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5a1c0e7d9b21"
down_revision: str | None = "248afac52450"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD_STATUSES = "'complete', 'streaming', 'error', 'cancelled', 'interrupted'"
NEW_STATUSES = OLD_STATUSES + ", 'queued'"
MODES = "'bypassPermissions', 'acceptEdits', 'default', 'plan'"


def upgrade() -> None:
    with op.batch_alter_table("thread") as batch:
        batch.add_column(sa.Column("permission_mode", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("allowed_tools", sa.JSON(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_thread_permission_mode"), f"permission_mode IS NULL OR permission_mode IN ({MODES})"
        )
    with op.batch_alter_table("message") as batch:
        batch.drop_constraint(op.f("ck_message_status"), type_="check")
        batch.create_check_constraint(op.f("ck_message_status"), f"status IN ({NEW_STATUSES})")
    queued = sa.text("status = 'queued'")
    op.create_index(
        "ix_message_queued", "message", ["thread_id", "created_at"], sqlite_where=queued, postgresql_where=queued
    )


def downgrade() -> None:
    op.drop_index("ix_message_queued", table_name="message")
    # A queued message that never ran would break the old constraint: it is kept, as an error.
    op.execute(
        sa.text("UPDATE message SET status = 'error', error = 'Never sent to the agent.' WHERE status = 'queued'")
    )
    with op.batch_alter_table("message") as batch:
        batch.drop_constraint(op.f("ck_message_status"), type_="check")
        batch.create_check_constraint(op.f("ck_message_status"), f"status IN ({OLD_STATUSES})")
    with op.batch_alter_table("thread") as batch:
        batch.drop_constraint(op.f("ck_thread_permission_mode"), type_="check")
        batch.drop_column("allowed_tools")
        batch.drop_column("permission_mode")
