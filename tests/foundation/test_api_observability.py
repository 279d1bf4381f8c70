"""The API's /metrics (open to any Host, like /health) and its request counter and spans."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.foundation.conftest import Client
from tests.metrics_page import parse, value


async def requests_counted(client: Client, route: str, status: str) -> float:
    response = await client.get("/metrics", headers={"Host": "10.0.0.7:8000"})  # as Prometheus reaches a replica
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return value(parse(response.text), "sandchat_http_requests_total", route=route, status=status)


async def test_metrics_count_requests_by_route_template_and_status(client: Client) -> None:
    missing = "/threads/{thread_id}"
    before = (await requests_counted(client, "/health", "200"), await requests_counted(client, missing, "404"))
    before_unmatched = await requests_counted(client, "unmatched", "404")
    assert (await client.get("/health")).status_code == 200
    for _ in range(2):
        assert (await client.get("/threads/no-such-thread")).status_code == 404
    assert (await client.get("/no/such/page/at/all")).status_code == 404
    after = (await requests_counted(client, "/health", "200"), await requests_counted(client, missing, "404"))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 2)
    assert await requests_counted(client, "unmatched", "404") - before_unmatched == 1


async def test_each_request_is_a_span_when_tracing_is_on(client: Client, spans: InMemorySpanExporter) -> None:
    assert (await client.get("/health")).status_code == 200
    (span,) = [span for span in spans.get_finished_spans() if span.name == "GET /health"]
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
