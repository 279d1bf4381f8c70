"""GET /search: thread titles and message text, best matches first, a page at a time."""

from __future__ import annotations

from typing import Annotated, Final

from litestar import get
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, QueryParameter
from sandchat import search as full_text
from sandchat.threads import InvalidCursorError

from sandchat_api.deps import DatabaseDep, PrincipalDep
from sandchat_api.schemas import SearchResults

NO_WORDS: Final = "Search for at least one word (letters or digits)."
BAD_CURSOR: Final = "The cursor is not one this service handed out."


@get("/search", tags=["search"])
async def search(
    database: DatabaseDep,
    principal: PrincipalDep,
    q: Annotated[str, QueryParameter(min_length=1, max_length=full_text.MAX_QUERY_CHARS)],
    limit: Annotated[int, QueryParameter(ge=1, le=full_text.MAX_SEARCH_PAGE)] = full_text.DEFAULT_SEARCH_PAGE,
    cursor: FromQuery[str | None] = None,
) -> SearchResults:
    """Threads whose title and messages whose text hold every word of `q` (words match by prefix),
    best first, each with a snippet whose matching words are marked; pass `nextCursor` back as `cursor`."""
    try:
        async with database.reading() as session:
            page = await full_text.search(session, q, limit=limit, cursor=cursor, owner_id=principal.user_id)
    except full_text.EmptySearchError:
        raise ValidationException(NO_WORDS) from None
    except InvalidCursorError:
        raise ValidationException(BAD_CURSOR) from None
    return SearchResults(page.hits, page.next_cursor)
