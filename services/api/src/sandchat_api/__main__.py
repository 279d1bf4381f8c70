"""`sandchat-api`: serve the HTTP API and the web UI on API_HOST:API_PORT."""

from __future__ import annotations

import logging

import uvicorn
from sandchat.logs import configure_logging
from sandchat.process_memory import hide_process_memory
from sandchat.settings import load_settings
from sandchat.startup_objects import freeze_startup_objects
from sandchat.tracing import configure_tracing

from sandchat_api.app import create_app
from sandchat_api.http_server import server_config

log = logging.getLogger("sandchat_api")


def main() -> None:
    settings = load_settings()
    hide_process_memory()  # an agent of the same user must not read the secrets in this environment
    configure_logging("api", settings.log_format)
    configure_tracing("api", settings.otel_exporter_otlp_endpoint)
    log.info("API on http://%s:%d (agent runner: %s)", settings.api_host, settings.api_port, settings.agent_runner)
    server = uvicorn.Server(server_config(create_app(settings), settings))
    freeze_startup_objects()
    server.run()


if __name__ == "__main__":
    main()
