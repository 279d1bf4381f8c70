"""The full-text search objects: made by a migration, kept in step by the database itself, unknown to the models.

SQLite: an FTS5 table ``search_index`` (one row per message and one per thread title) with the
table ``search_row`` that gives each of its rows a stable integer key, both written by triggers on
``message`` and ``thread``. PostgreSQL: a stored ``tsvector`` column on both tables, each with a GIN
index, and ``ix_message_search_recency`` (messages by time, walked by a common word). Both index
the same words: runs of letters and digits, lower-cased, without stemming, from a message's first
``INDEXED_CHARS`` characters.
"""

from __future__ import annotations

from typing import Any, Final

INDEXED_CHARS: Final = 100_000
SEARCH_VECTOR: Final = "search_vector"
SEARCH_INDEXES: Final = ("ix_message_search", "ix_thread_search", "ix_message_search_recency")
# search_index and search_row, and the tables FTS5 keeps behind search_index (search_index_data, …).
SEARCH_TABLE_PREFIX: Final = "search_"


def is_model_object(_object: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
    """Whether Alembic should compare an object with the models (its ``include_object`` hook).

    The search objects exist only in the database, so a comparison leaves them out.
    """
    if type_ == "table" and name is not None and name.startswith(SEARCH_TABLE_PREFIX):
        return False
    if type_ == "column" and name == SEARCH_VECTOR:
        return False
    return not (type_ == "index" and name in SEARCH_INDEXES)
