"""The Litestar application: threads, health, the web UI and its config."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from redis.asyncio import Redis
from sandchat.database import Database
from sandchat.settings import Settings
from sandchat.turns.store import TurnStore
from sandchat.unavailable import why
from sqlalchemy.exc import SQLAlchemyError

from sandchat_api.accounts import create_token, list_tokens, me, revoke_token, sign_in, sign_out
from sandchat_api.agent_login import AgentLoginController
from sandchat_api.auth import issue_ticket, principal_of, require_user
from sandchat_api.errors import EXCEPTION_HANDLERS, JSONRequest
from sandchat_api.health import health
from sandchat_api.observability import RequestSpan, count_response, metrics_route
from sandchat_api.request_guard import RequestGuard
from sandchat_api.search import search
from sandchat_api.threads import ThreadController
from sandchat_api.web import add_security_headers, asset_route, client_config, ui

# Request bodies are a title or nothing; this is generous.
MAX_BODY_BYTES = 64 * 1024

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> Litestar:
    database = Database(settings.database_url)
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
    turn_store = TurnStore(redis, settings.redis_keys)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        try:
            await database.log_startup()
        except (SQLAlchemyError, OSError) as exc:  # the API still starts; /health reports the database
            log.warning("database unreachable at start (%s); /health will report it", why(exc))
        try:
            yield
        finally:
            await turn_store.close()
            await redis.aclose()
            await database.close()

    protected = Router(path="/", route_handlers=[ThreadController, search, issue_ticket], guards=[require_user])
    people = [sign_in, sign_out, me, list_tokens, create_token, revoke_token]
    return Litestar(
        route_handlers=[
            protected,
            *people,
            AgentLoginController,
            health,
            metrics_route,
            client_config,
            ui,
            asset_route(settings),
        ],
        dependencies={
            "database": Provide(lambda: database, use_cache=True, sync_to_thread=False),
            "redis": Provide(lambda: redis, use_cache=True, sync_to_thread=False),
            "turn_store": Provide(lambda: turn_store, use_cache=True, sync_to_thread=False),
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "principal": Provide(principal_of, sync_to_thread=False),
        },
        state=State({"settings": settings, "database": database}),
        logging_config=None,
        cors_config=CORSConfig(
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        ),
        middleware=[RequestSpan, DefineMiddleware(RequestGuard, settings=settings)],
        request_class=JSONRequest,
        request_max_body_size=MAX_BODY_BYTES,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        # The OpenAPI document only, at /schema and /schema/openapi.json: the documentation pages
        # would load their scripts from a CDN, which the pages' own policy forbids.
        openapi_config=OpenAPIConfig(
            title="sandchat",
            version="0.1.0",
            path="/schema",
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        ),
        before_send=[add_security_headers, count_response],
        lifespan=[lifespan],
        debug=False,
    )
