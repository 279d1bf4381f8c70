"""`sandchat-api`: serve the HTTP API and the web UI on API_HOST:API_PORT."""

from __future__ import annotations

import logging

import uvicorn
from sandchat.logs import configure_logging, warn_if_exposed
from sandchat.settings import load_settings

from sandchat_api.app import create_app

log = logging.getLogger("sandchat_api")


def main() -> None:
    settings = load_settings()
    configure_logging("api")
    warn_if_exposed(settings.api_host, settings.auth_token is not None, "The API")
    log.info("API on http://%s:%d (agent runner: %s)", settings.api_host, settings.api_port, settings.agent_runner)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
