"""The API answers only its own hosts, refuses cross-site writes, and never lets a request name a file.

In process (Litestar's test client, real Redis and SQLite), with and without AUTH_TOKEN.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sandchat.settings import Settings, build_settings
from sandchat_api.app import create_app
from sandchat_api.errors import PLAIN_DETAILS
from sandchat_api.request_guard import CROSS_SITE, NOT_JSON, UNKNOWN_HOST
from sandchat_api.web import NO_SUCH_ASSET, SECURITY_HEADERS
from sandchat_dev.stack import free_port

from tests import backends
from tests.api_client import PAGE, ApiClient, api_client

Client = ApiClient
TOKEN = "tok-http-boundary"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
ASSETS = backends.ROOT / "services" / "web" / "dist" / "assets"


def _settings(sqlite_url: str, redis_url: str, redis_namespace: str, **overrides: object) -> Settings:
    return build_settings(database_url=sqlite_url, redis_url=redis_url, redis_namespace=redis_namespace, **overrides)


@pytest.fixture(params=["open", "token"])
async def client(
    request: pytest.FixtureRequest, sqlite_url: str, redis_url: str, redis_namespace: str
) -> AsyncIterator[Client]:
    token = {"auth_token": TOKEN} if request.param == "token" else {}
    settings = _settings(sqlite_url, redis_url, redis_namespace, **token)
    async with api_client(create_app(settings)) as test_client:
        test_client.headers.update(BEARER if token else {})
        yield test_client


@pytest.fixture
async def open_client(sqlite_url: str, redis_url: str, redis_namespace: str) -> AsyncIterator[Client]:
    """Without AUTH_TOKEN: for what the token does not change."""
    async with api_client(create_app(_settings(sqlite_url, redis_url, redis_namespace))) as c:
        yield c


REBOUND_HOSTS = ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.evil.example:8000", ""]


@pytest.mark.parametrize("host", REBOUND_HOSTS)
async def test_a_page_reaching_the_api_by_dns_rebinding_is_refused(client: Client, host: str) -> None:
    for method, path in [("GET", "/threads"), ("POST", "/threads"), ("GET", "/config"), ("GET", "/chat")]:
        response = await client.request(method, path, headers={"Host": host}, json={})
        assert (response.status_code, response.json()) == (400, {"detail": UNKNOWN_HOST}), (method, path)


async def test_dns_rebinding_changes_nothing(client: Client) -> None:
    thread_id = (await client.post("/threads", json={"title": "mine"})).json()["thread"]["id"]
    rebound = {"Host": "evil.example:8000", "Origin": "http://evil.example:8000"}
    await client.patch(f"/threads/{thread_id}", headers=rebound, json={"title": "theirs"})
    await client.delete(f"/threads/{thread_id}", headers=rebound)
    assert (await client.get(f"/threads/{thread_id}")).json()["thread"]["title"] == "mine"


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "localhost:8000", "LOCALHOST:8000", "localhost.:8000", "[::1]:8000"]
)
async def test_the_api_answers_its_own_hosts(open_client: Client, host: str) -> None:
    assert (await open_client.get("/threads", headers={"Host": host})).status_code == 200


async def test_health_answers_any_host_for_load_balancers(open_client: Client) -> None:
    assert (await open_client.get("/health", headers={"Host": "10.0.0.7:8000"})).status_code == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"title": "from a form"}'),
        ("application/x-www-form-urlencoded", b"title=from+a+form"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="title"\r\n\r\nhi\r\n--x--\r\n',
        ),
        (None, b'{"title": "no content type"}'),
    ],
)
async def test_a_cross_site_form_post_is_refused_and_creates_nothing(
    client: Client, content_type: str | None, body: bytes
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/threads", content=body, headers=headers)
    assert (response.status_code, response.json()) == (415, {"detail": NOT_JSON})
    assert (await client.get("/threads")).json()["threads"] == []


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:8001", "https://127.0.0.1:8000"])
async def test_a_write_from_a_page_of_another_origin_is_refused(client: Client, origin: str) -> None:
    thread_id = (await client.post("/threads", json={"title": "mine"})).json()["thread"]["id"]
    for method, path in [("POST", "/threads"), ("PATCH", f"/threads/{thread_id}"), ("DELETE", f"/threads/{thread_id}")]:
        response = await client.request(method, path, headers={"Origin": origin}, json={"title": "theirs"})
        assert (response.status_code, response.json()) == (403, {"detail": CROSS_SITE}), method
    assert [thread["title"] for thread in (await client.get("/threads")).json()["threads"]] == ["mine"]


async def test_the_page_s_own_origin_may_write(open_client: Client) -> None:
    response = await open_client.post("/threads", headers={"Origin": PAGE}, json={"title": "mine"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("host", "gateway"),
    [("127.0.0.1:8000", "ws://127.0.0.1:8001/chat"), ("localhost:8000", "ws://localhost:8001/chat")],
)
async def test_config_names_a_configured_gateway_address(open_client: Client, host: str, gateway: str) -> None:
    assert (await open_client.get("/config", headers={"Host": host})).json()["gatewayUrl"] == gateway


async def test_config_never_echoes_the_request_s_host(sqlite_url: str, redis_url: str, redis_namespace: str) -> None:
    settings = _settings(sqlite_url, redis_url, redis_namespace, allowed_hosts="*")
    async with api_client(create_app(settings)) as client:
        body = (await client.get("/config", headers={"Host": "evil.example:8000"})).json()
    assert body["gatewayUrl"] == "ws://127.0.0.1:8001/chat"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/no-such-page"), ("DELETE", "/threads"), ("GET", "/assets/nothing.js"), ("GET", "/threads/x")],
)
async def test_error_answers_carry_the_security_headers_too(open_client: Client, method: str, path: str) -> None:
    response = await open_client.request(method, path)
    assert 400 <= response.status_code < 500
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name
    assert response.json()["detail"].endswith(".")


async def test_the_chat_page_names_its_charset_once(open_client: Client) -> None:
    response = await open_client.get("/chat")
    assert response.headers["content-type"] == "text/html; charset=utf-8"


async def test_the_api_documentation_is_the_openapi_document_only(open_client: Client) -> None:
    assert (await open_client.get("/schema")).json()["openapi"].startswith("3.")
    assert (await open_client.get("/schema/openapi.json")).json()["openapi"].startswith("3.")
    swagger = await open_client.get("/schema/swagger")
    assert swagger.status_code == 404
    assert "cdn" not in swagger.text.lower()


# A name that is gone once the path is normalised ("/assets/."), or that holds a slash once decoded,
# reaches no asset route: it is answered like any path that names nothing.
NO_SUCH_PATH = PLAIN_DETAILS[404]


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        (".", NO_SUCH_PATH),
        ("%2e%2e", NO_SUCH_ASSET),
        ("..%2findex.html", NO_SUCH_PATH),
        ("%2e%2e%2f%2e%2e%2fweb.py", NO_SUCH_PATH),
        ("a%00b", NO_SUCH_ASSET),
        ("a%0ab", NO_SUCH_ASSET),
        ("%0d%0aSet-Cookie:x=1", NO_SUCH_ASSET),
        ("index.html", NO_SUCH_ASSET),
        ("x" * 300, NO_SUCH_ASSET),
    ],
)
async def test_an_asset_path_never_names_a_file_outside_the_build(open_client: Client, name: str, detail: str) -> None:
    response = await open_client.get(f"/assets/{name}")
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == detail


async def test_the_built_assets_are_served_and_cacheable_forever(open_client: Client) -> None:
    names = [path.name for path in ASSETS.iterdir()]
    assert names, "run `make install` to build the web UI"
    for name in names:
        response = await open_client.get(f"/assets/{name}")
        assert response.status_code == 200, name
        assert response.content == (ASSETS / name).read_bytes()
        assert "immutable" in response.headers["cache-control"]
        # A browser runs a script and applies a style sheet only when served as one.
        expected = {".js": "javascript", ".css": "text/css"}.get(Path(name).suffix, "")
        assert expected in response.headers["content-type"], (name, response.headers["content-type"])


async def test_a_newline_in_a_path_never_starts_a_log_line(
    redis_url: str, redis_namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A database that does not answer makes the API log the request it failed.
    settings = build_settings(
        database_url=f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none",
        redis_url=redis_url,
        redis_namespace=redis_namespace,
    )
    caplog.set_level(logging.WARNING)
    async with api_client(create_app(settings)) as client:
        response = await client.get("/threads/x%0a2026-01-01 ERROR forged line/messages")
    assert response.status_code == 503
    logged = [record.getMessage() for record in caplog.records if "unavailable" in record.getMessage()]
    assert logged, "the failure is logged"
    assert all("\n" not in line for line in logged), logged
