"""OpenTelemetry traces: one trace per turn, from the gateway's ``message`` to the turn's end.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: the tracer is then OpenTelemetry's no-op one, whose
spans cost a function call and record nothing, and :func:`traceparent` is ``''`` (nothing more is
stored in Redis). On, each service exports its spans over OTLP/HTTP in batches from a background
thread (the SDK flushes them at exit). The gateway's span travels to the worker as a W3C
``traceparent`` in the turn's info (:class:`sandchat.turns.store.TurnInfo`), so the worker's spans
join the same trace across the queue.

The tracer is this module's, not OpenTelemetry's global one, so tests can swap in an in-memory
exporter (:func:`install`) as often as they like.
"""

from __future__ import annotations

import logging
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

NAME: Final = "sandchat"
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_NO_OP: Final = trace.NoOpTracer()

_tracer: trace.Tracer = _NO_OP
_provider: TracerProvider | None = None


def configure_tracing(service: str, endpoint: str | None) -> None:
    """Export this process's spans to the OTLP/HTTP collector at ``endpoint``; nothing when ``None``."""
    if not endpoint:
        return
    # Imported only when tracing is on: the exporter pulls in protobuf and requests.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

    provider = TracerProvider(resource=Resource.create({"service.name": f"{NAME}-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
    install(provider)
    log.info("tracing on: spans exported over OTLP/HTTP")


def install(provider: TracerProvider | None) -> None:
    """Trace with ``provider`` from now on (``None``: back to the no-op tracer). Flushes the previous one."""
    global _tracer, _provider  # noqa: PLW0603 - the process's one tracer, set at start (or by a test)
    if _provider is not None:
        _provider.shutdown()
    _provider = provider
    _tracer = provider.get_tracer(NAME) if provider is not None else _NO_OP


def tracer() -> trace.Tracer:
    return _tracer


def enabled() -> bool:
    return _tracer is not _NO_OP


def traceparent() -> str:
    """The current span as a W3C ``traceparent`` header value; ``''`` when there is none (tracing off)."""
    if _tracer is _NO_OP:
        return ""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent", "")


def parent_context(value: str) -> Context | None:
    """The context a ``traceparent`` names, to start a child span in another process (``None``: a new trace)."""
    if not value or _tracer is _NO_OP:
        return None
    return _PROPAGATOR.extract({"traceparent": value})


def event(name: str) -> None:
    """Mark a moment (the agent's first output) on the current span; nothing when tracing is off."""
    trace.get_current_span().add_event(name)


def current_trace_id() -> str | None:
    """The current trace's id in hex, for log lines; ``None`` outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
