"""thread forks: a thread made by editing a message of another one

Revision ID: c7a91d3e5f02
Revises: b4d2e8f61c30
Create Date: 2026-12-06 02:20:00.000000+00:00

Where the thread came from (the origin thread and the edited message, shown to the user; no foreign
key: the origin may be deleted and the fork stays) and the agent session it forks at its first turn
(the origin's session, up to the chain entry that ended the turn before the edited message).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7a91d3e5f02"
down_revision: str | None = "b4d2e8f61c30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("thread") as batch:
        batch.add_column(sa.Column("forked_from_thread_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("forked_from_message_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("fork_session_id", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("fork_at_entry", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("thread") as batch:
        batch.drop_column("fork_at_entry")
        batch.drop_column("fork_session_id")
        batch.drop_column("forked_from_message_id")
        batch.drop_column("forked_from_thread_id")
