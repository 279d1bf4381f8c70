"""Who a request acts for (AUTH_MODE), and the short-lived single-use tickets that open the WebSocket.

The guard resolves the person once per request and leaves them on the request's state; handlers take
them as the ``principal`` dependency. A request authenticated by the session cookie that changes
something must come from one of ALLOWED_ORIGINS (its Origin header): another site cannot ride on the
cookie, even where SameSite would let it through.
"""

from __future__ import annotations

import json
import secrets
from typing import Final

from litestar import Request, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from sandchat import accounts, identity
from sandchat.database import Database
from sandchat.identity import Principal
from sandchat.settings import Settings

from sandchat_api.deps import PrincipalDep, RedisDep, SettingsDep
from sandchat_api.request_guard import STATE_CHANGING
from sandchat_api.schemas import WebSocketTicket

TICKET_TTL_S: Final = 30
SESSION_COOKIE: Final = "sandchat_session"
SIGN_IN_REQUIRED: Final = "Sign in first: a session, or Authorization: Bearer <token>, is required."
BAD_BEARER: Final = "A valid bearer token is required (Authorization: Bearer <AUTH_TOKEN or a personal token>)."
NO_ORIGIN: Final = "A change made with the session cookie must say where it comes from (an Origin header)."


async def authenticate(connection: ASGIConnection) -> Principal | None:  # type: ignore[type-arg]
    """The person this request acts for, by AUTH_MODE; ``None`` when it carries no valid credential."""
    settings: Settings = connection.app.state.settings
    database: Database = connection.app.state.database
    mode = identity.auth_mode(settings)
    if mode == "none":
        return identity.LOCAL
    presented = identity.bearer_value(connection.headers.get("authorization", ""))
    if presented is not None:
        return await identity.bearer_principal(settings, database, presented)
    if mode == "accounts":
        cookie = connection.cookies.get(SESSION_COOKIE)
        if cookie:
            async with database.reading() as session:
                found = await accounts.session_user(session, cookie)
            if found is not None:
                return Principal.of(found[1], identity.SESSION_CREDENTIAL + found[0].id)
    if mode == "proxy":
        return await _proxy_principal(connection, settings, database)
    return None


async def _proxy_principal(connection: ASGIConnection, settings: Settings, database: Database) -> Principal | None:  # type: ignore[type-arg]
    peer = connection.client.host if connection.client else None
    name = connection.headers.get(settings.auth_proxy_header or "", "").strip()
    if not name or not identity.is_trusted_proxy(settings, peer):
        return None
    try:
        accounts.check_username(name)
    except accounts.AccountError:
        return None
    async with database.transaction() as session:
        user = await accounts.proxy_user(session, name)
    if user.disabled:
        raise PermissionDeniedException(accounts.DISABLED)
    return Principal.of(user)


async def require_user(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """A guard: the request must act for someone (see :func:`authenticate`); 401 otherwise."""
    principal = await authenticate(connection)
    if principal is None:
        settings: Settings = connection.app.state.settings
        bearer = "authorization" in connection.headers or identity.auth_mode(settings) == "token"
        raise NotAuthorizedException(BAD_BEARER if bearer else SIGN_IN_REQUIRED)
    if (
        principal.by_session
        and connection.scope.get("method") in STATE_CHANGING
        and not connection.headers.get("origin")
    ):
        raise PermissionDeniedException(NO_ORIGIN)
    connection.state.principal = principal


def principal_of(request: Request) -> Principal:  # type: ignore[type-arg]
    """The ``principal`` dependency: whom the guard found this request acts for."""
    principal: Principal = request.state.principal
    return principal


@post("/ws-ticket", tags=["auth"], status_code=201)
async def issue_ticket(redis: RedisDep, settings: SettingsDep, principal: PrincipalDep) -> WebSocketTicket:
    """A single-use ticket, valid for 30 seconds, to open the chat WebSocket with `?ticket=` as this user."""
    ticket = secrets.token_urlsafe(32)
    holder = {"user": principal.user_id, "name": principal.username, "credential": principal.credential}
    await redis.set(settings.redis_keys.ws_ticket(ticket), json.dumps(holder), ex=TICKET_TTL_S)
    return WebSocketTicket(ticket)
