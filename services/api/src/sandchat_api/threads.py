"""Thread CRUD: /threads and /threads/{id}/messages."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Final, TypeAlias

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter, SkipValidation
from litestar.status_codes import HTTP_409_CONFLICT
from redis.exceptions import RedisError
from sandchat import message_pages, thread_export, threads, wire
from sandchat.agent_cli import PermissionMode
from sandchat.identity import Principal
from sandchat.models import Thread
from sandchat.turns.beginning import NO_SUCH_THREAD
from sandchat.turns.store import TurnStore
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from sandchat_api.deps import DatabaseDep, PrincipalDep, SettingsDep, TurnStoreDep
from sandchat_api.schemas import (
    Activity,
    CreateThread,
    ForkThread,
    MessageList,
    MessageOut,
    ThreadEnvelope,
    ThreadList,
    ThreadOut,
    UpdateThread,
)

log = logging.getLogger(__name__)

ExportFormatQuery = Annotated[thread_export.ExportFormat, QueryParameter(name="format")]

NOTHING_TO_CHANGE: Final = "Nothing to change: give a title or a permissionMode."
NO_SUCH_MESSAGE: Final = "No queued message with this id in this thread."
NOT_EDITABLE: Final = "messageId must name a message you sent in this thread."
NO_SUCH_CURSOR: Final = "The cursor names no message of this thread."
ONE_CURSOR: Final = "Give at most one of before, after and around."
STARTED_ALREADY: Final = "This message has already been sent to the agent; it can no longer be removed."


async def _activity(store: TurnStore, thread_ids: Sequence[str]) -> dict[str, Activity]:
    """Which threads have a reply running or waiting for a person (idle when Redis cannot say)."""
    try:
        states = await store.activity(thread_ids)
    except RedisError as exc:
        log.warning("thread activity unknown: Redis unavailable (%s)", type(exc).__name__)
        return {}
    return {thread_id: "waiting" if state == "waiting" else "running" for thread_id, state in states.items()}


@dataclass(frozen=True, slots=True)
class ThreadViews:
    """Stored threads as the API shows them: each with its permission mode and what it is doing now."""

    store: TurnStore
    default_mode: PermissionMode

    async def out(self, found: Sequence[Thread]) -> list[ThreadOut]:
        activity = await _activity(self.store, [thread.id for thread in found])
        return [ThreadOut.of(thread, self.default_mode, activity.get(thread.id, "idle")) for thread in found]

    async def envelope(self, thread: Thread) -> ThreadEnvelope:
        return ThreadEnvelope((await self.out([thread]))[0])


def _views(turn_store: TurnStoreDep, settings: SettingsDep) -> ThreadViews:
    return ThreadViews(turn_store, settings.agent_permission_mode)


ThreadViewsDep: TypeAlias = NamedDependency[SkipValidation[ThreadViews]]


def _thread_id(thread_id: str) -> str:
    """The path's thread id, if it could name a thread at all (else 404 without a lookup)."""
    if not threads.is_plausible_id(thread_id):
        raise NotFoundException(NO_SUCH_THREAD)
    return thread_id


async def _owned(session: AsyncSession, thread_id: str, principal: Principal, missing: str = NO_SUCH_THREAD) -> Thread:
    """The person's thread; 404 when there is none with this id, or it is another person's."""
    thread = await threads.get_thread(session, _thread_id(thread_id), owner_id=principal.user_id)
    if thread is None:
        raise NotFoundException(missing)
    return thread


