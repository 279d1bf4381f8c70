"""Keyset pages: a query's rows a page at a time, each page knowing whether another follows it."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def first_rows(session: AsyncSession, query: Select[T], limit: int) -> tuple[list[T], bool]:
    """Up to ``limit`` rows of ``query`` (ordered and positioned by the caller) and whether it has more.

    It reads one row past the page: a page that fills up exactly is then not taken for one with more.
    """
    found = list((await session.scalars(query.limit(limit + 1))).all())
    return found[:limit], len(found) > limit
