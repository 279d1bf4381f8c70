"""`sandchat-api`'s server (uvicorn with the project's limits) in a thread of the test process.

Real HTTP over loopback, as a client sees it, without the cost of a separate process; the
backend's database and Redis are the real ones.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from sandchat.settings import Settings
from sandchat_api.app import create_app
from sandchat_api.http_server import server_config
from sandchat_dev.stack import migrate

from tests import backends


@contextlib.contextmanager
def serving_api(settings: Settings) -> Iterator[str]:
    """The API on a free loopback port; yields its base URL (stopped at the end)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(create_app(settings), settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="api-server")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the API server stopped while starting"
        assert time.monotonic() < deadline, "the API server did not start within 30 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@contextlib.contextmanager
def database_of(backend: str, tmp: Path, postgres_admin_url: str | None) -> Iterator[str]:
    """A migrated, empty database of ``backend`` (sqlite or postgresql)."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'sandchat.db'}"
        migrate(url)
        yield url
        shutil.rmtree(tmp, ignore_errors=True)
        return
    assert postgres_admin_url is not None
    with backends.fresh_postgres_database(postgres_admin_url) as url:
        migrate(url)
        yield url
