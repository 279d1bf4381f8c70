"""`sandchat-gateway`: the chat WebSocket on GATEWAY_HOST:GATEWAY_PORT."""

from __future__ import annotations

import asyncio

from sandchat.logs import configure_logging
from sandchat.process_memory import hide_process_memory
from sandchat.settings import load_settings
from sandchat.startup_objects import freeze_startup_objects
from sandchat.tracing import configure_tracing

from sandchat_gateway.server import Gateway


def main() -> None:
    settings = load_settings()
    hide_process_memory()  # an agent of the same user must not read the secrets in this environment
    configure_logging("gateway", settings.log_format)
    configure_tracing("gateway", settings.otel_exporter_otlp_endpoint)
    gateway = Gateway(settings)
    freeze_startup_objects()
    asyncio.run(gateway.run())


if __name__ == "__main__":
    main()
