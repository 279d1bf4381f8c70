"""Full-text search across thread titles and message text: one query function for SQLite and PostgreSQL.

Words match by prefix (``deploy`` finds "deployment"; words of one or two characters match whole),
every word must occur, and the best matches among the newest ``SQLITE_RANKED_WINDOW`` come first:
FTS5's bm25 on SQLite, ``ts_rank`` on PostgreSQL (a common word costs what a rarer one does). Snippets are
cut here, the same on both, around the first matching word.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import msgspec
from sqlalchemy import TextClause, select, text
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
# PostgreSQL likewise ranks the newest matches only. A GIN index hands out matches in no useful
# order, so each table is first probed for more than the window's matches: a rarer word takes its
# matches from the GIN index (at most the window, sorted by time); a commoner one walks the table's
# recency index (ix_thread_updated_at, ix_message_search_recency) newest first until it has the
# window, the GIN index hidden from the planner (it cannot estimate a prefix's frequency).
POSTGRESQL_RANKED_WINDOW: Final = SQLITE_RANKED_WINDOW

_POSTGRESQL_PROBE = text(
    f"""
    SELECT
        (SELECT count(*) FROM (SELECT 1 FROM thread WHERE search_vector @@ to_tsquery('simple', :match)
                               LIMIT {POSTGRESQL_RANKED_WINDOW + 1}) t) AS titles,
        (SELECT count(*) FROM (SELECT 1 FROM message WHERE search_vector @@ to_tsquery('simple', :match)
                               LIMIT {POSTGRESQL_RANKED_WINDOW + 1}) m) AS bodies
    """  # noqa: S608 - a constant, no input
)


def _postgresql_query(*, walk_titles: bool, walk_bodies: bool) -> TextClause:
    def matches(column: str, walk: bool) -> str:
        # coalesce() keeps the GIN index out of the plan: the walk reads the recency index instead.
        query = "to_tsquery('simple', :match)"
        return f"coalesce({column}, ''::tsvector) @@ {query}" if walk else f"{column} @@ {query}"

    return text(
        f"""
        WITH titles AS (
            SELECT t.id AS thread_id, NULL::varchar AS message_id, t.search_vector, t.updated_at AS at
            FROM thread t WHERE {matches("t.search_vector", walk_titles)} AND t.owner_id = :owner
            ORDER BY t.updated_at DESC, t.id DESC LIMIT {POSTGRESQL_RANKED_WINDOW}
        ),
        bodies AS (
            SELECT m.thread_id, m.id AS message_id, m.search_vector, m.created_at AS at
            FROM message m JOIN thread o ON o.id = m.thread_id
            WHERE {matches("m.search_vector", walk_bodies)} AND o.owner_id = :owner
            ORDER BY m.created_at DESC, m.id DESC LIMIT {POSTGRESQL_RANKED_WINDOW}
        ),
        hits AS (
            SELECT * FROM (SELECT * FROM titles UNION ALL SELECT * FROM bodies) found
            ORDER BY at DESC LIMIT {POSTGRESQL_RANKED_WINDOW}
        )
        SELECT hits.thread_id, hits.message_id FROM hits
        ORDER BY ts_rank(hits.search_vector, to_tsquery('simple', :match), 1) DESC, hits.at DESC, hits.message_id
        LIMIT :limit OFFSET :offset
        """  # noqa: S608 - built from constants, no input
    )


async def _postgresql_statement(session: AsyncSession, match: str) -> TextClause:
    probe = (await session.execute(_POSTGRESQL_PROBE, {"match": match})).one()
    walk_titles, walk_bodies = probe.titles > POSTGRESQL_RANKED_WINDOW, probe.bodies > POSTGRESQL_RANKED_WINDOW
    if walk_titles or walk_bodies:
        # Only for this transaction: a walk must not become a scan of the whole table and a sort.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
    return _postgresql_query(walk_titles=walk_titles, walk_bodies=walk_bodies)


class EmptySearchError(ValueError):
    """A search with no word in it."""


class Segment(msgspec.Struct, frozen=True):
    """A piece of a snippet; ``hit`` when it is a searched word."""

    text: str
    hit: bool


class SearchHit(msgspec.Struct, frozen=True, rename="camel"):
    """One result of a search, as ``GET /search`` answers it: docs/protocol.md's SearchResult."""

    thread_id: str
    thread_title: str
    # None (null) when the hit is the thread's title.
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
        match = _tsquery(words)
        statement = await _postgresql_statement(session, match)
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
