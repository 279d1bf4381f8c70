"""Hostile pages: cross-site WebSocket hijacking, CORS, and what the UI lets a page run."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.chat_client import ChatClient
from tests.security.conftest import AuthStack
from tests.stack import ROOT

pytestmark = pytest.mark.e2e

INDEX_HTML = ROOT / "services" / "web" / "dist" / "index.html"


def _hostile_origins(port: int) -> list[str]:
    return [
        "http://evil.example",
        "null",  # sandboxed iframes and file:// pages
        f"http://127.0.0.1:{port}.evil.example",
        f"http://127.0.0.1:{port}@evil.example",
        f"https://127.0.0.1:{port}",  # another scheme is another origin
        f"http://127.0.0.1:{port + 1}",
        f"http://LOCALHOST:{port}x",
        "http://127.0.0.1",
    ]


async def test_a_page_from_another_origin_is_closed_before_any_frame_and_its_ticket_stays_unused(
    auth_stack: AuthStack,
) -> None:
    url = auth_stack.stack.gateway_url()
    thread_id = auth_stack.new_thread()
    for origin in _hostile_origins(auth_stack.stack.api_port):
        ticket = auth_stack.ticket()
        refused = await ChatClient.open(f"{url}?ticket={ticket}", origin=origin)
        with contextlib.suppress(ConnectionClosed):
            await refused.send({"type": "message", "threadId": thread_id, "content": f"from {origin}"})
        with pytest.raises(ConnectionClosed):
            await refused.receive(timeout=5)
        # Closed with a reason the page can show (a refused handshake would show it nothing).
        assert refused.websocket.close_code == 1008, origin
        assert (refused.websocket.close_reason or "").startswith("Origin not allowed"), origin
        # Closed before the ticket was looked at: the page's own tab can still use it.
        client = await ChatClient.open(f"{url}?ticket={ticket}", origin=auth_stack.origin)
        await client.close()
    assert auth_stack.messages(thread_id) == [], "no frame of a refused page was read"


async def test_refused_origins_are_logged_at_most_once_a_minute_and_cut_short(auth_stack: AuthStack) -> None:
    for number in range(20):
        refused = await ChatClient.open(auth_stack.stack.gateway_url(), origin=f"http://{number}.{'a' * 5000}.example")
        with pytest.raises(ConnectionClosed):
            await refused.receive(timeout=5)
    gateway = auth_stack.stack.service("gateway")
    lines = gateway.lines_with("refused a WebSocket from origin")
    assert lines, "refusals are logged"
    stamps = [
        datetime.strptime(line.split(" ", 2)[0] + " " + line.split(" ", 2)[1], "%Y-%m-%d %H:%M:%S,%f") for line in lines
    ]
    assert all(later - earlier >= timedelta(seconds=59) for earlier, later in pairwise(stamps)), lines
    assert all(len(line) < 400 for line in lines)


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_cors_answers_only_allowed_origins(auth_stack: AuthStack, method: str) -> None:
    with httpx.Client(base_url=auth_stack.api_url) as http:
        for origin in _hostile_origins(auth_stack.stack.api_port):
            preflight = http.options(
                "/threads",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": method,
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            assert "access-control-allow-origin" not in preflight.headers, origin
            simple = http.get("/threads", headers={"Origin": origin, **auth_stack.bearer})
            assert "access-control-allow-origin" not in simple.headers, origin
        allowed = http.options(
            "/threads",
            headers={
                "Origin": auth_stack.origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization",
            },
        )
    assert allowed.headers["access-control-allow-origin"] == auth_stack.origin
    assert allowed.headers.get("access-control-allow-origin") != "*"


@pytest.mark.parametrize("path", ["/", "/chat", "/chat/some-thread"])
def test_the_ui_has_a_strict_content_security_policy(auth_stack: AuthStack, path: str) -> None:
    response = httpx.get(f"{auth_stack.api_url}{path}")
    assert response.status_code == 200
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in response.headers["content-security-policy"].split(";")
        if directive.strip()
    }
    assert policy["script-src"] == ["'self'"], "no inline or eval'd script, nothing from other origins"
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


class _ScriptFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> inline handler")
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
        if tag == "script":
            self._in_script = True
            source = dict(attrs).get("src")
            if not source or not source.startswith("/assets/"):
                self.problems.append(f"<script> without a same-origin src: {attrs}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append(f"inline script: {data.strip()[:80]}")


def _inline_script_problems(html: str) -> list[str]:
    finder = _ScriptFinder()
    finder.feed(html)
    return finder.problems


def test_the_built_ui_has_no_inline_script(auth_stack: AuthStack) -> None:
    assert INDEX_HTML.is_file(), "run `make install` to build the web UI"
    assert _inline_script_problems(INDEX_HTML.read_text()) == []
    served = httpx.get(f"{auth_stack.api_url}/chat").text
    assert served == INDEX_HTML.read_text()


def test_the_inline_script_check_finds_inline_script(tmp_path: Path) -> None:
    html = '<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a>'
    assert len(_inline_script_problems(html)) == 4
