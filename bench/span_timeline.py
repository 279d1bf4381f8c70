"""Where one turn's time goes, from the services' own OpenTelemetry spans (bench only).

The stack runs with tracing on (``OTEL_EXPORTER_OTLP_ENDPOINT`` at :class:`SpanStore`, a small
OTLP/HTTP endpoint in the bench process that keeps every span). One trace is one turn
(sandchat.tracing): the gateway's ``chat.message`` (message → stored, `started` sent, job queued), the
worker's ``turn.queued`` (ends when the worker claimed the turn),
``turn.run`` with ``agent.start`` (the agent's process started, or reused) and ``agent.turn`` (the
message written → the turn's end) whose event ``agent.first_output`` marks the agent's first output
read. :func:`legs` cuts a turn at those points.
"""

from __future__ import annotations

import contextlib
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

# Tracing settings for the services: export every 100 ms (not 5 s), so a run's spans are in before it ends.
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}


@dataclass(slots=True)
class Span:
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, str] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)


class SpanStore:
    """An OTLP/HTTP (protobuf) endpoint on loopback that keeps the spans it is sent, by trace."""

    def __init__(self) -> None:
        self.traces: dict[bytes, list[Span]] = defaultdict(list)
        self.exports = 0  # export requests received
        self._lock = threading.Lock()

    def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self._lock:
            self.exports += 1
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        self.traces[span.trace_id].append(
                            Span(
                                span.name,
                                span.start_time_unix_nano,
                                span.end_time_unix_nano,
                                {a.key: a.value.string_value for a in span.attributes},
                                {e.name: e.time_unix_nano for e in span.events},
                            )
                        )

    def turns_of_thread(self, thread_id: str) -> list[list[Span]]:
        """The thread's traces (one per turn), oldest first."""
        with self._lock:
            found = [
                spans
                for spans in self.traces.values()
                if any(s.name == "chat.message" and s.attributes.get("thread_id") == thread_id for s in spans)
            ]
        return sorted(found, key=lambda spans: min(s.start_ns for s in spans))

    @contextlib.contextmanager
    def serving(self) -> Iterator[str]:
        """Listen on a free loopback port; yields the endpoint's URL."""
        store = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                store.add(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


# The legs of a turn, in order; each from the first point to the second (ns since the epoch).
LEGS = (
    ("gateway: message -> enqueued", "message", "enqueued"),
    ("queue: enqueued -> claimed", "enqueued", "claimed"),
    ("worker: claimed -> agent start", "claimed", "agent_start"),
    ("worker: agent start -> message written", "agent_start", "written"),
    ("agent: message written -> first output", "written", "first_output"),
)


def legs(spans: list[Span]) -> dict[str, float] | None:
    """A turn's legs in milliseconds (see LEGS), or None when a span of the turn is missing."""
    by_name = {span.name: span for span in spans}
    try:
        points = {
            "message": by_name["chat.message"].start_ns,
            "enqueued": by_name["chat.message"].end_ns,  # the turn stored, `started` sent, its job queued
            "claimed": by_name["turn.queued"].end_ns,
            "agent_start": by_name["agent.start"].start_ns,
            "written": by_name["agent.turn"].start_ns,
            "first_output": by_name["agent.turn"].events["agent.first_output"],
        }
    except KeyError:
        return None
    result = {name: (points[end] - points[start]) / 1e6 for name, start, end in LEGS}
    result["worker: agent start (spawn) alone"] = (by_name["agent.start"].end_ns - points["agent_start"]) / 1e6
    # What the floor measures for a new agent: its start to its first output.
    result["agent: start -> first output"] = (points["first_output"] - points["agent_start"]) / 1e6
    return result
