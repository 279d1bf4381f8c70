"""A stack with AUTH_MODE=accounts and the people on it, each signed in with their own cookie."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

import httpx

from tests.e2e.chat_client import ChatClient
from tests.stack import BIN, ROOT, Stack

PASSWORD = "correct horse battery"


@dataclass
class Person:
    """One signed-in person: an HTTP client holding their session cookie and sending the page's Origin."""

    name: str
    http: httpx.Client
    stack: Stack
    sockets: list[ChatClient] = field(default_factory=list)

    def ticket(self) -> str:
        response = self.http.post("/ws-ticket")
        assert response.status_code == 201, response.text
        ticket: str = response.json()["ticket"]
        return ticket

    async def socket(self) -> ChatClient:
        """The chat WebSocket as the browser opens it: with a ticket and the page's Origin."""
        client = await ChatClient.open(
            f"{self.stack.gateway_url()}?ticket={self.ticket()}", origin=self.http.headers["Origin"]
        )
        self.sockets.append(client)
        return client

    def new_thread(self, title: str | None = None) -> str:
        response = self.http.post("/threads", json={"title": title} if title else {})
        assert response.status_code == 201, response.text
        thread_id: str = response.json()["thread"]["id"]
        return thread_id

    def messages(self, thread_id: str) -> list[dict[str, object]]:
        response = self.http.get(f"/threads/{thread_id}/messages")
        assert response.status_code == 200, response.text
        found: list[dict[str, object]] = response.json()["messages"]
        return found


def command(
    stack: Stack, program: str, *arguments: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run one of the project's commands against the stack (its environment, and `env` on top) from
    the repository's root, as a person at a terminal would; what it printed is kept."""
    return subprocess.run(
        [str(BIN / program), *arguments],
        input=stdin,
        env={**stack.env, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def admin(stack: Stack, *arguments: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `sandchat-admin` against the stack's database, as an operator would."""
    return command(stack, "sandchat-admin", *arguments, stdin=stdin)


def origin(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.api_port}"


def sign_in(stack: Stack, name: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(
        f"{stack.api_url}/auth/login",
        json={"username": name, "password": password},
        headers={"Origin": origin(stack)},
        timeout=10,
    )


def signed_in(stack: Stack, name: str) -> Person:
    response = sign_in(stack, name)
    assert response.status_code == 204, response.text
    http = httpx.Client(base_url=stack.api_url, headers={"Origin": origin(stack)}, timeout=10)
    http.cookies.set("sandchat_session", response.cookies["sandchat_session"])
    return Person(name, http, stack)