class ThreadController(Controller):
    path = "/threads"
    tags = ["threads"]
    dependencies = {"views": Provide(_views, sync_to_thread=False)}

    @get("/")
    async def list_threads(
        self,
        *,
        database: DatabaseDep,
        views: ThreadViewsDep,
        principal: PrincipalDep,
        limit: Annotated[int, QueryParameter(ge=1, le=threads.MAX_PAGE_SIZE)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> ThreadList:
        """Threads, most recently updated first; pass `nextCursor` back as `cursor` for the next page."""
        try:
            async with database.reading() as session:
                page = await threads.list_threads(session, limit, cursor, owner_id=principal.user_id)
        except threads.InvalidCursorError:
            raise ValidationException("The cursor is not one this service handed out.") from None
        return ThreadList(await views.out(page.threads), page.next_cursor)

    @post("/")
    async def create_thread(
        self,
        database: DatabaseDep,
        settings: SettingsDep,
        principal: PrincipalDep,
        data: JSONBody[CreateThread | None] = None,
    ) -> ThreadEnvelope:
        """Create an empty thread (title defaults to "New conversation")."""
        async with database.transaction() as session:
            thread = await threads.create_thread(session, data.title if data else None, owner_id=principal.user_id)
        return ThreadEnvelope(ThreadOut.of(thread, settings.agent_permission_mode))

    @post("/{thread_id:str}/fork")
    async def fork_thread(
        self,
        database: DatabaseDep,
        settings: SettingsDep,
        principal: PrincipalDep,
        thread_id: FromPath[str],
        data: JSONBody[ForkThread],
    ) -> ThreadEnvelope:
        """Edit a past message: a new thread with the messages before it, linked to this one (unchanged).

        Send the edited text to the new thread as its next message; its agent continues the session of
        this thread as it was before that message (a fork of it).
        """
        if not threads.is_plausible_id(data.message_id):
            raise ValidationException(NOT_EDITABLE)
        async with database.transaction() as session:
            fork = await threads.fork_thread(
                session, _thread_id(thread_id), data.message_id, owner_id=principal.user_id
            )
        if fork is None:
            raise NotFoundException(NO_SUCH_THREAD)
        if isinstance(fork, str):
            raise ValidationException(NOT_EDITABLE)
        return ThreadEnvelope(ThreadOut.of(fork, settings.agent_permission_mode))

    @get("/{thread_id:str}/messages")
    async def list_messages(
        self,
        *,
        database: DatabaseDep,
        principal: PrincipalDep,
        thread_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=message_pages.MAX_MESSAGE_PAGE)] = (
            message_pages.DEFAULT_MESSAGE_PAGE
        ),
        before: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        around: FromQuery[str | None] = None,
    ) -> MessageList:
        """A page of the thread's messages, oldest first: the newest page, or the one `before`, `after` or
        `around` a message id (pass `olderCursor` back as `before`, `newerCursor` as `after`)."""
        if sum(cursor is not None for cursor in (before, after, around)) > 1:
            raise ValidationException(ONE_CURSOR)
        try:
            async with database.reading() as session:
                await _owned(session, thread_id, principal)
                page = await message_pages.page_messages(
                    session, thread_id, limit=limit, before=before, after=after, around=around
                )
        except threads.InvalidCursorError:
            raise ValidationException(NO_SUCH_CURSOR) from None
        return MessageList([MessageOut.of(message) for message in page.messages], page.older_cursor, page.newer_cursor)

    @get("/{thread_id:str}/export")
    async def export_thread(
        self,
        database: DatabaseDep,
        principal: PrincipalDep,
        thread_id: FromPath[str],
        export_format: ExportFormatQuery = "md",
    ) -> Response[str]:
        """The whole thread as a file: `format=md` (Markdown, the default) or `format=json`."""
        async with database.reading() as session:
            thread = await _owned(session, thread_id, principal)
            messages = await threads.list_messages(session, thread_id)
        return Response(
            thread_export.render(thread, messages, export_format),
            media_type=thread_export.MEDIA_TYPES[export_format],
            headers={"Content-Disposition": f'attachment; filename="{thread_export.file_name(thread, export_format)}"'},
        )

    @get("/{thread_id:str}")
    async def get_thread(
        self,
        database: DatabaseDep,
        views: ThreadViewsDep,
        principal: PrincipalDep,
        thread_id: FromPath[str],
    ) -> ThreadEnvelope:
        async with database.reading() as session:
            thread = await _owned(session, thread_id, principal)
        return await views.envelope(thread)

    @patch("/{thread_id:str}")
    async def update_thread(
        self,
        *,
        database: DatabaseDep,
        views: ThreadViewsDep,
        principal: PrincipalDep,
        thread_id: FromPath[str],
        data: JSONBody[UpdateThread],
    ) -> ThreadEnvelope:
        """Rename a thread, or change how its agent asks before it acts (from its next turn on)."""
        if data.title is None and data.permission_mode is None:
            raise ValidationException(NOTHING_TO_CHANGE)
        title = (data.title.strip() or data.title) if data.title is not None else None
        try:
            async with database.transaction() as session:
                thread = await threads.update_thread(
                    session,
                    _thread_id(thread_id),
                    title=title,
                    permission_mode=data.permission_mode,
                    owner_id=principal.user_id,
                )
        except StaleDataError:  # deleted between the read and the write (PostgreSQL)
            thread = None
        if thread is None:
            raise NotFoundException(NO_SUCH_THREAD)
        return await views.envelope(thread)

    @delete("/{thread_id:str}/messages/{message_id:str}")
    async def remove_queued_message(
        self,
        database: DatabaseDep,
        turn_store: TurnStoreDep,
        principal: PrincipalDep,
        thread_id: FromPath[str],
        message_id: FromPath[str],
    ) -> None:
        """Take back a message that waits for the running turn to end (before it is sent to the agent)."""
        if not threads.is_plausible_id(message_id):
            raise NotFoundException(NO_SUCH_MESSAGE)
        async with database.transaction() as session:
            await _owned(session, thread_id, principal, NO_SUCH_MESSAGE)
            outcome = await threads.remove_queued(session, _thread_id(thread_id), message_id)
        if outcome == "missing":
            raise NotFoundException(NO_SUCH_MESSAGE)
        if outcome == "started":
            raise ClientException(STARTED_ALREADY, status_code=HTTP_409_CONFLICT)
        try:
            await turn_store.publish_thread(thread_id, wire.encode(wire.Unqueued(thread_id, message_id)))
        except RedisError as exc:  # removed all the same; other tabs see it when they reload
            log.warning("thread %s: removal of a queued message not announced (%s)", thread_id, type(exc).__name__)

    @delete("/{thread_id:str}")
    async def delete_thread(
        self, database: DatabaseDep, turn_store: TurnStoreDep, principal: PrincipalDep, thread_id: FromPath[str]
    ) -> None:
        """Delete a thread and all its messages."""
        async with database.transaction() as session:
            if not await threads.delete_thread(session, _thread_id(thread_id), owner_id=principal.user_id):
                raise NotFoundException(NO_SUCH_THREAD)
        try:
            await turn_store.announce_deleted(thread_id)
        except RedisError as exc:  # deleted all the same; a socket that used it forgets it when it closes
            log.warning("thread %s: deletion not announced to the gateways (%s)", thread_id, type(exc).__name__)
