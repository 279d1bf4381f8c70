"""The chat protocol's requests (docs/protocol.md): each frame becomes a call into the turn package.

Every request gets exactly one answer: ``started``/``queued`` for a message, the turn's final event
for a cancel, ``watching`` for a watch, the turn's events for a resume, ``approval_answered`` (to
every follower of the turn) for an approve that wins — or one ``error`` event saying what was wrong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, assert_never

import msgspec
from redis.exceptions import RedisError
from sandchat import metrics, threads, tracing, wire
from sandchat.transcript import Transcript
from sandchat.turns import Turns
from sandchat.turns.approvals import Answer
from sandchat.turns.beginning import (
    NO_SUCH_THREAD,
    MessageQueued,
    MessageRefused,
    OnAccepted,
    Submitted,
    TurnBegun,
    submit,
    submit_retry,
)
from sandchat.turns.ending import finish_turn
from sandchat.turns.outcomes import CANCELLED
from sandchat.unavailable import DATABASE_UNAVAILABLE, REDIS_UNAVAILABLE, why
from sqlalchemy.exc import SQLAlchemyError

from sandchat_gateway.connection import ChatConnection

log = logging.getLogger(__name__)

MAX_CLIENT_ID_CHARS: Final = 64
CLIENT_ID_TOO_LONG: Final = f"The clientMessageId is longer than {MAX_CLIENT_ID_CHARS} characters."
EMPTY: Final = "The message is empty."
TOO_LARGE: Final = f"The message is longer than {wire.MAX_CONTENT_CHARS:,} characters."
NUL: Final = "The message contains a NUL character."
TOO_DEEP: Final = "Invalid message: it is nested too deeply."
# An error quotes at most this much of what the client sent.
MAX_QUOTE_CHARS: Final = 200
# The longest frame worth decoding: 100,000 characters escaped as JSON, with room to spare.
MAX_REQUEST_CHARS: Final = 1 << 20
RATE_LIMITED: Final = "Too many messages: slow down and try again in a moment."
NOTHING_TO_RESUME: Final = "No reply is streaming in this thread, and none ended recently."
NOTHING_TO_APPROVE: Final = "No request with this id is waiting for an answer in this thread."
ANSWERED_ALREADY: Final = "This request was already answered."


@dataclass(slots=True)
class Chat:
    """What request handlers need, shared by all connections of one gateway."""

    turns: Turns

    async def handle(self, connection: ChatConnection, frame: str | bytes) -> None:
        """Answer one frame of a client. Never raises: whatever fails, the client hears one error."""
        try:
            await self._handle(connection, frame)
        except RedisError as exc:
            metrics.BACKEND_ERRORS.labels("redis", "request").inc()
            log.warning("request failed, Redis unavailable: %s", type(exc).__name__)
            connection.send_error(_thread_id_of(frame), "agent_error", REDIS_UNAVAILABLE)
        except (SQLAlchemyError, OSError) as exc:
            metrics.BACKEND_ERRORS.labels("database", "request").inc()
            log.warning("request failed, database unavailable: %s", why(exc))
            connection.send_error(_thread_id_of(frame), "agent_error", DATABASE_UNAVAILABLE)
        except Exception:
            log.exception("request failed")
            connection.send_error(_thread_id_of(frame), "agent_error", "Something went wrong on our side; try again.")

    async def _handle(self, connection: ChatConnection, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            connection.send_error(None, "invalid_message", "Frames must be text: one JSON object each.")
            return
        if not connection.allow_request():
            # Answer every refused request, so that a client never waits for a turn that will not start.
            connection.send_error(_thread_id_of(frame), "invalid_message", RATE_LIMITED)
            return
        if len(frame) > MAX_REQUEST_CHARS:
            connection.send_error(_thread_id_of(frame), "too_large", TOO_LARGE)
            return
        try:
            request = wire.decode_request(frame)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            connection.send_error(_thread_id_of(frame), "invalid_message", f"Invalid message: {_quote(str(exc))}.")
            return
        except RecursionError:
            connection.send_error(None, "invalid_message", TOO_DEEP)
            return
        if not threads.is_plausible_id(request.thread_id):
            # Such an id names no thread and must not become a Redis key or reach the database.
            connection.send_error(None, "thread_not_found", NO_SUCH_THREAD)
            return
        if not await self._owns(connection, request.thread_id):
            # Another person's thread answers exactly as one that does not exist (invariant 9): a
            # cancel of nothing running is answered by nothing, every other request by an error.
            if not isinstance(request, wire.Cancel):
                connection.send_error(request.thread_id, "thread_not_found", NO_SUCH_THREAD)
            return
        match request:
            case wire.SendMessage():
                await self.send_message(connection, request)
            case wire.Cancel():
                await self.cancel(connection, request)
            case wire.Resume():
                await self.resume(connection, request)
            case wire.Approve():
                await self.approve(connection, request)
            case wire.Watch():  # answered by the turn running now, if any
                await connection.watch(request.thread_id)
                running = await self.turns.store.running_turn(request.thread_id)
                connection.send(wire.Watching(request.thread_id, running))
            case wire.Retry():
                await self.retry(connection, request)
            case _:  # mypy fails here when a request type of the union has no arm
                assert_never(request)

    async def send_message(self, connection: ChatConnection, request: wire.SendMessage) -> None:
        received_at = time.perf_counter()
        thread_id, content = request.thread_id, request.content
        if not content.strip():
            connection.send_error(thread_id, "invalid_message", EMPTY)
            return
        if len(content) > wire.MAX_CONTENT_CHARS:
            connection.send_error(thread_id, "too_large", TOO_LARGE)
            return
        if "\x00" in content:
            connection.send_error(thread_id, "invalid_message", NUL)
            return
        client_id = request.client_message_id
        if client_id is not None and len(client_id) > MAX_CLIENT_ID_CHARS:
            connection.send_error(thread_id, "invalid_message", CLIENT_ID_TOO_LONG)
            return

        await self._start_turn(
            connection,
            thread_id,
            client_id,
            received_at,
            lambda on_accepted: submit(
                self.turns, thread_id, content, on_accepted, user_id=connection.principal.user_id
            ),
        )

    async def retry(self, connection: ChatConnection, request: wire.Retry) -> None:
        """Run the thread's last message again; answered like a message (``started``) or with an error."""
        client_id = request.client_message_id
        if client_id is not None and len(client_id) > MAX_CLIENT_ID_CHARS:
            connection.send_error(request.thread_id, "invalid_message", CLIENT_ID_TOO_LONG)
            return
        await self._start_turn(
            connection,
            request.thread_id,
            client_id,
            time.perf_counter(),
            lambda on_accepted: submit_retry(
                self.turns, request.thread_id, on_accepted, user_id=connection.principal.user_id
            ),
        )

    async def _start_turn(
        self,
        connection: ChatConnection,
        thread_id: str,
        client_id: str | None,
        received_at: float,
        start: Callable[[OnAccepted], Awaitable[Submitted]],
    ) -> None:
        async def on_accepted(accepted: TurnBegun | MessageQueued) -> None:
            if isinstance(accepted, MessageQueued):
                connection.tell_queued(
                    wire.Queued(thread_id, accepted.message_id, accepted.position, client_message_id=client_id)
                )
                return
            info = accepted.info
            metrics.TURNS_STARTED.inc()
            span.set_attribute("turn_id", info.turn_id)
            await connection.follow(info.turn_id, first_token_from=received_at)
            connection.send(
                wire.Started(
                    thread_id, info.turn_id, info.user_message_id, info.message_id, client_message_id=client_id
                )
            )

        await connection.watch(thread_id)
        with tracing.tracer().start_as_current_span("chat.message", attributes={"thread_id": thread_id}) as span:
            submitted = await start(on_accepted)
        if isinstance(submitted, MessageRefused):
            await connection.unwatch(thread_id)
            connection.send_error(thread_id, submitted.code, submitted.message)

    async def cancel(self, connection: ChatConnection, request: wire.Cancel) -> None:
        """Stop the thread's running turn, whichever worker runs it. Nothing running: nothing to do."""
        store = self.turns.store
        turn_id = await store.running_turn(request.thread_id)
        if turn_id is None:
            return
        await connection.follow(turn_id, await store.last_seq(turn_id))  # the answer is the turn's end
        await store.request_cancel(turn_id)
        info = await store.info(turn_id)
        if info is not None and info.state == "queued":
            # No worker has it yet: end it here; a worker that picks it up later sees it ended.
            await finish_turn(self.turns, info, Transcript(), CANCELLED, retry_in_background=True)

    async def resume(self, connection: ChatConnection, request: wire.Resume) -> None:
        turn_id = await self.turns.store.latest_turn(request.thread_id)
        if turn_id is None:
            connection.send_error(request.thread_id, "invalid_message", NOTHING_TO_RESUME)
            return
        await connection.watch(request.thread_id)
        await connection.follow(turn_id, max(request.after_seq, 0), catch_up=True)

    async def approve(self, connection: ChatConnection, request: wire.Approve) -> None:
        thread_id = request.thread_id
        turn_id = await self.turns.store.running_turn(thread_id)
        if turn_id is None:
            connection.send_error(thread_id, "invalid_message", NOTHING_TO_APPROVE)
            return
        # Followed first: the answer every follower sees is the turn's `approval_answered`.
        await connection.follow(turn_id, await self.turns.store.last_seq(turn_id))
        answer = Answer(request.decision, request.message, request.answers)
        outcome = await self.turns.approvals.answer(turn_id, request.request_id, answer)
        if outcome == "unknown":
            connection.send_error(thread_id, "invalid_message", NOTHING_TO_APPROVE)
        elif outcome == "answered already":
            connection.send_error(thread_id, "invalid_message", ANSWERED_ALREADY)

    async def _owns(self, connection: ChatConnection, thread_id: str) -> bool:
        """Whether the thread exists and is the connection's user's.

        Remembered once found, until the thread is deleted (the gateway hears of it on the
        ``threads_deleted`` channel): every request after this check may take the thread as existing.
        """
        if thread_id in connection.owned:
            return True
        heard = connection.deletions_heard
        async with self.turns.database.reading() as session:
            found = await threads.get_thread(session, thread_id, owner_id=connection.principal.user_id)
        if found is not None and connection.deletions_heard == heard:
            connection.remember_owned(thread_id)
        return found is not None


class _ThreadIdOnly(msgspec.Struct, rename="camel"):
    thread_id: str | None = None


def _thread_id_of(frame: str | bytes) -> str | None:
    """Best effort: name the thread in the error even when the rest of the request is wrong."""
    if isinstance(frame, bytes):
        return None
    try:
        thread_id = msgspec.json.decode(frame, type=_ThreadIdOnly).thread_id
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    return thread_id if thread_id is not None and threads.is_plausible_id(thread_id) else None


def _quote(text: str) -> str:
    """At most MAX_QUOTE_CHARS of a text that may quote the client's input."""
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1] + "…"
