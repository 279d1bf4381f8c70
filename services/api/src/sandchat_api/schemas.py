"""HTTP request and response bodies (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from sandchat.accounts import MAX_PASSWORD_CHARS, TOKEN_NAME_MAX_CHARS
from sandchat.agent_cli import PermissionMode
from sandchat.models import TITLE_MAX_LENGTH, USERNAME_MAX_LENGTH, ApiToken, Message, Thread
from sandchat.search import SearchHit
from sandchat.wire import ThreadActivity

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=TITLE_MAX_LENGTH)]


class RequestBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """A request's JSON: camelCase keys; a key this server does not know is refused, not ignored."""


class ResponseBody(msgspec.Struct, rename="camel"):
    """An answer's JSON: camelCase keys, as the web client reads them."""


def _check_title(title: str | None) -> None:
    if title is not None and "\x00" in title:
        # Never stored: PostgreSQL cannot hold it, and no title needs it.
        raise ValueError("the title contains a NUL character")


class CreateThread(RequestBody):
    title: Title | None = None

    def __post_init__(self) -> None:
        _check_title(self.title)


class UpdateThread(RequestBody):
    title: Title | None = None
    permission_mode: PermissionMode | None = None

    def __post_init__(self) -> None:
        _check_title(self.title)


class ForkThread(RequestBody):
    """Edit a past user message: a new thread with the messages before it (its agent session forked there)."""

    message_id: Annotated[str, msgspec.Meta(max_length=64)]


# idle; running (a reply streams, or waits for a worker); waiting (the agent waits for a person's approval).
# Defined with the wire protocol, so the web UI's generated types name the same values.
Activity = ThreadActivity


class ForkOrigin(ResponseBody):
    """The thread a fork was made from and the user message that was edited (the origin may be deleted)."""

    thread_id: str
    message_id: str | None


class ThreadOut(ResponseBody):
    id: str
    title: str
    claude_session_id: str | None
    created_at: datetime
    updated_at: datetime
    permission_mode: PermissionMode
    activity: Activity
    forked_from: ForkOrigin | None = None

    @classmethod
    def of(cls, thread: Thread, default_mode: PermissionMode, activity: Activity = "idle") -> ThreadOut:
        mode: PermissionMode = thread.permission_mode or default_mode  # type: ignore[assignment]
        origin = thread.forked_from_thread_id
        return cls(
            thread.id,
            thread.title,
            thread.claude_session_id,
            thread.created_at,
            thread.updated_at,
            mode,
            activity,
            ForkOrigin(origin, thread.forked_from_message_id) if origin else None,
        )


class ThreadEnvelope(msgspec.Struct):
    thread: ThreadOut


class ThreadList(ResponseBody):
    threads: list[ThreadOut]
    next_cursor: str | None


class MessageOut(ResponseBody):
    id: str
    thread_id: str
    role: str
    content: str
    status: str
    created_at: datetime
    error: str | None
    meta: dict[str, Any] | None

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls(
            message.id,
            message.thread_id,
            message.role,
            message.content,
            message.status,
            message.created_at,
            message.error,
            message.meta,
        )


class MessageList(ResponseBody):
    messages: list[MessageOut]
    # Pass back as `before` (older) or `after` (newer) for the next page that way; null at either end.
    older_cursor: str | None = None
    newer_cursor: str | None = None


class SandboxHealth(ResponseBody):
    status: str
    message: str
    # When a worker last reported the agent's state (ISO 8601, UTC); None when none ever did.
    checked_at: str | None = None


class Health(ResponseBody, omit_defaults=True):
    status: str
    database: str
    redis: str
    sandbox: SandboxHealth
    # Whether *your* agent is logged in (sandchat_api.agent_login), when the request says who you are.
    agent_login: Any = None


class ClientConfig(ResponseBody):
    gateway_url: str
    runner: str
    # Whether the page needs a ticket to open the WebSocket (every mode but none).
    auth_required: bool
    # none, token (ask for AUTH_TOKEN), accounts (the sign-in page), proxy (signed in by the proxy).
    auth_mode: str


class WebSocketTicket(msgspec.Struct):
    ticket: str


class SearchResults(ResponseBody):
    results: list[SearchHit]
    next_cursor: str | None


class SignIn(RequestBody):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=USERNAME_MAX_LENGTH)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PASSWORD_CHARS)]


class Me(ResponseBody):
    id: str
    username: str
    is_admin: bool
    # none, token, accounts or proxy: what the UI offers (sign out, tokens) depends on it.
    auth_mode: str


class NewTokenRequest(RequestBody):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=TOKEN_NAME_MAX_CHARS)]


class TokenOut(ResponseBody):
    id: str
    name: str
    # The token's last four characters, to tell tokens apart.
    hint: str
    created_at: datetime

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(token.id, token.name, token.hint, token.created_at)


class TokenList(msgspec.Struct):
    tokens: list[TokenOut]


class CreatedToken(msgspec.Struct):
    token: TokenOut
    # The token itself, shown this once: only its hash is stored.
    secret: str
