"""Full-text search across thread titles and message text: one query function for SQLite and PostgreSQL.

Words match by prefix (``deploy`` finds "deployment"; words of one or two characters match whole),
every word must occur, and the best matches come first: FTS5's bm25 on SQLite (among the newest
``SQLITE_RANKED_WINDOW`` matches), ``ts_rank`` on PostgreSQL (among all of them). Snippets are
cut here, the same on both, around the first matching word.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from sandchat.models import LOCAL_USER_ID, Message, Thread
from sandchat.threads import InvalidCursorError

DEFAULT_SEARCH_PAGE: Final = 20
MAX_SEARCH_PAGE: Final = 50
MAX_QUERY_CHARS: Final = 200
MAX_WORDS: Final = 8
MAX_WORD_CHARS: Final = 64
# Shorter words match whole only: as prefixes they would match most of the index.
MIN_PREFIX_CHARS: Final = 3
SNIPPET_CHARS: Final = 160
# A cursor is an offset into the ranked results; this far is more than anyone reads.
MAX_OFFSET: Final = 10_000

_WORD = re.compile(r"[^\W_]+")

# SQLite ranks the newest matches only: FTS5 hands them out newest first without scoring the rest,
# so a word found in 300,000 places costs what one found in 2,000 does (docs/performance.md).
SQLITE_RANKED_WINDOW: Final = 2_000

_SQLITE_QUERY = text(
    f"""
    SELECT r.thread_id, r.message_id FROM (
        SELECT search_index.rowid AS search_rowid, bm25(search_index) AS score FROM search_index
        JOIN search_row own ON own.search_rowid = search_index.rowid JOIN thread t ON t.id = own.thread_id
        WHERE search_index MATCH :match AND t.owner_id = :owner
        ORDER BY search_index.rowid DESC LIMIT {SQLITE_RANKED_WINDOW}
    ) hits
    JOIN search_row r ON r.search_rowid = hits.search_rowid
    ORDER BY hits.score, hits.search_rowid DESC
    LIMIT :limit OFFSET :offset
    """  # noqa: S608 - a constant, no input
)
_POSTGRESQL_QUERY = text(
    """
    WITH q AS (SELECT to_tsquery('simple', :match) AS query)
    SELECT thread_id, message_id FROM (
        SELECT t.id AS thread_id, NULL AS message_id, ts_rank(t.search_vector, q.query, 1) AS score,
               t.updated_at AS at
        FROM thread t, q WHERE t.search_vector @@ q.query AND t.owner_id = :owner
        UNION ALL
        SELECT m.thread_id, m.id, ts_rank(m.search_vector, q.query, 1), m.created_at
        FROM message m JOIN thread o ON o.id = m.thread_id, q WHERE m.search_vector @@ q.query AND o.owner_id = :owner
    ) hits
    ORDER BY score DESC, at DESC, message_id
    LIMIT :limit OFFSET :offset
    """
)


class EmptySearchError(ValueError):
    """A search with no word in it."""


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    hit: bool


@dataclass(frozen=True, slots=True)
class SearchHit:
    thread_id: str
    thread_title: str
    # None when the hit is the thread's title.
    message_id: str | None
    role: str | None
    created_at: datetime
    snippet: list[Segment]


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[SearchHit]
    next_cursor: str | None


def query_words(query: str) -> list[str]:
    """The words of a search, lower-cased, as the index holds them; :class:`EmptySearchError` when none."""
    words = list(dict.fromkeys(word[:MAX_WORD_CHARS] for word in _WORD.findall(query[:MAX_QUERY_CHARS].lower())))
    if not words:
        raise EmptySearchError
    return words[:MAX_WORDS]


def _fts5_match(words: list[str]) -> str:
    # Words hold letters and digits only, so quoting them is enough.
    return " ".join(f'"{word}"*' if len(word) >= MIN_PREFIX_CHARS else f'"{word}"' for word in words)


def _tsquery(words: list[str]) -> str:
    return " & ".join(f"{word}:*" if len(word) >= MIN_PREFIX_CHARS else word for word in words)


def encode_search_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"s:{offset}".encode()).decode().rstrip("=")


def decode_search_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, offset = raw.split(":", 1)
        value = int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursorError from exc
    if kind != "s" or not 0 < value <= MAX_OFFSET:
        raise InvalidCursorError
    return value


def _matcher(words: list[str]) -> re.Pattern[str]:
    alternatives = "|".join(
        re.escape(word) + (r"[^\W_]*" if len(word) >= MIN_PREFIX_CHARS else r"(?![^\W_])")
        for word in sorted(words, key=len, reverse=True)
    )
    return re.compile(rf"(?<![^\W_])(?:{alternatives})", re.IGNORECASE)


def snippet(content: str, words: list[str], width: int = SNIPPET_CHARS) -> list[Segment]:
    """A window of ``content`` around its first matching word, the matching words marked."""
    flat = " ".join(content.split())
    matcher = _matcher(words)
    first = matcher.search(flat)
    start = 0
    if first is not None and first.start() > width // 3:
        start = flat.rfind(" ", 0, first.start() - width // 3) + 1
    end = start + width
    if end < len(flat):
        end = max(flat.rfind(" ", start, end), start + width // 2)
    window = flat[start:end]
    segments: list[Segment] = []
    at = 0
    for match in matcher.finditer(window):
        if match.start() > at:
            segments.append(Segment(window[at : match.start()], hit=False))
        segments.append(Segment(match.group(), hit=True))
        at = match.end()
    if at < len(window):
        segments.append(Segment(window[at:], hit=False))
    if start > 0:
        segments.insert(0, Segment("…", hit=False))
    if end < len(flat):
        segments.append(Segment("…", hit=False))
    return segments


async def search(
    session: AsyncSession,
    query: str,
    *,
    limit: int = DEFAULT_SEARCH_PAGE,
    cursor: str | None = None,
    owner_id: str = LOCAL_USER_ID,
) -> SearchPage:
    """The owner's threads whose title and messages whose text hold every word of ``query``, best first.

    :class:`EmptySearchError` when the query has no word; :class:`InvalidCursorError` for a cursor
    this service did not hand out.
    """
    words = query_words(query)
    limit = max(1, min(limit, MAX_SEARCH_PAGE))
    offset = decode_search_cursor(cursor) if cursor is not None else 0
    if session.get_bind().dialect.name == "sqlite":
        statement, match = _SQLITE_QUERY, _fts5_match(words)
    else:
        statement, match = _POSTGRESQL_QUERY, _tsquery(words)
    rows = (
        await session.execute(statement, {"match": match, "owner": owner_id, "limit": limit + 1, "offset": offset})
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    message_ids = [row.message_id for row in rows if row.message_id is not None]
    messages = {m.id: m for m in (await session.scalars(select(Message).where(Message.id.in_(message_ids)))).all()}
    thread_ids = {row.thread_id for row in rows}
    found = {t.id: t for t in (await session.scalars(select(Thread).where(Thread.id.in_(thread_ids)))).all()}
    hits: list[SearchHit] = []
    for row in rows:
        thread = found.get(row.thread_id)
        if thread is None:
            continue
        message = messages.get(row.message_id) if row.message_id is not None else None
        if row.message_id is None:
            hits.append(SearchHit(thread.id, thread.title, None, None, thread.updated_at, snippet(thread.title, words)))
        elif message is not None:  # else deleted since the search ran
            hits.append(
                SearchHit(
                    thread.id,
                    thread.title,
                    message.id,
                    message.role,
                    message.created_at,
                    snippet(message.content[: SNIPPET_CHARS * 1000], words),
                )
            )
    return SearchPage(hits, encode_search_cursor(offset + limit) if more and offset + limit <= MAX_OFFSET else None)
