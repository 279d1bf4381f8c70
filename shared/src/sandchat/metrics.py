"""Every Prometheus metric of every service, defined once (docs/operating.md lists them).

Each process keeps its own values in prometheus-client's default registry (with the client's
``process_*`` CPU and memory metrics beside them) and serves them at ``/metrics``: the api beside
its routes, the gateway on its WebSocket port, the worker on WORKER_METRICS_PORT. Prometheus
scrapes every replica; ``sum by`` over them gives the whole stack. A service only moves the
metrics that concern it, so a metric another service owns reads zero (or is absent) in its text.

Labels take values from closed sets only (outcomes, error codes, route templates, model names
the CLI reports), never from input, so the number of series stays bounded.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# No `*_created` series beside each counter and histogram: they double the series and nothing here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

PREFIX: Final = "sandchat"

# Seconds from a message to its first token: the agent's own start dominates (tenths to seconds).
_LATENCY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Seconds a turn waits for a worker: normally milliseconds, minutes when every worker is busy.
_WAIT_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 300)

# --- turns (gateway: started, first token; whoever ends a turn: turns_total) ----------------------
TURNS_STARTED: Final = Counter(f"{PREFIX}_turns_started", "Turns started: a message that began a turn.")
TURNS: Final = Counter(f"{PREFIX}_turns", "Turns ended, by outcome: done or the wire error code.", ["outcome"])
FIRST_TOKEN: Final = Histogram(
    f"{PREFIX}_first_token_seconds",
    "From a message received by the gateway to its turn's first token sent back.",
    buckets=_LATENCY_BUCKETS,
)
QUEUE_WAIT: Final = Histogram(
    f"{PREFIX}_queue_wait_seconds", "From a turn queued to a worker claiming it.", buckets=_WAIT_BUCKETS
)
QUEUE_DEPTH: Final = Gauge(f"{PREFIX}_queue_depth", "Turns in the shared queue that no worker has taken yet.")
TURNS_RUNNING: Final = Gauge(f"{PREFIX}_turns_running", "Turns this worker runs now.")
LIVE_AGENTS: Final = Gauge(f"{PREFIX}_live_agents", "Live agent processes this worker keeps.")
APPROVALS_PENDING: Final = Gauge(f"{PREFIX}_approvals_pending", "Approval requests waiting for a person.")

# --- the agent (worker) ---------------------------------------------------------------------------
AGENT_EXITS: Final = Counter(
    f"{PREFIX}_agent_exits", "Agent turns by how the agent's side ended (complete, error, timeout...).", ["reason"]
)
AGENT_COST: Final = Counter(f"{PREFIX}_agent_cost_usd", "Agent cost in US dollars, from the CLI's result.", ["model"])
AGENT_TOKENS: Final = Counter(
    f"{PREFIX}_agent_tokens",
    "Agent tokens by model and kind (input, output), from the CLI's result.",
    ["model", "kind"],
)

# --- relay (gateway) ------------------------------------------------------------------------------
WEBSOCKETS_OPEN: Final = Gauge(f"{PREFIX}_websockets_open", "WebSocket connections open on this gateway.")
TURN_SUBSCRIBERS: Final = Gauge(f"{PREFIX}_turn_subscribers", "Connections following a turn, summed over turns.")
# Subscribers per turn = sandchat_turn_subscribers / sandchat_turns_followed (summed over gateways).
TURNS_FOLLOWED: Final = Gauge(f"{PREFIX}_turns_followed", "Turns at least one connection of this gateway follows.")
# End to end through the relay: the worker's XADD + PUBLISH, Redis, this gateway's fan-out.
RELAY_DELIVERY: Final = Histogram(
    f"{PREFIX}_relay_delivery_seconds",
    "From a worker publishing a turn's frame to this gateway writing it to its followers (or queueing it "
    "behind a slow one); across hosts, includes their clock difference.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
# Seconds a frame waits in a connection's send queue until the socket took it: a slow client or a busy gateway.
FRAME_DELIVERY: Final = Histogram(
    f"{PREFIX}_frame_delivery_seconds",
    "From a frame queued for a client to the gateway writing it to the client's socket.",
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
)
RELAY_FRAMES: Final = Counter(f"{PREFIX}_relay_frames", "Frames queued for clients by this gateway.")
PUBSUB_RECONNECTS: Final = Counter(f"{PREFIX}_pubsub_reconnects", "Times the gateway's pub/sub reader reconnected.")

# --- the replay log (whoever publishes a turn's events: the worker, a gateway or reaper ending one) ---
REPLAY_LOG_BYTES: Final = Counter(f"{PREFIX}_replay_log_bytes", "Bytes of turn events appended to replay logs.")

# --- failures and HTTP (every service) ------------------------------------------------------------
BACKEND_ERRORS: Final = Counter(
    f"{PREFIX}_backend_errors", "Redis and database errors, by backend and operation.", ["backend", "operation"]
)
HTTP_REQUESTS: Final = Counter(
    f"{PREFIX}_http_requests", "HTTP requests answered by the api, by route template and status.", ["route", "status"]
)

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    """This process's metrics in Prometheus' text format."""
    return generate_latest(REGISTRY)
