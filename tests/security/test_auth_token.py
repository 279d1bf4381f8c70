"""AUTH_TOKEN mode end to end: bearer on HTTP, single-use short-lived tickets on the WebSocket."""

from __future__ import annotations

import asyncio
import subprocess

import httpx
import pytest
from redis import Redis
from sandchat_dev.stack import free_port
from websockets.exceptions import InvalidStatus

from tests.e2e.chat_client import ChatClient
from tests.security.conftest import AuthStack
from tests.stack import BIN, ROOT, stack_env

pytestmark = pytest.mark.e2e

# Open without the token, because the browser must load them before it can ask for it.
OPEN_ROUTES = ("/health", "/config", "/", "/chat", "/chat/some-thread", "/schema/openapi.json")
# Open to anyone, and answered without a session: signing in (in token mode it says it is not for this mode).
SIGN_IN = "/auth/login"


def _protected_operations(auth_stack: AuthStack, thread_id: str) -> list[tuple[str, str]]:
    """Every operation of the OpenAPI document except the open ones, with a real thread id filled in."""
    with auth_stack.http(authorised=False) as http:
        document = http.get("/schema/openapi.json").json()
    operations = [
        (method.upper(), path.replace("{thread_id}", thread_id))
        for path, methods in document["paths"].items()
        for method in methods
        if path not in (*OPEN_ROUTES, SIGN_IN)
    ]
    assert len(operations) >= 7, operations
    return operations


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic d3Jvbmc6d3Jvbmc="},
        {"Authorization": "Bearer"},
        {"Authorization": "TOKEN"},  # the token itself without the scheme
    ],
    ids=["none", "wrong-token", "basic", "empty-bearer", "no-scheme"],
)
def test_every_route_but_the_open_ones_answers_401_without_the_bearer(
    auth_stack: AuthStack, headers: dict[str, str]
) -> None:
    headers = {name: value.replace("TOKEN", auth_stack.token) for name, value in headers.items()}
    thread_id = auth_stack.new_thread()
    with auth_stack.http(authorised=False) as http:
        for method, path in _protected_operations(auth_stack, thread_id):
            response = http.request(method, path, headers=headers, json={"title": "x"})
            assert response.status_code == 401, (method, path, response.status_code)
            detail = response.json()["detail"]
            assert "bearer token is required" in detail
            assert auth_stack.token not in response.text
    assert auth_stack.messages(thread_id) == [], "nothing happened to the thread"


def test_the_ui_shell_config_assets_and_health_are_open_and_never_carry_the_token(auth_stack: AuthStack) -> None:
    with auth_stack.http(authorised=False) as http:
        for path in OPEN_ROUTES:
            response = http.get(path)
            assert response.status_code == 200, (path, response.status_code)
            assert auth_stack.token not in response.text
        assert http.get("/config").json()["authRequired"] is True
        index = http.get("/").text
        asset = index.split('src="', 1)[1].split('"', 1)[0]
        assert asset.startswith("/assets/")
        assert http.get(asset).status_code == 200


def test_with_the_bearer_every_route_works(auth_stack: AuthStack) -> None:
    thread_id = auth_stack.new_thread()
    with auth_stack.http() as http:
        assert http.get("/threads").status_code == 200
        assert http.get(f"/threads/{thread_id}").status_code == 200
        assert http.patch(f"/threads/{thread_id}", json={"title": "renamed"}).status_code == 200
        assert http.get(f"/threads/{thread_id}/messages").status_code == 200
        assert http.post("/ws-ticket").status_code == 201
        assert http.delete(f"/threads/{thread_id}").status_code == 204


async def test_the_socket_is_refused_without_a_ticket_or_token(auth_stack: AuthStack) -> None:
    url = auth_stack.stack.gateway_url()
    attempts: list[dict[str, object]] = [
        {},
        {"additional_headers": {"Authorization": "Bearer wrong"}},
        {"origin": auth_stack.origin},  # the page itself, but without a ticket
    ]
    for options in attempts:
        with pytest.raises(InvalidStatus) as refused:
            await ChatClient.open(url, **options)
        assert refused.value.response.status_code == 401
        assert auth_stack.token not in refused.value.response.body.decode()
    # The long-lived token is no ticket: it never needs to travel in a URL.
    with pytest.raises(InvalidStatus) as refused:
        await ChatClient.open(f"{url}?ticket={auth_stack.token}", origin=auth_stack.origin)
    assert refused.value.response.status_code == 401


