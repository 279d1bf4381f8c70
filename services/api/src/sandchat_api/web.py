"""The web UI: the built single-page app at / and /chat, its assets, and the client config."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import File
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

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
UI_NOT_BUILT = "The web UI is not built: run `make install`."


def web_dist_dir(settings: SettingsDep) -> Path:
    if settings.web_dist_dir is not None:
        return settings.web_dist_dir
    # services/api/src/sandchat_api/web.py -> services/web/dist
    return Path(__file__).resolve().parents[3] / "web" / "dist"


def _index(request: Request) -> File:  # type: ignore[type-arg]
    index = web_dist_dir(request.app.state.settings) / "index.html"
    if not index.is_file():
        raise NotFoundException(UI_NOT_BUILT)
    return File(
        index,
        media_type="text/html; charset=utf-8",
        content_disposition_type="inline",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
    )


@get(["/", "/chat", "/chat/{thread_id:str}"], include_in_schema=False)
async def ui(request: Request) -> File:  # type: ignore[type-arg]
    """The single-page app; it routes /chat/<thread id> itself."""
    return _index(request)


@get("/config", tags=["web"])
async def client_config(request: Request, settings: SettingsDep) -> ClientConfig:  # type: ignore[type-arg]
    """What the page needs to know: where the gateway is, which agent runner is active, whether to ask for a token."""
    if settings.gateway_public_url:
        gateway_url = settings.gateway_public_url
    else:
        scheme = "wss" if request.url.scheme == "https" else "ws"
        host = request.url.hostname or settings.api_host
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        gateway_url = f"{scheme}://{host}:{settings.gateway_port}/chat"
    return ClientConfig(gateway_url, settings.agent_runner, settings.auth_token is not None)


def asset_routes(settings: SettingsDep) -> list[ControllerRouterHandler]:
    """Hashed assets from the Vite build, cacheable forever."""
    assets = web_dist_dir(settings) / "assets"
    return [
        create_static_files_router(
            path="/assets",
            directories=[assets],
            include_in_schema=False,
            cache_control=None,
            send_as_attachment=False,
            name="assets",
        )
    ]


def add_security_headers(response: Response) -> Response:  # type: ignore[type-arg]
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
