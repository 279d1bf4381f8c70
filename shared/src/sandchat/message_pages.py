"""A thread's messages a page at a time: the newest first, then older or newer pages by cursor.

A cursor is the id of a message of the thread: ``before=<id>`` is the page just older than that
message, ``after=<id>`` the page just newer, ``around=<id>`` the page that holds it (a search hit
opens its thread there). Within a page, messages are oldest first, as a conversation reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from sandchat.keyset import first_rows
from sandchat.models import Message
from sandchat.threads import InvalidCursorError, is_plausible_id

DEFAULT_MESSAGE_PAGE: Final = 50
MAX_MESSAGE_PAGE: Final = 200


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: list[Message]
    # Pass back as `before` for the page just older than this one; None when there is none.
    older_cursor: str | None
    # Pass back as `after` for the page just newer than this one; None when there is none.
    newer_cursor: str | None


async def _position(session: AsyncSession, thread_id: str, message_id: str) -> tuple[datetime, str]:
    """Where a cursor's message stands in its thread; :class:`InvalidCursorError` when it names none of it."""
    if not is_plausible_id(message_id):
        raise InvalidCursorError
    query = select(Message.created_at).where(Message.id == message_id, Message.thread_id == thread_id)
    created_at = (await session.execute(query)).scalar_one_or_none()
    if created_at is None:
        raise InvalidCursorError
    return created_at, message_id


def _older(at: tuple[datetime, str], inclusive: bool = False) -> ColumnElement[bool]:
    stamp, message_id = at
    same = Message.id <= message_id if inclusive else Message.id < message_id
    return or_(Message.created_at < stamp, and_(Message.created_at == stamp, same))


def _newer(at: tuple[datetime, str]) -> ColumnElement[bool]:
    stamp, message_id = at
    return or_(Message.created_at > stamp, and_(Message.created_at == stamp, Message.id > message_id))


async def _take_older(
    session: AsyncSession, thread_id: str, limit: int, where: ColumnElement[bool] | None
) -> tuple[list[Message], bool]:
    """Up to ``limit`` messages just older than a position (oldest first), and whether there are more."""
    query = select(Message).where(Message.thread_id == thread_id).order_by(Message.created_at.desc(), Message.id.desc())
    if where is not None:
        query = query.where(where)
    found, more = await first_rows(session, query, limit)
    return list(reversed(found)), more


async def _take_newer(
    session: AsyncSession, thread_id: str, limit: int, where: ColumnElement[bool]
) -> tuple[list[Message], bool]:
    """Up to ``limit`` messages just newer than a position (oldest first), and whether there are more."""
    query = select(Message).where(Message.thread_id == thread_id, where).order_by(Message.created_at, Message.id)
    return await first_rows(session, query, limit)


async def page_messages(
    session: AsyncSession,
    thread_id: str,
    *,
    limit: int = DEFAULT_MESSAGE_PAGE,
    before: str | None = None,
    after: str | None = None,
    around: str | None = None,
) -> MessagePage:
    """One page of a thread's messages: the newest, or the one ``before``, ``after`` or ``around`` a message.

    At most one of the three cursors may be given (:class:`ValueError` otherwise); a cursor that
    names no message of the thread raises :class:`InvalidCursorError`.
    """
    if sum(cursor is not None for cursor in (before, after, around)) > 1:
        raise ValueError("at most one of before, after and around")
    limit = max(1, min(limit, MAX_MESSAGE_PAGE))
    if after is not None:
        messages, more = await _take_newer(
            session, thread_id, limit, _newer(await _position(session, thread_id, after))
        )
        return MessagePage(messages, messages[0].id if messages else after, messages[-1].id if more else None)
    if around is not None:
        at = await _position(session, thread_id, around)
        older, more_older = await _take_older(session, thread_id, limit - limit // 2, _older(at, inclusive=True))
        newer, more_newer = await _take_newer(session, thread_id, limit // 2, _newer(at))
        messages = older + newer
        return MessagePage(messages, messages[0].id if more_older else None, messages[-1].id if more_newer else None)
    where = _older(await _position(session, thread_id, before)) if before is not None else None
    messages, more = await _take_older(session, thread_id, limit, where)
    newer_cursor = (messages[-1].id if messages else before) if before is not None else None
    return MessagePage(messages, messages[0].id if more else None, newer_cursor)