async def test_a_ticket_opens_the_socket_once(auth_stack: AuthStack) -> None:
    ticket = auth_stack.ticket()
    url = f"{auth_stack.stack.gateway_url()}?ticket={ticket}"
    client = await ChatClient.open(url, origin=auth_stack.origin)
    try:
        thread_id = auth_stack.new_thread()
        _, record = await client.turn(thread_id, "hello through a ticket")
        assert record.final["type"] == "done"
    finally:
        await client.close()
    with pytest.raises(InvalidStatus) as replayed:
        await ChatClient.open(url, origin=auth_stack.origin)
    assert replayed.value.response.status_code == 401


async def test_two_pages_racing_with_one_ticket_only_one_gets_in(auth_stack: AuthStack) -> None:
    url = f"{auth_stack.stack.gateway_url()}?ticket={auth_stack.ticket()}"
    results = await asyncio.gather(
        *(ChatClient.open(url, origin=auth_stack.origin) for _ in range(5)), return_exceptions=True
    )
    opened = [result for result in results if isinstance(result, ChatClient)]
    assert len(opened) == 1
    assert all(isinstance(result, InvalidStatus) for result in results if result not in opened)
    await opened[0].close()


async def test_an_expired_ticket_is_refused(auth_stack: AuthStack) -> None:
    ticket = auth_stack.ticket()
    key = f"{auth_stack.stack.env['REDIS_NAMESPACE']}:ws-ticket:{ticket}"
    redis = Redis.from_url(auth_stack.stack.env["REDIS_URL"])
    try:
        ttl = int(redis.ttl(key))  # type: ignore[arg-type]
        assert 0 < ttl <= 30, f"a ticket lives {ttl}s"
        # Fast-forward the 30 seconds: a lifetime that is over (0 ms) drops the key at once, as its end would.
        assert redis.pexpire(key, 0)
        assert redis.exists(key) == 0
    finally:
        redis.close()
    with pytest.raises(InvalidStatus) as expired:
        await ChatClient.open(f"{auth_stack.stack.gateway_url()}?ticket={ticket}", origin=auth_stack.origin)
    assert expired.value.response.status_code == 401


def test_a_ticket_needs_the_bearer_token(auth_stack: AuthStack) -> None:
    with auth_stack.http(authorised=False) as http:
        response = http.post("/ws-ticket")
    assert response.status_code == 401
    assert "ticket" not in response.json()


@pytest.mark.parametrize("service", ["sandchat-gateway", "sandchat-api"])
def test_binding_beyond_loopback_without_sign_in_refuses_to_start_with_one_line(service: str) -> None:
    prefix = "GATEWAY" if service == "sandchat-gateway" else "API"
    env = stack_env(
        **{f"{prefix}_HOST": "0.0.0.0", f"{prefix}_PORT": str(free_port())},
        AUTH_TOKEN="",
        REDIS_URL="redis://127.0.0.1:1/0",
        DATABASE_URL="sqlite+aiosqlite:///:memory:",
    )
    result = subprocess.run(
        [str(BIN / service)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "AUTH_MODE=none" in lines[0]
    assert "0.0.0.0" in lines[0]


def test_the_token_is_in_no_log_line_so_far(auth_stack: AuthStack) -> None:
    # The fixture checks again at the very end, after every other test used the stack.
    logs = auth_stack.service_logs()
    assert "turn" in logs, "the logs were captured"
    assert auth_stack.token not in logs


def test_401_details_do_not_echo_what_was_presented(auth_stack: AuthStack) -> None:
    presented = "Bearer almost-" + auth_stack.token
    response = httpx.get(f"{auth_stack.api_url}/threads", headers={"Authorization": presented})
    assert response.status_code == 401
    assert auth_stack.token not in response.text
