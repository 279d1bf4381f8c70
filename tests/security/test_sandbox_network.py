"""The network boundary, natively: `sandchat-sandbox` in a network namespace of its own.

The worker (this test, in the host's namespace) reaches the sandbox through a veth pair, as the
worker reaches the `sandbox` service over compose's `agent` network. The agent there then tries
Redis and PostgreSQL, where the stack uses them (this machine's loopback) and at the host's end of
the link: it reaches neither. The same probe run on the host reaches both, so the probe works.

Needs root and iproute2 (CI runs as root); the namespace and the link are always removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sandchat.agent_cli import turn_args
from sandchat_worker.agent_runners import SandboxRunner
from sqlalchemy.engine import make_url

from tests.stack import BIN

pytestmark = pytest.mark.e2e

SANDBOX_PORT = 8002
# A fake agent CLI: tries each address and prints what happened, as one JSON object.
PROBE = """#!{python}
import json, socket, sys
sys.stdin.read()
results = {{}}
for host, port in {targets!r}:
    try:
        socket.create_connection((host, port), timeout=2).close()
        results[f"{{host}}:{{port}}"] = "connected"
    except OSError as exc:
        results[f"{{host}}:{{port}}"] = type(exc).__name__
print(json.dumps(results), flush=True)
"""


@dataclass
class Namespace:
    name: str
    host_address: str
    sandbox_address: str


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextlib.contextmanager
def network_namespace() -> Iterator[Namespace]:
    assert os.geteuid() == 0, "this test needs root to create a network namespace (CI runs as root)"
    assert shutil.which("ip"), "this test needs iproute2's `ip` (apt-get install iproute2)"
    tag = uuid.uuid4().hex[:6]
    name, host_end, sandbox_end = f"sandchat-{tag}", f"sc{tag}h", f"sc{tag}s"
    in_use = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    while True:
        prefix = f"10.{random.randint(200, 254)}.{random.randint(0, 255)}."
        if prefix not in in_use:
            break
    ip("netns", "add", name)
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", sandbox_end)
        ip("link", "set", sandbox_end, "netns", name)
        ip("addr", "add", f"{prefix}1/30", "dev", host_end)
        ip("link", "set", host_end, "up")
        ip("netns", "exec", name, "ip", "addr", "add", f"{prefix}2/30", "dev", sandbox_end)
        ip("netns", "exec", name, "ip", "link", "set", sandbox_end, "up")
        ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield Namespace(name, f"{prefix}1", f"{prefix}2")
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            ip("link", "del", host_end)  # usually gone with its peer already
        ip("netns", "del", name)


@dataclass
class Isolated:
    """The sandbox in its namespace, its token, the probe, and where the probe knocks."""

    namespace: Namespace
    token: str
    probe: Path
    backends: list[tuple[str, int]]
    targets: list[tuple[str, int]]


@pytest.fixture(scope="module")
def isolated(redis_url: str, postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Isolated]:
    """`sandchat-sandbox` running in a namespace of its own, with the probe as its agent CLI."""
    redis, postgres = make_url(redis_url), make_url(postgres_admin_url)
    backends = [
        (socket.gethostbyname(redis.host or "127.0.0.1"), redis.port or 6379),
        (socket.gethostbyname(postgres.host or "127.0.0.1"), postgres.port or 5432),
    ]
    token = f"sbx-{secrets.token_urlsafe(24)}"
    folder = tmp_path_factory.mktemp("netns")
    with network_namespace() as namespace:
        # The backends where the stack uses them, and the same ports at the host's end of the link.
        targets = backends + [(namespace.host_address, port) for _, port in backends]
        probe = folder / "probe-claude"
        probe.write_text(PROBE.format(python=sys.executable, targets=targets))
        probe.chmod(0o755)
        workspace = folder / "workspace"
        workspace.mkdir()
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "SANDBOX_HOST": namespace.sandbox_address,
            "SANDBOX_PORT": str(SANDBOX_PORT),
            "SANDBOX_TOKEN": token,
            "SANDBOX_WORKSPACE": str(workspace),
            "CLAUDE_BIN": str(probe),
        }
        sandbox = subprocess.Popen(
            ["ip", "netns", "exec", namespace.name, str(BIN / "sandchat-sandbox")],
            env=env,
            cwd=workspace,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            health = f"http://{namespace.sandbox_address}:{SANDBOX_PORT}/health"
            deadline = time.monotonic() + 30
            while True:
                assert sandbox.poll() is None, "sandchat-sandbox exited in its namespace"
                with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=1) as response:
                    if response.status == 200:
                        break
                assert time.monotonic() < deadline, "the sandbox in its namespace never answered /health"
                time.sleep(0.1)
            yield Isolated(namespace, token, probe, backends, targets)
        finally:
            sandbox.terminate()
            sandbox.wait(15)


async def probe_through_the_sandbox(isolated: Isolated) -> dict[str, str]:
    runner = SandboxRunner(f"ws://{isolated.namespace.sandbox_address}:{SANDBOX_PORT}", isolated.token)
    process = await runner.start(turn_args(None))
    try:
        process.stdin.close()
        output = await asyncio.wait_for(process.stdout.read(), 30)
        assert await process.wait() == 0
    finally:
        process.close()
    results: dict[str, str] = json.loads(output)
    return results


async def test_an_agent_in_the_sandboxs_namespace_reaches_neither_redis_nor_postgresql(isolated: Isolated) -> None:
    results = await probe_through_the_sandbox(isolated)
    assert set(results) == {f"{host}:{port}" for host, port in isolated.targets}
    assert [address for address, outcome in results.items() if outcome == "connected"] == []


def test_the_same_probe_on_the_host_reaches_both(isolated: Isolated) -> None:
    output = subprocess.run([str(isolated.probe)], input="", capture_output=True, text=True, check=True).stdout
    results = json.loads(output)
    assert [results[f"{host}:{port}"] for host, port in isolated.backends] == ["connected", "connected"]
