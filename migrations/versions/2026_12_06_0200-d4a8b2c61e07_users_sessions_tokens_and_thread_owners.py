"""users, their sessions and API tokens, and the owner of each thread

Revision ID: d4a8b2c61e07
Revises: 7c3e9f41a2d8
Create Date: 2026-12-06 02:00:00.000000+00:00

Existing threads go to the implicit local user (the one person of AUTH_MODE=none and token);
the first admin created with `sandchat-admin create-user NAME --admin` takes them over.

SQLite: adding the owner's foreign key rebuilds ``thread`` (copy, drop, rename), which drops the
full-text-search triggers on it (sandchat/search_schema.py); they are made again and the index rebuilt.
env.py turns SQLite's foreign keys off while migrating, so dropping the old table deletes no message.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

revision: str = "d4a8b2c61e07"
down_revision: str | None = "7c3e9f41a2d8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCAL_USER_ID = "00000000-0000-4000-8000-000000000000"
LOCAL_USERNAME = ":local"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _restore_sqlite_search() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # The thread triggers of revision 7c3e9f41a2d8, as they were made there.
    search = context.script.get_revision("7c3e9f41a2d8")
    assert search is not None
    for statement in search.module.SQLITE_THREAD_TRIGGERS:
        op.execute(statement)
    # search_index holds its own copy of every text (not an external-content table), and its
    # rows are keyed by search_row, which the rebuild did not touch; 'rebuild' remakes its b-tree.
    op.execute("INSERT INTO search_index (search_index) VALUES ('rebuild')")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "user_session",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_session_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_session_token_hash")),
    )
    op.create_index(op.f("ix_user_session_user_id"), "user_session", ["user_id"])
    op.create_table(
        "api_token",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=8), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_token_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_index(op.f("ix_api_token_user_id"), "api_token", ["user_id"])

    users = sa.table(
        "users",
        sa.column("id", sa.String),
        sa.column("username", sa.String),
        sa.column("password_hash", sa.String),
        sa.column("is_admin", sa.Boolean),
        sa.column("disabled", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as sandchat.models.UTCDateTime stores it there
    op.bulk_insert(
        users,
        [
            {
                "id": LOCAL_USER_ID,
                "username": LOCAL_USERNAME,
                "password_hash": None,
                "is_admin": False,
                "disabled": False,
                "created_at": now,
            }
        ],
    )

    with op.batch_alter_table("thread") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(length=36), nullable=True))
    op.execute(sa.text("UPDATE thread SET owner_id = :owner").bindparams(owner=LOCAL_USER_ID))
    with op.batch_alter_table("thread") as batch:
        batch.alter_column("owner_id", existing_type=sa.String(length=36), nullable=False)
        batch.create_foreign_key(op.f("fk_thread_owner_id_users"), "users", ["owner_id"], ["id"], ondelete="CASCADE")
    op.create_index("ix_thread_owner_id_updated_at", "thread", ["owner_id", "updated_at", "id"])
    _restore_sqlite_search()


def downgrade() -> None:
    op.drop_index("ix_thread_owner_id_updated_at", table_name="thread")
    with op.batch_alter_table("thread") as batch:
        batch.drop_constraint(op.f("fk_thread_owner_id_users"), type_="foreignkey")
        batch.drop_column("owner_id")
    _restore_sqlite_search()
    op.drop_index(op.f("ix_api_token_user_id"), table_name="api_token")
    op.drop_table("api_token")
    op.drop_index(op.f("ix_user_session_user_id"), table_name="user_session")
    op.drop_table("user_session")
    op.drop_table("users")
