"""AUTH_TOKEN: bearer checks for HTTP, and short-lived single-use tickets for the WebSocket."""

from __future__ import annotations

import secrets
from typing import Final

from litestar import post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from sandchat.service_contracts import bearer_matches
from sandchat.settings import Settings

from sandchat_api.deps import RedisDep, SettingsDep
from sandchat_api.schemas import WebSocketTicket

TICKET_TTL_S: Final = 30


async def require_token(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """A guard: with AUTH_TOKEN set, the request must carry `Authorization: Bearer <token>`."""
    settings: Settings = connection.app.state.settings
    expected = settings.auth_token_value()
    if expected is None:
        return
    if not bearer_matches(connection.headers.get("authorization", ""), expected):
        raise NotAuthorizedException("A valid bearer token is required (Authorization: Bearer <AUTH_TOKEN>).")


@post("/ws-ticket", guards=[require_token], tags=["auth"], status_code=201)
async def issue_ticket(redis: RedisDep, settings: SettingsDep) -> WebSocketTicket:
    """A single-use ticket, valid for 30 seconds, to open the chat WebSocket with `?ticket=`."""
    ticket = secrets.token_urlsafe(32)
    await redis.set(settings.redis_keys.ws_ticket(ticket), 1, ex=TICKET_TTL_S)
    return WebSocketTicket(ticket)
