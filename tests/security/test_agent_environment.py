"""The agent holds no key to the stack, under every runner that starts it here (invariant 7, docs/security.md).

A stack with AUTH_TOKEN, a DATABASE_URL with a password and SANDBOX_TOKEN set runs an agent that
replies with its whole environment and working directory (the simulator's [[env]]; under `local`
and `sandbox` the simulator is the CLI): none of those secrets is in the reply, the stored message or
any service's log. Then the worker is SIGKILLed mid-reply: the agent's processes (the CLI and the
tool it started) are gone within 10 s and the reply ends `interrupted`.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sandchat.agent_env import RUN_MARKER
from sqlalchemy.engine import make_url

from tests import backends
from tests.e2e.chat_client import ChatClient, one_turn
from tests.e2e.conftest import stack_settings
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

RUNNERS = ("local", "sandbox", "simulator")


@dataclass
class BoundaryStack:
    runner: str
    stack: Stack
    secrets: dict[str, str]
    state_dir: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets['AUTH_TOKEN']}"}

    def new_thread(self) -> str:
        response = httpx.post(f"{self.stack.api_url}/threads", json={}, headers=self.bearer, timeout=10)
        response.raise_for_status()
        thread_id: str = response.json()["thread"]["id"]
        return thread_id

    def reply(self, thread_id: str) -> dict[str, str]:
        response = httpx.get(f"{self.stack.api_url}/threads/{thread_id}/messages", headers=self.bearer, timeout=10)
        response.raise_for_status()
        message: dict[str, str] = response.json()["messages"][-1]
        return message

    async def client(self) -> ChatClient:
        return await ChatClient.open(self.stack.gateway_url(), additional_headers=self.bearer, max_size=None)

    def logs(self) -> str:
        return "\n".join(line for service in self.stack.services for line in service.log)

    def agent_processes(self) -> list[int]:
        """The agents of this stack and what they started: this stack's simulator state, and a run marker
        (which only the runners set, never the services)."""
        marker = f"SIMULATOR_STATE_DIR={self.state_dir}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    environ = (entry / "environ").read_bytes().split(b"\0")
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                is_agent = any(variable.startswith(RUN_MARKER.encode() + b"=") for variable in environ)
                if marker in environ and is_agent and state != "Z":
                    found.append(int(entry.name))
        return found


@pytest.fixture(scope="module", params=RUNNERS)
def boundary(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str, postgres_admin_url: str
) -> Iterator[BoundaryStack]:
    runner = str(request.param)
    tmp = tmp_path_factory.mktemp(f"boundary-{runner}")
    password = f"pg-{secrets.token_urlsafe(12)}"
    with backends.fresh_postgres_database(postgres_admin_url) as database_url:
        # The test server trusts local connections: any password is accepted, and must never show.
        with_password = make_url(database_url).set(password=password).render_as_string(hide_password=False)
        values = {"AUTH_TOKEN": f"tok-{secrets.token_urlsafe(24)}", "DATABASE_URL": with_password}
        if runner != "sandbox":  # the sandbox runner's stack makes its own, shared by worker and sandbox only
            values["SANDBOX_TOKEN"] = f"sbx-{secrets.token_urlsafe(24)}"
        settings = stack_settings(tmp, redis_url, AGENT_RUNNER=runner, SIMULATOR_DELAY_MS="10", **values)
        with running_stack(workers=1, gateways=1, **settings) as stack:
            if runner == "sandbox":
                values["SANDBOX_TOKEN"] = stack.service("worker").env["SANDBOX_TOKEN"]
            values["POSTGRES_PASSWORD"] = password
            yield BoundaryStack(runner, stack, values, settings["SIMULATOR_STATE_DIR"])


async def test_an_agent_that_prints_its_environment_shows_no_secret_of_the_service(boundary: BoundaryStack) -> None:
    thread_id = boundary.new_thread()
    _, record = await one_turn(boundary.client(), thread_id, "[[env]] what can you see?")
    assert record.final["type"] == "done", record.final
    report = record.text
    assert "\nenv:\n" in report, "the agent did report its environment"
    assert "\nPATH=" in report
    if boundary.runner == "sandbox":
        assert f"cwd: {boundary.stack.service('sandbox').env['SANDBOX_WORKSPACE']}\n" in report
    stored = boundary.reply(thread_id)["content"]
    logs = boundary.logs()
    for name, value in boundary.secrets.items():
        assert value not in report, f"{name} reached the agent"
        assert value not in stored, f"{name} is in the stored reply"
        assert value not in logs, f"{name} is in a service's log"
    for setting in ("DATABASE_URL=", "REDIS_URL=", "AUTH_TOKEN=", "SANDBOX_TOKEN=", "SANDBOX_URL="):
        assert f"\n{setting}" not in report, f"{setting} is in the agent's environment"


@pytest.mark.parametrize("boundary", ["local", "sandbox"], indirect=True)
async def test_a_worker_killed_mid_reply_leaves_no_agent_process_behind(boundary: BoundaryStack) -> None:
    stack = boundary.stack
    thread_id = boundary.new_thread()
    client = await boundary.client()
    try:
        await client.message(thread_id, "[[hang]] and never finish")
        record = await client.until_tokens(1)
        deadline = time.monotonic() + 10
        while len(boundary.agent_processes()) < 2:  # the CLI, and the tool it starts right after its first words
            assert time.monotonic() < deadline, "the agent and its tool never showed up"
            time.sleep(0.05)
        stack.service("worker").kill()
        killed_at = time.monotonic()
        record = await client.until_final(record, timeout=15)
    finally:
        await client.close()
    assert (record.final["type"], record.final["code"]) == ("error", "interrupted")
    assert boundary.reply(thread_id)["status"] == "interrupted"
    # A worker comes back (compose restarts it): it ends what its predecessor left on this host.
    stack.start_service(stack.service("worker"))
    # A deadline for what must happen (not a speed figure): the new worker reaps at its first probe,
    # after its start-up, which takes seconds on a loaded machine.
    while boundary.agent_processes():
        assert time.monotonic() - killed_at < 60, f"agent processes left: {boundary.agent_processes()}"
        time.sleep(0.05)
    assert os.path.isdir(boundary.state_dir)
