"""Fuzzing the API on SQLite and PostgreSQL: no 5xx for any input, and every error one sentence.

schemathesis drives every operation of the API's own OpenAPI document (schema-conforming input,
and schema-violating input where the schema constrains something); hypothesis adds the classes a
schema does not describe: NUL and control bytes in every string and path, bodies that are not
UTF-8, JSON nested far too deep, integers past 64 bits, cursors at the calendar's edges, hosts
that are not the API's. The server is the real one (uvicorn with the project's limits) in a
thread of the test process, with AUTH_TOKEN set.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandchat.settings import build_settings
from schemathesis.generation.modes import GenerationMode

from tests.security.api_server import database_of, serving_api
from tests.security.hostile_input import big_integers, bodies, cursors, one_sentence, url_text

TOKEN = "tok-fuzz-api"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
OPERATIONS = [
    ("GET", "/threads"),
    ("POST", "/threads"),
    ("GET", "/threads/{thread_id}"),
    ("PATCH", "/threads/{thread_id}"),
    ("DELETE", "/threads/{thread_id}"),
    ("GET", "/threads/{thread_id}/messages"),
    ("GET", "/threads/{thread_id}/export"),
    ("POST", "/threads/{thread_id}/fork"),
    ("GET", "/search"),
    ("DELETE", "/threads/{thread_id}/messages/{message_id}"),
    ("POST", "/ws-ticket"),
    ("POST", "/auth/login"),
    ("POST", "/auth/logout"),
    ("GET", "/me"),
    ("GET", "/tokens"),
    ("POST", "/tokens"),
    ("DELETE", "/tokens/{token_id}"),
    ("GET", "/me/agent-login"),
    ("PUT", "/me/agent-login"),
    ("DELETE", "/me/agent-login"),
    ("GET", "/health"),
    ("GET", "/config"),
]
NEGATABLE = [
    ("GET", "/threads"),
    ("POST", "/threads"),
    ("PATCH", "/threads/{thread_id}"),
    ("POST", "/threads/{thread_id}/fork"),
]
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[str]:
    admin = request.getfixturevalue("postgres_admin_url") if request.param == "postgresql" else None
    with database_of(request.param, tmp_path_factory.mktemp("fuzz"), admin) as database_url:
        namespace = f"sandchat-fuzz-{request.param}"
        api_settings = build_settings(
            database_url=database_url, redis_url=redis_url, redis_namespace=namespace, auth_token=TOKEN
        )
        with serving_api(api_settings) as url:
            yield url


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{api_url}/schema/openapi.json")


@pytest.fixture(scope="module")
def http(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, headers=BEARER, timeout=30) as client:
        yield client


def assert_answered_well(response: Any, what: object) -> None:
    """Below 500; an error is `{"detail": "<one sentence>"}`; every answer carries the security headers."""
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    nosniff = response.headers.get("x-content-type-options")  # schemathesis lists each header's values
    assert nosniff in ("nosniff", ["nosniff"]), what
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"detail"}, (what, body)
        assert one_sentence(body["detail"]), (what, body)
        assert TOKEN not in response.text


def test_the_fuzzed_operations_are_all_the_operations(api_schema: Any) -> None:
    listed = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert listed == set(OPERATIONS)


def _fuzz(api_schema: Any, method: str, path: str, check: Any, mode: GenerationMode = GenerationMode.POSITIVE) -> None:
    operation = api_schema[path][method]

    @FUZZ
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        check(case)

    run()


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [(method, path, GenerationMode.POSITIVE) for method, path in OPERATIONS]
    # Schema-violating input where the schema constrains something (a body, a bounded query).
    + [(method, path, GenerationMode.NEGATIVE) for method, path in NEGATABLE],
)
def test_with_the_bearer_no_server_error_and_every_client_error_is_one_sentence(
    api_schema: Any, api_url: str, method: str, path: str, mode: GenerationMode
) -> None:
    def check(case: Any) -> None:
        response = case.call(base_url=api_url, headers=BEARER, timeout=30)
        assert_answered_well(response, (case.method, case.formatted_path))

    _fuzz(api_schema, method, path, check, mode)


@pytest.mark.parametrize("api_url", ["sqlite"], indirect=True)  # the guard never reaches the database
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_without_the_bearer_everything_but_health_config_and_sign_in_is_401(
    api_schema: Any, api_url: str, method: str, path: str
) -> None:
    def check(case: Any) -> None:
        response = case.call(base_url=api_url, headers={}, timeout=30)
        assert_answered_well(response, (case.method, case.formatted_path))
        if path not in ("/health", "/config", "/auth/login"):
            assert response.status_code == 401, (case.method, case.formatted_path, response.status_code)

    _fuzz(api_schema, method, path, check)


HOSTILE = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
thread_ids = st.one_of(url_text, st.just("THREAD"))


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """A method, a path (hostile parts percent-encoded) and httpx keyword arguments."""
    thread = quote(draw(thread_ids), safe="") or "x"
    kind = draw(st.sampled_from(["list", "create", "read", "rename", "delete", "messages", "asset", "page", "host"]))
    json_headers = {"Content-Type": "application/json"}
    if kind == "list":
        query = draw(st.fixed_dictionaries({}, optional={"cursor": cursors, "limit": big_integers | url_text}))
        return "GET", "/threads", {"params": query}
    if kind == "create":
        return "POST", "/threads", {"content": draw(bodies), "headers": json_headers}
    if kind == "rename":
        return "PATCH", f"/threads/{thread}", {"content": draw(bodies), "headers": json_headers}
    if kind in ("read", "delete", "messages"):
        method = "DELETE" if kind == "delete" else "GET"
        return method, f"/threads/{thread}" + ("/messages" if kind == "messages" else ""), {}
    if kind == "asset":
        return "GET", f"/assets/{quote(draw(url_text), safe='')}", {}
    if kind == "page":
        return "GET", f"/chat/{thread}", {}
    host = draw(url_text.filter(lambda text: text.isascii() and text.isprintable() and text == text.strip()))
    return "GET", "/threads", {"headers": {"Host": host}}


@pytest.fixture(scope="module")
def real_thread(http: httpx.Client) -> str:
    response = http.post("/threads", json={"title": "fuzzed"})
    assert response.status_code == 201
    thread_id: str = response.json()["thread"]["id"]
    return thread_id


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # a failing example's repr is long
@HOSTILE
@given(request=hostile_requests())
def test_hostile_input_of_every_class_gets_no_server_error_and_at_most_one_sentence(
    http: httpx.Client, real_thread: str, request: tuple[str, str, dict[str, Any]]
) -> None:
    method, path, options = request
    response = http.request(method, path.replace("THREAD", real_thread), **options)
    assert_answered_well(response, (method, path[:100]))
