"""people's own agent logins, encrypted with a key derived from SECRET_KEY

Revision ID: e5b9c3d72f18
Revises: d4a8b2c61e07
Create Date: 2026-12-06 02:30:00.000000+00:00

One row per person at most; it goes with the person (on delete cascade). ``sealed`` holds the
credential encrypted with AES-256-GCM (sandchat/agent_logins.py); nothing here is readable without
SECRET_KEY.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5b9c3d72f18"
down_revision: str | None = "d4a8b2c61e07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_login",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('oauth_token', 'api_key')", name=op.f("ck_agent_login_kind")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_agent_login_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_agent_login")),
    )


def downgrade() -> None:
    op.drop_table("agent_login")
