"""The API's /metrics, its request counter, and a span per request when tracing is on.

/metrics answers any Host (Prometheus scrapes each replica by address; see request_guard) and
needs no token, like /health: it holds counts, never a user's data. The edge never forwards it.
"""

from __future__ import annotations

from litestar import Response, get
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sandchat import metrics, tracing


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics_route() -> Response[bytes]:
    """This API process's metrics in Prometheus' text format."""
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


async def count_response(message: Message, scope: Scope) -> None:
    """Every answer, also those no handler made (404, refusals), by route template and status."""
    if message["type"] == "http.response.start":
        route = scope.get("path_template") or "unmatched"
        metrics.HTTP_REQUESTS.labels(route, str(message["status"])).inc()


class RequestSpan:
    """ASGI middleware: one span per routed request (a no-op span when tracing is off)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not tracing.enabled():
            await self.app(scope, receive, send)
            return
        route = scope.get("path_template") or scope["path"]
        with tracing.tracer().start_as_current_span(f"{scope['method']} {route}") as span:
            span.set_attribute("http.route", route)

            async def send_and_note(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, send_and_note)
