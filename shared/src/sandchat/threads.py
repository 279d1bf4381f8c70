"""Thread and message operations, the same for the API, the gateway and the worker.

Every function takes an open :class:`AsyncSession`; the caller owns the transaction
(``async with database.transaction() as session``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import and_, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sandchat.keyset import first_rows
from sandchat.models import DEFAULT_TITLE, LOCAL_USER_ID, Message, Thread, new_id, utcnow

TITLE_FROM_MESSAGE_LENGTH: Final = 60
MAX_PAGE_SIZE: Final = 200
# Ids are UUIDs (36 characters); anything much longer names nothing.
MAX_ID_CHARS: Final = 64


class InvalidCursorError(ValueError):
    """A pagination cursor that this service did not hand out."""


@dataclass(frozen=True, slots=True)
class ExchangeStart:
    """One turn's start to store: the user's message and the ids its turn chose beforehand."""

    thread_id: str
    content: str
    turn_id: str
    user_message_id: str | None = None
    reply_id: str | None = None


@dataclass(frozen=True, slots=True)
class Exchange:
    """What starting a turn stored: the user's message, the empty streaming reply, a new title; and the
    thread as the transaction read it (its session, mode and rules: what the turn's agent starts with)."""

    user: Message
    reply: Message
    title: str | None
    thread: Thread


@dataclass(frozen=True, slots=True)
class ThreadPage:
    threads: list[Thread]
    next_cursor: str | None


def is_plausible_id(value: str) -> bool:
    """Whether ``value`` could be a thread's or message's id.

    One that cannot (too long, or holding a NUL, which PostgreSQL cannot store) names nothing: it is
    answered "not found" without being looked up, and never becomes part of a Redis key.
    """
    return 0 < len(value) <= MAX_ID_CHARS and "\x00" not in value


def title_from_message(content: str) -> str:
    """A thread title from its first message: the first 60 characters, cut back to a word boundary."""
    flat = " ".join(content.split())
    if len(flat) <= TITLE_FROM_MESSAGE_LENGTH:
        return flat or DEFAULT_TITLE
    cut = flat[:TITLE_FROM_MESSAGE_LENGTH]
    if flat[TITLE_FROM_MESSAGE_LENGTH] != " " and " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() or DEFAULT_TITLE


def encode_cursor(thread: Thread) -> str:
    raw = f"{thread.updated_at.isoformat()}|{thread.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; :class:`InvalidCursorError` for anything this service did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, thread_id = raw.split("|", 1)
        when = datetime.fromisoformat(stamp)
        # Cursors hold UTC times; a time at another offset may not even exist in UTC (year 1 at +14:00).
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise InvalidCursorError from exc
    if not is_plausible_id(thread_id):
        raise InvalidCursorError
    return when, thread_id


async def create_thread(session: AsyncSession, title: str | None = None, *, owner_id: str = LOCAL_USER_ID) -> Thread:
    """A new thread of ``owner_id`` (the implicit local user when the stack has no accounts)."""
    thread = Thread(title=title or DEFAULT_TITLE, owner_id=owner_id)
    session.add(thread)
    await session.flush()
    return thread


async def get_thread(session: AsyncSession, thread_id: str, *, owner_id: str | None = None) -> Thread | None:
    """The thread; with ``owner_id``, only if it is theirs (another's thread is as one that does not exist)."""
    thread = await session.get(Thread, thread_id)
    if thread is None or (owner_id is not None and thread.owner_id != owner_id):
        return None
    return thread


async def list_threads(
    session: AsyncSession, limit: int = 50, cursor: str | None = None, *, owner_id: str = LOCAL_USER_ID
) -> ThreadPage:
    """The owner's threads, most recently updated first; ``cursor`` continues after the last one of a page."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = select(Thread).where(Thread.owner_id == owner_id).order_by(Thread.updated_at.desc(), Thread.id.desc())
    if cursor is not None:
        stamp, thread_id = decode_cursor(cursor)
        query = query.where(
            or_(Thread.updated_at < stamp, and_(Thread.updated_at == stamp, Thread.id < thread_id)),
        )
    threads, more = await first_rows(session, query, limit)
    return ThreadPage(threads, encode_cursor(threads[-1]) if more else None)


async def list_messages(session: AsyncSession, thread_id: str) -> list[Message]:
    query = select(Message).where(Message.thread_id == thread_id).order_by(Message.created_at, Message.id)
    return list((await session.scalars(query)).all())


async def add_message(
    session: AsyncSession,
    thread_id: str,
    role: str,
    content: str,
    *,
    status: str = "complete",
    turn_id: str | None = None,
) -> Message:
    """Store a message and bump its thread's ``updated_at``."""
    message = Message(thread_id=thread_id, role=role, content=content, status=status, turn_id=turn_id)
    session.add(message)
    await session.execute(update(Thread).where(Thread.id == thread_id).values(updated_at=utcnow()))
    await session.flush()
    return message


async def begin_exchange(
    session: AsyncSession,
    thread_id: str,
    content: str,
    turn_id: str,
    *,
    user_message_id: str | None = None,
    reply_id: str | None = None,
) -> Exchange | None:
    """Store a user message and the assistant's empty `streaming` reply; ``None`` when no such thread.

    On the thread's first message the title becomes its first words, unless the user chose one.
    The messages' ids may be chosen beforehand (the turn is registered in Redis before it is stored).
    """
    start = ExchangeStart(thread_id, content, turn_id, user_message_id, reply_id)
    return (await begin_exchanges(session, [start]))[0]


async def begin_exchanges(session: AsyncSession, starts: list[ExchangeStart]) -> list[Exchange | None]:
    """:func:`begin_exchange` for several turns of different threads at once, in as many statements as one.

    The few statements a turn's start costs are on the path to its first token, so this is one read
    and one flush for all of them rather than a call per row.
    """
    has_messages = exists().where(Message.thread_id == Thread.id)
    ids = [start.thread_id for start in starts]
    rows = (await session.execute(select(Thread, has_messages).where(Thread.id.in_(ids)))).all()
    found = {thread.id: (thread, started_before) for thread, started_before in rows}
    exchanges: list[Exchange | None] = []
    for start in starts:
        if start.thread_id not in found:
            exchanges.append(None)
            continue
        thread, started_before = found[start.thread_id]
        user = Message(
            id=start.user_message_id or new_id(),
            thread_id=start.thread_id,
            role="user",
            content=start.content,
            created_at=utcnow(),
        )
        reply = _reply(start.thread_id, start.turn_id, start.reply_id)
        session.add_all([user, reply])
        title = None if started_before or thread.title != DEFAULT_TITLE else title_from_message(start.content)
        if title:
            thread.title = title
        thread.updated_at = utcnow()
        exchanges.append(Exchange(user, reply, title, thread))
    await session.flush()
    return exchanges


# A reply that ended so can be run again (events.Retry).
RETRYABLE_STATUSES: Final = ("error", "cancelled", "interrupted")


async def retryable_message(session: AsyncSession, thread_id: str) -> Message | None:
    """The user message a retry runs again: the one before the thread's last message, when that is a
    reply that ended in an error, a stop or an interruption (else ``None``)."""
    latest = (
        await session.scalars(
            select(Message)
            .where(Message.thread_id == thread_id, Message.status != "queued")
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(2)
        )
    ).all()
    if len(latest) < 2 or latest[0].role != "assistant" or latest[0].status not in RETRYABLE_STATUSES:
        return None
    return latest[1] if latest[1].role == "user" else None


async def begin_retry(session: AsyncSession, thread_id: str, user_message_id: str, turn_id: str, reply_id: str) -> bool:
    """Store a new streaming reply to ``user_message_id``, when it is still the one a retry runs again."""
    target = await retryable_message(session, thread_id)
    if target is None or target.id != user_message_id:
        return False
    session.add(_reply(thread_id, turn_id, reply_id))
    thread = await session.get(Thread, thread_id)
    if thread is not None:
        thread.updated_at = utcnow()
    await session.flush()
    return True


# The message a fork starts from is not a user message of the thread (or no longer exists).
NOT_A_USER_MESSAGE: Final = "not a user message"


def _copied_meta(meta: dict[str, Any] | None, session_id: str | None) -> dict[str, Any] | None:
    """A copied reply's metadata, naming the session its chain entry is in (editing it in the copy forks that one)."""
    if not meta or "agentUuid" not in meta or "agentSession" in meta or session_id is None:
        return meta
    return {**meta, "agentSession": session_id}


async def fork_thread(session: AsyncSession, thread_id: str, message_id: str, *, owner_id: str) -> Thread | str | None:
    """A new thread for editing ``message_id`` (a user message of ``thread_id``): a copy of the messages
    before it, linked to its origin, whose first turn forks the origin's agent session where the turn
    before that message ended. ``None``: no such thread of ``owner_id``'s; :data:`NOT_A_USER_MESSAGE`: no
    such message. The origin is not changed; the fork is its owner's too.
    """
    origin = await get_thread(session, thread_id, owner_id=owner_id)
    if origin is None:
        return None
    edited = await session.get(Message, message_id)
    if edited is None or edited.thread_id != thread_id or edited.role != "user" or edited.status == "queued":
        return NOT_A_USER_MESSAGE
    before = (
        await session.scalars(
            select(Message)
            .where(
                Message.thread_id == thread_id,
                Message.status != "queued",
                or_(
                    Message.created_at < edited.created_at,
                    and_(Message.created_at == edited.created_at, Message.id < edited.id),
                ),
            )
            .order_by(Message.created_at, Message.id)
        )
    ).all()
    # The agent's history up to the last turn that left a chain entry (a failed turn may leave none),
    # in the session that entry belongs to (a message copied into a fork names its own).
    marked = next((m for m in reversed(before) if m.meta and isinstance(m.meta.get("agentUuid"), str)), None)
    entry = marked.meta["agentUuid"] if marked is not None and marked.meta else None
    entry_session = (marked.meta.get("agentSession") if marked is not None and marked.meta else None) or (
        origin.claude_session_id
    )
    fork = Thread(
        owner_id=origin.owner_id,
        title=origin.title,
        permission_mode=origin.permission_mode,
        allowed_tools=origin.allowed_tools,
        forked_from_thread_id=origin.id,
        forked_from_message_id=edited.id,
        fork_session_id=entry_session if entry else None,
        fork_at_entry=entry,
    )
    session.add(fork)
    await session.flush()
    session.add_all(
        Message(
            thread_id=fork.id,
            role=m.role,
            content=m.content,
            status="error" if m.status == "streaming" else m.status,
            error=m.error,
            meta=_copied_meta(m.meta, origin.claude_session_id),
            created_at=m.created_at,
        )
        for m in before
    )
    await session.flush()
    return fork


async def get_message(session: AsyncSession, message_id: str) -> Message | None:
    return await session.get(Message, message_id)


# One reply's text so far, where it still streams (a reply that has ended keeps its final text).
_PROGRESS = (
    update(Message)
    .where(Message.id == bindparam("reply_id"), Message.status == "streaming")
    .values(content=bindparam("text_so_far"))
)


async def write_progress(session: AsyncSession, texts: Mapping[str, str]) -> None:
    """Store the text so far of streaming replies (message id -> text), in one statement.

    Run on the session's connection: one Core statement with many parameter sets (the ORM's bulk
    UPDATE takes no criteria besides the primary key)."""
    if texts:
        connection = await session.connection()
        await connection.execute(_PROGRESS, [{"reply_id": key, "text_so_far": text} for key, text in texts.items()])


async def finish_message(
    session: AsyncSession,
    message_id: str,
    *,
    content: str,
    status: str,
    error: str | None = None,
    meta: dict[str, Any] | None = None,
) -> bool:
    """Give a streaming reply its final text and status, once: a final status is never overwritten.

    ``False`` when the message is not (or no longer) streaming.
    """
    values: dict[str, Any] = {"content": content, "status": status, "error": error}
    if meta is not None:
        values["meta"] = meta
    query = update(Message).where(Message.id == message_id, Message.status == "streaming").values(**values)
    return bool((await session.execute(query)).rowcount)  # type: ignore[attr-defined]


async def set_session_id(session: AsyncSession, thread_id: str, session_id: str | None) -> None:
    await session.execute(update(Thread).where(Thread.id == thread_id).values(claude_session_id=session_id))


async def rename_thread(session: AsyncSession, thread_id: str, title: str) -> Thread | None:
    """Set a thread's title (by its owner, or from its first message); ``None`` when no such thread."""
    return await update_thread(session, thread_id, title=title)


async def update_thread(
    session: AsyncSession,
    thread_id: str,
    *,
    title: str | None = None,
    permission_mode: str | None = None,
    owner_id: str | None = None,
) -> Thread | None:
    """Change a thread's title and/or permission mode; ``None`` when no such thread (of ``owner_id``)."""
    thread = await get_thread(session, thread_id, owner_id=owner_id)
    if thread is None:
        return None
    if title is not None:
        thread.title = title
        thread.updated_at = utcnow()
    if permission_mode is not None:
        thread.permission_mode = permission_mode
    await session.flush()
    return thread


async def allow_always(session: AsyncSession, thread_id: str, rules: list[dict[str, Any]]) -> None:
    """Remember permission rules a person granted for every later turn of the thread."""
    thread = await session.get(Thread, thread_id)
    if thread is None:
        return
    known = list(thread.allowed_tools or [])
    thread.allowed_tools = known + [rule for rule in rules if rule not in known]
    await session.flush()


async def delete_thread(session: AsyncSession, thread_id: str, *, owner_id: str | None = None) -> bool:
    """Delete a thread and (by cascade) its messages; ``False`` when no such thread (of ``owner_id``)."""
    query = delete(Thread).where(Thread.id == thread_id)
    if owner_id is not None:
        query = query.where(Thread.owner_id == owner_id)
    result = await session.execute(query)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _reply(thread_id: str, turn_id: str, reply_id: str | None) -> Message:
    """The assistant's empty reply of a turn that is starting."""
    return Message(
        id=reply_id or new_id(),
        thread_id=thread_id,
        role="assistant",
        content="",
        status="streaming",
        turn_id=turn_id,
        created_at=utcnow(),
    )


# --- the thread's queue: messages sent while a turn ran ---------------------------------------

QueueRemoval = Literal["removed", "started", "missing"]


async def queue_message(session: AsyncSession, thread_id: str, content: str, message_id: str) -> Message | None:
    """Store a user message that waits for the running turn to end; ``None`` when no such thread."""
    bumped = await session.execute(update(Thread).where(Thread.id == thread_id).values(updated_at=utcnow()))
    if not bumped.rowcount:  # type: ignore[attr-defined]
        return None
    message = Message(
        id=message_id, thread_id=thread_id, role="user", content=content, status="queued", created_at=utcnow()
    )
    session.add(message)
    await session.flush()
    return message


async def queue_position(session: AsyncSession, message: Message) -> int:
    """1 for the next message to start, 2 for the one after it, ..."""
    query = select(func.count()).where(
        Message.thread_id == message.thread_id,
        Message.status == "queued",
        Message.created_at <= message.created_at,
    )
    return int((await session.execute(query)).scalar_one())


async def next_queued(session: AsyncSession, thread_id: str) -> Message | None:
    """The thread's oldest queued message: the one its next turn answers."""
    query = (
        select(Message)
        .where(Message.thread_id == thread_id, Message.status == "queued")
        .order_by(Message.created_at, Message.id)
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def start_queued(session: AsyncSession, message: Message, turn_id: str, reply_id: str) -> Message | None:
    """The queued message's turn starts: it is sent, and its reply begins; ``None`` if it was removed.

    Messages still queued keep their place at the end of the conversation (clients show them there).
    """
    # Sent to the agent now: its time becomes now, so the conversation reads in the order it happened.
    started = await session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status == "queued")
        .values(status="complete", created_at=utcnow())
    )
    if not started.rowcount:  # type: ignore[attr-defined]
        return None
    reply = _reply(message.thread_id, turn_id, reply_id)
    session.add(reply)
    await session.execute(update(Thread).where(Thread.id == message.thread_id).values(updated_at=utcnow()))
    await session.flush()
    return reply


async def remove_queued(session: AsyncSession, thread_id: str, message_id: str) -> QueueRemoval:
    """Take back a queued message before its turn starts."""
    removed = await session.execute(
        delete(Message).where(Message.id == message_id, Message.thread_id == thread_id, Message.status == "queued")
    )
    if removed.rowcount:  # type: ignore[attr-defined]
        return "removed"
    found = await session.get(Message, message_id)
    return "started" if found is not None and found.thread_id == thread_id else "missing"


async def threads_with_queued(session: AsyncSession, limit: int = 100) -> list[str]:
    """Threads that have messages waiting (a reaper makes sure each one gets its turn)."""
    query = select(Message.thread_id).where(Message.status == "queued").distinct().limit(limit)
    return list((await session.scalars(query)).all())
