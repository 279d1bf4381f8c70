"""schemathesis against the API's own OpenAPI document: no 5xx, and every 4xx says what was wrong."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode

from tests.security.conftest import AuthStack

pytestmark = pytest.mark.e2e


OPERATIONS = [
    ("GET", "/threads"),
    ("POST", "/threads"),
    ("GET", "/threads/{thread_id}"),
    ("PATCH", "/threads/{thread_id}"),
    ("DELETE", "/threads/{thread_id}"),
    ("GET", "/threads/{thread_id}/messages"),
    ("DELETE", "/threads/{thread_id}/messages/{message_id}"),
    ("POST", "/ws-ticket"),
    ("GET", "/health"),
    ("GET", "/config"),
]
NEGATABLE = [("GET", "/threads"), ("POST", "/threads"), ("PATCH", "/threads/{thread_id}")]


@pytest.fixture(scope="module")
def api_schema(auth_stack: AuthStack) -> Any:
    return schemathesis.openapi.from_url(f"{auth_stack.api_url}/schema/openapi.json")


def test_the_fuzzed_operations_are_all_the_operations(api_schema: Any) -> None:
    listed = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert listed == set(OPERATIONS)


FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _call(case: Any, auth_stack: AuthStack, headers: dict[str, str]) -> Any:
    response = case.call(base_url=auth_stack.api_url, headers=headers, timeout=10)
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text)
    if 400 <= response.status_code < 500:
        body = response.json()
        assert isinstance(body.get("detail"), str), response.text
        assert body["detail"], response.text
        assert "Traceback" not in body["detail"]
        assert auth_stack.token not in response.text
    return response


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
def test_with_the_bearer_no_server_error_and_every_client_error_has_a_detail(
    api_schema: Any, auth_stack: AuthStack, method: str, path: str, mode: GenerationMode
) -> None:
    _fuzz(api_schema, method, path, lambda case: _call(case, auth_stack, auth_stack.bearer), mode)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_without_the_bearer_everything_but_health_and_config_is_401(
    api_schema: Any, auth_stack: AuthStack, method: str, path: str
) -> None:
    def check(case: Any) -> None:
        response = _call(case, auth_stack, {})
        if path not in ("/health", "/config"):
            assert response.status_code == 401, (case.method, case.formatted_path, response.status_code)

    _fuzz(api_schema, method, path, check)
