"""The worker's /metrics: a small HTTP listener of its own (a worker serves nothing else over HTTP).

On WORKER_METRICS_HOST:WORKER_METRICS_PORT (127.0.0.1:8003 by default; compose binds all interfaces
of its internal network so that Prometheus reaches every replica). prometheus-client serves it from
a daemon thread, so a busy event loop never delays a scrape. A port already taken (another worker
on this host) costs the metrics of this worker, never the worker itself.
"""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


def serve_metrics(host: str, port: int) -> bool:
    """Serve /metrics from a daemon thread; ``False`` (and a warning) when the address is unusable."""
    try:
        start_http_server(port, addr=host)  # the default registry: sandchat.metrics
    except OSError as exc:
        log.warning(
            "no /metrics for this worker: %s:%d is unavailable (%s); set WORKER_METRICS_PORT",
            host,
            port,
            exc.strerror or type(exc).__name__,
        )
        return False
    log.info("metrics on http://%s:%d/metrics", host, port)
    return True
