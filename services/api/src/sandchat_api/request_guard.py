"""What the API refuses before any handler runs: foreign hosts, cross-site writes, bodies that are not JSON.

- **Host** must be one of ALLOWED_HOSTS: a page on another site that reaches the API through DNS
  rebinding (its own name, resolving to this machine) is refused, whatever it asks.
- **Origin**, on a request that changes something (POST, PUT, PATCH, DELETE), must be one of
  ALLOWED_ORIGINS when the browser sends one: a page on another site cannot drive the API
  through the user's browser, even with a form (which CORS does not stop).
- **Content-Type** of such a request's body must be JSON: a form post or `text/plain` body, which
  a browser sends cross-site without asking, is refused.

`/health` and `/metrics` answer any host: load balancers, container checks and Prometheus reach them by address.
"""

from __future__ import annotations

from typing import Final

import msgspec
from litestar import MediaType
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.response.base import ASGIResponse
from litestar.types import ASGIApp, Receive, Scope, Send
from sandchat.settings import Settings, host_name

UNKNOWN_HOST: Final = "This server does not answer to the host this request names (see ALLOWED_HOSTS)."
CROSS_SITE: Final = "A page on another site may not change anything here (its origin is not in ALLOWED_ORIGINS)."
NOT_JSON: Final = "The request body must be JSON, sent with Content-Type: application/json."
STATE_CHANGING: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_TO_ANY_HOST: Final = frozenset({"/health", "/metrics"})


def host_allowed(host_header: str, allowed_hosts: tuple[str, ...]) -> bool:
    """Whether a Host header (``name`` or ``name:port``) names one of ALLOWED_HOSTS.

    An entry without a port allows its name on any port; ``*`` allows every host.
    """
    if "*" in allowed_hosts:
        return True
    name, port = _split_host(host_header)
    if not name:
        return False
    return name in allowed_hosts or (port is not None and f"{name}:{port}" in allowed_hosts)


def _split_host(host_header: str) -> tuple[str, str | None]:
    value = host_header.strip()
    if value.startswith("["):  # [v6]:port
        name, _, rest = value.partition("]")
        port = rest[1:] if rest.startswith(":") else None
        return host_name(name + "]"), port if port and port.isdigit() else None
    name, sep, port = value.rpartition(":")
    if sep and port.isdigit():
        return host_name(name), port
    return host_name(value), None


def is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def refusal(headers: Headers, method: str, path: str, settings: Settings) -> ASGIResponse | None:
    """The answer that refuses this request, or ``None`` when it may go on."""
    if path not in OPEN_TO_ANY_HOST and not host_allowed(headers.get("host", ""), settings.allowed_hosts):
        return _refuse(400, UNKNOWN_HOST)
    if method not in STATE_CHANGING:
        return None
    origin = headers.get("origin")
    if origin is not None and origin.rstrip("/") not in settings.allowed_origins:
        return _refuse(403, CROSS_SITE)
    content_type = headers.get("content-type")
    has_body = headers.get("content-length", "0").strip() not in ("", "0") or "transfer-encoding" in headers
    if (content_type is not None or has_body) and not is_json(content_type or ""):
        return _refuse(415, NOT_JSON)
    return None


def _refuse(status: int, detail: str) -> ASGIResponse:
    return ASGIResponse(body=msgspec.json.encode({"detail": detail}), status_code=status, media_type=MediaType.JSON)


class RequestGuard:
    """ASGI middleware around every route: answers :func:`refusal` instead of the handler."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            answer = refusal(Headers.from_scope(scope), scope["method"], scope["path"], self.settings)
            if answer is not None:
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
