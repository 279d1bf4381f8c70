"""docker/edge.conf.template run by a real nginx: HTTP to the API, WebSocket upgrade to the gateway.

In compose the upstreams are the `api` and `gateway` services found through Docker's DNS; here they
are stand-ins on 127.0.0.2, and nginx listens on 127.0.0.1 with the same port numbers (the template
uses API_PORT/GATEWAY_PORT on both sides, as compose does). Needs an `nginx` binary (Debian: nginx).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from sandchat_dev.stack import free_port
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers

from tests.deploy import deploy_files as files

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


@pytest.fixture(autouse=True)
def _nginx_is_installed() -> None:
    # Never skipped: without nginx this proves nothing, so it fails and says what to install.
    assert NGINX is not None, "the edge proxy tests need nginx: apt-get install nginx-light (.ci/run does)"


BACKEND_HOST = "127.0.0.2"


def render(api_port: int, gateway_port: int) -> str:
    text = (files.ROOT / "docker" / "edge.conf.template").read_text()
    text = text.replace("${API_PORT}", str(api_port)).replace("${GATEWAY_PORT}", str(gateway_port))
    text = text.replace("http://api:", f"http://{BACKEND_HOST}:").replace("http://gateway:", f"http://{BACKEND_HOST}:")
    text = text.replace(f"listen {api_port};", f"listen 127.0.0.1:{api_port};")
    return text.replace(f"listen {gateway_port};", f"listen 127.0.0.1:{gateway_port};")


class _Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "host": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[tuple[int, int]]:
    api_port, gateway_port = free_port(), free_port()
    api = HTTPServer((BACKEND_HOST, api_port), _Api)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    (tmp_path / "edge.conf").write_text(render(api_port, gateway_port))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr warn;\nevents {{}}\n"
        f"http {{\n access_log off;\n client_body_temp_path {tmp_path}/body;\n proxy_temp_path {tmp_path}/proxy;\n"
        f" include {tmp_path}/edge.conf;\n}}\n"
    )
    assert NGINX is not None
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    nginx = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", api_port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield api_port, gateway_port
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        api.shutdown()
        api.server_close()


def test_edge_passes_http_to_the_api_with_the_host_and_port_the_browser_used(edge: tuple[int, int]) -> None:
    api_port, _ = edge
    connection = http.client.HTTPConnection("127.0.0.1", api_port, timeout=5)
    connection.request("GET", "/config?x=1", headers={"Host": f"chat.example.com:{api_port}"})
    response = connection.getresponse()
    assert response.status == 200
    seen = json.loads(response.read())
    assert seen == {"path": "/config?x=1", "host": f"chat.example.com:{api_port}"}
    connection.request("GET", "/edge-health")
    own = connection.getresponse()
    assert (own.status, own.read()) == (200, b"ok\n")


def test_edge_upgrades_websockets_to_the_gateway_and_keeps_the_origin(edge: tuple[int, int]) -> None:
    _, gateway_port = edge
    seen: dict[str, str | None] = {}

    async def echo(websocket: ServerConnection) -> None:
        request_headers: Headers = websocket.request.headers if websocket.request else Headers()
        seen["origin"] = request_headers.get("Origin")
        seen["path"] = websocket.request.path if websocket.request else None
        async for message in websocket:
            await websocket.send(f"echo {message!s}")

    async def scenario() -> list[str]:
        async with serve(echo, BACKEND_HOST, gateway_port):
            url = f"ws://127.0.0.1:{gateway_port}/chat?ticket=abc"
            async with connect(url, origin="http://127.0.0.1:8000") as client:  # type: ignore[arg-type]
                replies = []
                for text in ("one", "two"):
                    await client.send(text)
                    replies.append(str(await client.recv()))
                return replies

    assert asyncio.run(scenario()) == ["echo one", "echo two"]
    assert seen == {"origin": "http://127.0.0.1:8000", "path": "/chat?ticket=abc"}


def test_edge_never_exposes_the_services_metrics(edge: tuple[int, int]) -> None:
    for port in edge:
        for path in ("/metrics", "/metrics?x=1", "//metrics", "/metrics/"):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            assert response.status == 404, (port, path)
            assert b"path" not in body  # the stand-in backend never saw it
            connection.close()
