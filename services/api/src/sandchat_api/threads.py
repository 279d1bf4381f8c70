"""Thread CRUD: /threads and /threads/{id}/messages."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sandchat import threads
from sqlalchemy.orm.exc import StaleDataError

from sandchat_api.deps import DatabaseDep
from sandchat_api.schemas import (
    CreateThread,
    MessageList,
    MessageOut,
    RenameThread,
    ThreadEnvelope,
    ThreadList,
    ThreadOut,
)

NO_SUCH_THREAD = "No thread with this id."


def _thread_id(thread_id: str) -> str:
    """The path's thread id, if it could name a thread at all (else 404 without a lookup)."""
    if not threads.is_plausible_id(thread_id):
        raise NotFoundException(NO_SUCH_THREAD)
    return thread_id


class ThreadController(Controller):
    path = "/threads"
    tags = ["threads"]

    @get("/")
    async def list_threads(
        self,
        database: DatabaseDep,
        limit: Annotated[int, QueryParameter(ge=1, le=threads.MAX_PAGE_SIZE)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> ThreadList:
        """Threads, most recently updated first; pass `nextCursor` back as `cursor` for the next page."""
        try:
            async with database.reading() as session:
                page = await threads.list_threads(session, limit, cursor)
        except threads.InvalidCursorError:
            raise ValidationException("The cursor is not one this service handed out.") from None
        return ThreadList([ThreadOut.of(thread) for thread in page.threads], page.next_cursor)

    @post("/")
    async def create_thread(self, database: DatabaseDep, data: JSONBody[CreateThread | None] = None) -> ThreadEnvelope:
        """Create an empty thread (title defaults to "New conversation")."""
        async with database.transaction() as session:
            thread = await threads.create_thread(session, data.title if data else None)
        return ThreadEnvelope(ThreadOut.of(thread))

    @get("/{thread_id:str}/messages")
    async def list_messages(self, database: DatabaseDep, thread_id: FromPath[str]) -> MessageList:
        """The thread's messages in order."""
        async with database.reading() as session:
            if await threads.get_thread(session, _thread_id(thread_id)) is None:
                raise NotFoundException(NO_SUCH_THREAD)
            messages = await threads.list_messages(session, thread_id)
        return MessageList([MessageOut.of(message) for message in messages])

    @get("/{thread_id:str}")
    async def get_thread(self, database: DatabaseDep, thread_id: FromPath[str]) -> ThreadEnvelope:
        async with database.reading() as session:
            thread = await threads.get_thread(session, _thread_id(thread_id))
        if thread is None:
            raise NotFoundException(NO_SUCH_THREAD)
        return ThreadEnvelope(ThreadOut.of(thread))

    @patch("/{thread_id:str}")
    async def rename_thread(
        self, database: DatabaseDep, thread_id: FromPath[str], data: JSONBody[RenameThread]
    ) -> ThreadEnvelope:
        """Rename a thread."""
        try:
            async with database.transaction() as session:
                thread = await threads.rename_thread(session, _thread_id(thread_id), data.title.strip() or data.title)
        except StaleDataError:  # deleted between the read and the write (PostgreSQL)
            thread = None
        if thread is None:
            raise NotFoundException(NO_SUCH_THREAD)
        return ThreadEnvelope(ThreadOut.of(thread))

    @delete("/{thread_id:str}")
    async def delete_thread(self, database: DatabaseDep, thread_id: FromPath[str]) -> None:
        """Delete a thread and all its messages."""
        async with database.transaction() as session:
            if not await threads.delete_thread(session, _thread_id(thread_id)):
                raise NotFoundException(NO_SUCH_THREAD)
