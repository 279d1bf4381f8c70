"""The Litestar application: threads, health, the web UI and its config."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from redis.asyncio import Redis
from sandchat.database import Database
from sandchat.settings import Settings
from sandchat.turns.store import TurnStore
from sqlalchemy.exc import SQLAlchemyError

from sandchat_api.auth import issue_ticket, require_token
from sandchat_api.errors import EXCEPTION_HANDLERS
from sandchat_api.health import health
from sandchat_api.threads import ThreadController
from sandchat_api.web import add_security_headers, asset_routes, client_config, ui

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
            log.warning("database unreachable at start (%s); /health will report it", type(exc).__name__)
        try:
            yield
        finally:
            await redis.aclose()
            await database.close()

    protected = Router(path="/", route_handlers=[ThreadController, issue_ticket], guards=[require_token])
    return Litestar(
        route_handlers=[protected, health, client_config, ui, *asset_routes(settings)],
        dependencies={
            "database": Provide(lambda: database, use_cache=True, sync_to_thread=False),
            "redis": Provide(lambda: redis, use_cache=True, sync_to_thread=False),
            "turn_store": Provide(lambda: turn_store, use_cache=True, sync_to_thread=False),
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
        },
        state=State({"settings": settings}),
        logging_config=None,
        cors_config=CORSConfig(
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        ),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(title="sandchat", version="0.1.0", path="/schema"),
        after_request=add_security_headers,
        lifespan=[lifespan],
        debug=False,
    )
