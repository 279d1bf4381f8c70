"""`sandchat-gateway`: the chat WebSocket on GATEWAY_HOST:GATEWAY_PORT."""

from __future__ import annotations

import asyncio

from sandchat.logs import configure_logging, warn_if_exposed
from sandchat.settings import load_settings

from sandchat_gateway.server import Gateway


def main() -> None:
    settings = load_settings()
    configure_logging("gateway")
    warn_if_exposed(settings.gateway_host, settings.auth_token is not None, "The gateway")
    asyncio.run(Gateway(settings).run())


if __name__ == "__main__":
    main()
