"""AUTH_MODE=proxy: the user is the proxy's header, honoured only from TRUSTED_PROXIES."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from sandchat.settings import build_settings
from sandchat_api.app import create_app

HEADER = "X-Forwarded-Email"
PROXY = "10.1.2.3"

Client = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client_from(sqlite_url: str, redis_url: str) -> Client:
    settings = build_settings(
        database_url=sqlite_url,
        redis_url=redis_url,
        auth_mode="proxy",
        auth_proxy_header=HEADER,
        trusted_proxies=f"{PROXY},192.168.0.0/16",
    )
    app = create_app(settings)

    @asynccontextmanager
    async def client(address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            yield http

    return client


async def test_the_header_from_a_trusted_proxy_names_the_user_created_on_first_sight(client_from: Client) -> None:
    async with client_from(PROXY) as proxy:
        me = await proxy.get("/me", headers={HEADER: "dana@example.com"})
        assert me.status_code == 200
        assert me.json()["username"] == "dana@example.com"
        assert me.json()["authMode"] == "proxy"
        created = await proxy.post("/threads", json={"title": "Dana's"}, headers={HEADER: "dana@example.com"})
        assert created.status_code == 201
        thread_id = created.json()["thread"]["id"]
        again = await proxy.get("/me", headers={HEADER: "dana@example.com"})
        assert again.json()["id"] == me.json()["id"]
        other = await proxy.get(f"/threads/{thread_id}", headers={HEADER: "eli@example.com"})
        assert other.status_code == 404


async def test_the_header_from_an_untrusted_address_is_ignored(client_from: Client) -> None:
    async with client_from("203.0.113.9") as stranger:
        response = await stranger.get("/me", headers={HEADER: "dana@example.com"})
        assert response.status_code == 401
        assert (await stranger.get("/threads", headers={HEADER: "dana@example.com"})).status_code == 401


async def test_password_sign_in_is_not_offered_behind_a_proxy(client_from: Client) -> None:
    async with client_from("192.168.7.7") as proxy:
        response = await proxy.post("/auth/login", json={"username": "dana", "password": "whatever1"})
        assert response.status_code == 400
        assert response.json() == {"detail": "Signing in with a password needs AUTH_MODE=accounts."}
