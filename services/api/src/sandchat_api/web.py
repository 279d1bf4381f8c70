"""The web UI: the built single-page app at / and /chat, its assets, and the client config."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from litestar import Request, get
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import File
from litestar.types import Message, Scope
from sandchat import identity
from sandchat.settings import Settings, host_name

from sandchat_api.deps import SettingsDep
from sandchat_api.schemas import ClientConfig

# Agent output is shown, never run: no inline script, nothing from other origins.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
UI_NOT_BUILT: Final = "The web UI is not built: run `make install`."
NO_SUCH_ASSET: Final = "No such asset."
# What the Vite build names its files (`index-DnPt9a3o.js`): anything else names no asset.
ASSET_NAME: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


def web_dist_dir(settings: Settings) -> Path:
    if settings.web_dist_dir is not None:
        return settings.web_dist_dir
    # services/api/src/sandchat_api/web.py -> services/web/dist
    return Path(__file__).resolve().parents[3] / "web" / "dist"


def _index(request: Request) -> File:  # type: ignore[type-arg]
    index = web_dist_dir(request.app.state.settings) / "index.html"
    if not index.is_file():
        raise NotFoundException(UI_NOT_BUILT)
    return File(index, media_type="text/html", content_disposition_type="inline", headers={"Cache-Control": "no-cache"})


@get(["/", "/chat", "/chat/{thread_id:str}"], include_in_schema=False)
async def ui(request: Request) -> File:  # type: ignore[type-arg]
    """The single-page app; it routes /chat/<thread id> itself."""
    return _index(request)


@get("/config", tags=["web"])
async def client_config(request: Request, settings: SettingsDep) -> ClientConfig:  # type: ignore[type-arg]
    """What the page needs to know: where the gateway is, which agent runner is active, whether to ask for a token."""
    urls = gateway_urls(settings)
    # Chosen among the configured addresses, never built from what the request says.
    gateway_url = urls.get(host_name(request.url.hostname or ""), next(iter(urls.values())))
    mode = identity.auth_mode(settings)
    return ClientConfig(gateway_url, settings.agent_runner, mode != "none", mode)


def gateway_urls(settings: Settings) -> dict[str, str]:
    """Where a page reaches the gateway, by the host it was loaded from (the first is the default).

    GATEWAY_PUBLIC_URL when set; else, for each of ALLOWED_ORIGINS, its host on GATEWAY_PORT.
    """
    if settings.gateway_public_url:
        return {"": settings.gateway_public_url}
    urls: dict[str, str] = {}
    for origin in settings.allowed_origins:
        parts = urlsplit(origin)
        host = host_name(parts.hostname or settings.api_host)
        scheme = "wss" if parts.scheme == "https" else "ws"
        urls.setdefault(host, f"{scheme}://{host}:{settings.gateway_port}/chat")
    return urls or {"": f"ws://{host_name(settings.api_host)}:{settings.gateway_port}/chat"}


class Assets:
    """The hashed files of the Vite build, served by name only: a request never names a path on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._files = self._scan()

    def _scan(self) -> dict[str, Path]:
        if not self.directory.is_dir():
            return {}
        return {
            path.name: path for path in self.directory.iterdir() if path.is_file() and ASSET_NAME.fullmatch(path.name)
        }

    def find(self, name: str) -> Path | None:
        if not ASSET_NAME.fullmatch(name):
            return None
        if name not in self._files:
            self._files = self._scan()  # the UI was rebuilt since the API started
        return self._files.get(name)


def asset_route(settings: Settings) -> HTTPRouteHandler:
    """GET /assets/<name>: a file of the build, cacheable forever (its name changes with its content)."""
    assets = Assets(web_dist_dir(settings) / "assets")

    @get("/assets/{name:str}", include_in_schema=False, name="assets")
    async def asset(name: FromPath[str]) -> File:
        path = assets.find(name)
        if path is None:
            raise NotFoundException(NO_SUCH_ASSET)
        return File(
            path,
            media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            content_disposition_type="inline",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    return asset


async def add_security_headers(message: Message, _scope: Scope) -> None:
    """On every response, also those no handler made (404, 405, refusals)."""
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders.from_message(message)
        for name, value in SECURITY_HEADERS.items():
            if name not in headers:
                headers[name] = value
