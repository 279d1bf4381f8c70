"""The schema: people, their sessions and tokens, threads and their messages.

See docs/architecture.md#the-database; the migrations mirror it exactly.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sandchat.agent_cli import PERMISSION_MODES

NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES: Final = ("user", "assistant")
# `queued`: a user message sent while a turn ran, waiting for its own turn (then `complete`).
STATUSES: Final = ("complete", "streaming", "error", "cancelled", "interrupted", "queued")
DEFAULT_TITLE: Final = "New conversation"
USERNAME_MAX_LENGTH: Final = 254
# The one implicit person of AUTH_MODE=none and token: they own every thread there. A colon is in no
# name a person can have, so nobody signs in as them; the first admin created takes over their threads.
LOCAL_USER_ID: Final = "00000000-0000-4000-8000-000000000000"
LOCAL_USERNAME: Final = ":local"
TITLE_MAX_LENGTH: Final = 200

_last_stamp = datetime.min.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """The current UTC time, strictly increasing within this process.

    Messages are ordered by ``created_at``; a user message and its assistant message are written
    within the same microsecond often enough that ties must be impossible.
    """
    global _last_stamp  # noqa: PLW0603 - a process-wide monotonic clock is the point
    now = datetime.now(UTC)
    if now <= _last_stamp:
        now = _last_stamp + timedelta(microseconds=1)
    _last_stamp = now
    return now


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that reads back as UTC on SQLite too (which stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value is not None and dialect.name == "sqlite":
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class User(Base):
    """A person. Proxy users have no password; a disabled one can neither sign in nor use a token."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX_LENGTH), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UserSession(Base):
    """A browser's sign-in: the cookie's SHA-256 (never the cookie itself) and when it ends."""

    __tablename__ = "user_session"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """A personal API token (`sct_...`): shown once, stored as its SHA-256, revoked by deleting it."""

    __tablename__ = "api_token"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The token's last characters, so a person can tell their tokens apart in a list.
    hint: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StoredAgentLogin(Base):
    """A person's own agent credential, encrypted with a key derived from SECRET_KEY (sandchat.agent_logins).

    ``sealed`` is never returned by any API; ``kind`` (oauth_token or api_key) says where it goes.
    """

    __tablename__ = "agent_login"

    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    sealed: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint("kind IN ('oauth_token', 'api_key')", name="kind"),)


class Thread(Base):
    __tablename__ = "thread"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH), default=DEFAULT_TITLE)
    claude_session_id: Mapped[str | None] = mapped_column(String(100), default=None)
    # How the agent asks before it acts in this thread; NULL follows AGENT_PERMISSION_MODE.
    permission_mode: Mapped[str | None] = mapped_column(String(32), default=None)
    # Permission rules granted with "Allow always" in this thread, given to every agent started for it.
    allowed_tools: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    # A thread made by editing a message of another ("fork"): where it came from, and the agent
    # session its first turn forks (the origin's, up to the chain entry `fork_at_entry` when known).
    forked_from_thread_id: Mapped[str | None] = mapped_column(String(36), default=None)
    forked_from_message_id: Mapped[str | None] = mapped_column(String(36), default=None)
    fork_session_id: Mapped[str | None] = mapped_column(String(100), default=None)
    fork_at_entry: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    messages: Mapped[list[Message]] = relationship(
        back_populates="thread", cascade="all, delete-orphan", passive_deletes=True, order_by="Message.created_at"
    )

    __table_args__ = (
        Index("ix_thread_updated_at", "updated_at", "id"),
        Index("ix_thread_owner_id_updated_at", "owner_id", "updated_at", "id"),
        CheckConstraint(
            f"permission_mode IS NULL OR permission_mode IN ({_sql_list(PERMISSION_MODES)})", name="permission_mode"
        ),
    )


class Message(Base):
    __tablename__ = "message"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    thread_id: Mapped[str] = mapped_column(String(36), ForeignKey("thread.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="complete")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # The turn that produced an assistant message (also its arq job id).
    turn_id: Mapped[str | None] = mapped_column(String(36), default=None)
    # Per-turn metadata: costUsd, durationMs, numTurns, tools (name, input, output, offset in content).
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    thread: Mapped[Thread] = relationship(back_populates="messages")

    __table_args__ = (
        Index("ix_message_thread_id_created_at", "thread_id", "created_at", "id"),
        # Queued messages are few and looked for often (each turn's end, the reapers): a partial index.
        Index(
            "ix_message_queued",
            "thread_id",
            "created_at",
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
        CheckConstraint(f"role IN ({_sql_list(ROLES)})", name="role"),
        CheckConstraint(f"status IN ({_sql_list(STATUSES)})", name="status"),
    )
