"""The schema: threads and their messages (DESIGN §4). Alembic migrations mirror this exactly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    JSON,
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


class Thread(Base):
    __tablename__ = "thread"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
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
