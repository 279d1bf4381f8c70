"""The three services as separate processes (simulator runner by default), like compose runs them."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandchat_worker.agent_runners import simulator_command

from tests import backends
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

# What the simulator reads: an agent started by the local runner or the sandbox sees only what is named.
SIMULATOR_SETTINGS = ("SIMULATOR_STATE_DIR", "SIMULATOR_TOKENS", "SIMULATOR_DELAY_MS")


def stack_settings(tmp: Path, redis_url: str, **extra: str) -> dict[str, str]:
    """Settings of a test stack. AGENT_RUNNER=local or sandbox run the simulator as the CLI (in a
    workspace of its own for the sandbox), so any runner works without a Claude account."""
    database_url = extra.pop("DATABASE_URL", f"sqlite+aiosqlite:///{tmp / 'sandchat.db'}")
    runner = extra.get("AGENT_RUNNER", "simulator")
    # The agent works here, never in the checkout (people's directories are made under it too).
    workspace = tmp / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    agent: dict[str, str] = {"LOCAL_WORKSPACE": str(workspace)}
    if runner in ("local", "sandbox"):
        agent |= {
            "CLAUDE_BIN": simulator_command()[0],
            "AGENT_ENV_PASSTHROUGH": ",".join(SIMULATOR_SETTINGS),
            "SANDBOX_WORKSPACE": str(workspace),
        }
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": f"sandchat-e2e-{uuid.uuid4().hex[:8]}",
        "AGENT_RUNNER": "simulator",
        "SIMULATOR_STATE_DIR": str(tmp / "simulator"),
        "SIMULATOR_TOKENS": "40",
        "SIMULATOR_DELAY_MS": "50",
        "AGENT_INACTIVITY_TIMEOUT_S": "3",
        # The simulator's "login" serves every person who stored none (tests of people's own logins
        # say AGENT_SHARED_LOGIN=false).
        "AGENT_SHARED_LOGIN": "true",
        "LOG_LEVEL": "INFO",
        **agent,
        **extra,
    }


# A test that must hold on both databases asks for its stack so: compose runs PostgreSQL, `make dev` SQLite.
ON_BOTH_DATABASES = pytest.mark.parametrize("stack", ["sqlite", "postgresql"], indirect=True)
OWN_STACK_ON_BOTH_DATABASES = pytest.mark.parametrize("own_stack", ["sqlite", "postgresql"], indirect=True)


@contextlib.contextmanager
def _database(request: pytest.FixtureRequest, tmp: Path) -> Iterator[str]:
    """The stack's DATABASE_URL: SQLite in ``tmp``, unless the test is parametrised with ``postgresql``."""
    if getattr(request, "param", "sqlite") == "postgresql":
        with backends.fresh_postgres_database(request.getfixturevalue("postgres_admin_url")) as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp / 'sandchat.db'}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """Two workers and two gateways sharing one Redis and one database (SQLite unless parametrised)."""
    tmp = tmp_path_factory.mktemp("stack")
    with _database(request, tmp) as database_url:
        # At most 25 turns per worker: the 50 concurrent chats need both.
        settings = stack_settings(tmp, redis_url, DATABASE_URL=database_url, WORKER_MAX_JOBS="25")
        with running_stack(workers=2, gateways=2, **settings) as running:
            yield running


@pytest.fixture
def own_stack(tmp_path: Path, redis_url: str, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A stack for one test that kills or restarts its services."""
    with _database(request, tmp_path) as database_url:
        settings = stack_settings(tmp_path, redis_url, DATABASE_URL=database_url)
        with running_stack(workers=1, gateways=2, **settings) as running:
            yield running
