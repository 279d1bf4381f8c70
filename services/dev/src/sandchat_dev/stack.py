"""The native stack: migrate, then api + gateway(s) + worker(s) as separate processes.

`sandchat-dev` (`make dev`) runs it in the foreground; the end-to-end tests start the same stack on
free ports, the way compose runs the services. With AGENT_RUNNER=sandbox a `sandchat-sandbox`
starts first, like compose's sandbox service: with a fresh SANDBOX_TOKEN shared with the workers
only, and none of the other services' settings in its environment.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from alembic import command
from alembic.config import Config
from sandchat.settings import Settings

# The checkout: the launcher runs from an editable install (services/dev/src/sandchat_dev/).
ROOT = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent
COLOURS = ("36", "35", "33", "32", "34", "31")
PINNED_CLI = ROOT / "services/worker/claude-cli/node_modules/.bin/claude"
# What the sandbox service reads; every other setting (DATABASE_URL, AUTH_TOKEN …) stays out of it.
SANDBOX_SETTINGS = ("SANDBOX_HOST", "SANDBOX_PORT", "SANDBOX_TOKEN", "SANDBOX_WORKSPACE", "CLAUDE_BIN", "LOG_FORMAT")


def _pipe_with_prefix(stream: IO[bytes], prefix: str, sink: IO[str], keep: list[str]) -> None:
    """Copy a service's output to `sink` line by line; the reader owns the pipe and closes it at EOF."""
    with contextlib.suppress(OSError, ValueError), stream:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            keep.append(line)
            del keep[:-2000]
            sink.write(f"{prefix} {line}\n")
            sink.flush()


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def start(self, sink: IO[str], colour: str) -> None:
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        prefix = f"\033[{colour}m{self.name:>10} |\033[0m" if sink.isatty() else f"{self.name:>10} |"
        assert self.process.stdout is not None
        self.reader = threading.Thread(
            target=_pipe_with_prefix, args=(self.process.stdout, prefix, sink, self.log), daemon=True
        )
        self.reader.start()

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def stop(self, timeout: float = 25) -> None:
        self.signal(signal.SIGTERM)
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(5)
            self._join_reader()

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(5)
            self._join_reader()

    def _join_reader(self) -> None:
        # The reader closes the pipe at EOF: wait for it, so the last lines are in `log` and no read
        # races a close from this thread. A pipe a stray grandchild still holds open stays with its
        # daemon reader (closing a buffered reader mid-read would block on its lock).
        if self.reader is not None:
            self.reader.join(timeout=5)

    def lines_with(self, text: str, at_least: int = 1, timeout: float = 5) -> list[str]:
        """Log lines containing `text`, waiting up to `timeout` for `at_least` of them (logs come through a pipe)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.log if text in line]
            if len(lines) >= at_least or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Stack:
    env: dict[str, str]
    api_port: int
    gateway_ports: list[int]
    services: list[Service] = field(default_factory=list)
    sink: IO[str] = sys.stderr

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def gateway_url(self, index: int = 0) -> str:
        return f"ws://127.0.0.1:{self.gateway_ports[index]}/chat"

    def service(self, name: str) -> Service:
        return next(service for service in self.services if service.name == name)

    def workers(self) -> list[Service]:
        return [service for service in self.services if service.name.startswith("worker")]

    def metrics_urls(self) -> dict[str, str]:
        """Each service's /metrics, by service name (what Prometheus scrapes)."""
        urls = {"api": f"{self.api_url}/metrics"}
        for index, port in enumerate(self.gateway_ports):
            urls[f"gateway{index + 1}" if len(self.gateway_ports) > 1 else "gateway"] = (
                f"http://127.0.0.1:{port}/metrics"
            )
        for worker in self.workers():
            urls[worker.name] = f"http://127.0.0.1:{worker.env['WORKER_METRICS_PORT']}/metrics"
        return urls

    @property
    def sandbox_port(self) -> int | None:
        return int(self.env["SANDBOX_PORT"]) if self.env.get("AGENT_RUNNER") == "sandbox" else None

    def _add_sandbox(self) -> dict[str, str]:
        """The sandbox service, started and healthy; returns what the workers need to reach it."""
        port = self.env.setdefault("SANDBOX_PORT", str(free_port()))
        token = self.env.pop("SANDBOX_TOKEN", None) or secrets.token_urlsafe(32)
        settings = {name.upper() for name in Settings.model_fields}
        env = {
            name: value
            for name, value in self.env.items()
            if name not in settings or name in SANDBOX_SETTINGS or name == "AGENT_ENV_PASSTHROUGH"
        }
        sandbox = Service("sandbox", [str(BIN / "sandchat-sandbox")], {**env, "SANDBOX_TOKEN": token})
        self.services.append(sandbox)
        sandbox.start(self.sink, COLOURS[5])
        self._wait_for(f"http://127.0.0.1:{port}/health", time.monotonic() + 30)
        return {"SANDBOX_URL": f"ws://127.0.0.1:{port}", "SANDBOX_TOKEN": token}

    def add(self, name: str, command: str, **env: str) -> Service:
        service = Service(name, [str(BIN / command)], {**self.env, **env})
        self.services.append(service)
        return service

    def start(self, workers: int = 1, timeout: float = 60) -> None:
        migrate(self.env.get("DATABASE_URL"))
        to_sandbox = self._add_sandbox() if self.env.get("AGENT_RUNNER") == "sandbox" else {}
        self.add("api", "sandchat-api")
        for index, port in enumerate(self.gateway_ports):
            self.add(
                f"gateway{index + 1}" if len(self.gateway_ports) > 1 else "gateway",
                "sandchat-gateway",
                GATEWAY_PORT=str(port),
            )
        for index in range(workers):
            self.add(
                f"worker{index + 1}" if workers > 1 else "worker",
                "sandchat-worker",
                WORKER_METRICS_PORT=str(free_port()),  # several workers on one host: one port each
                **to_sandbox,
            )
        for index, service in enumerate(self.services):
            if service.process is None:
                service.start(self.sink, COLOURS[index % len(COLOURS)])
        self.wait_healthy(timeout)

    def start_service(self, service: Service, index: int = 0) -> None:
        service.start(self.sink, COLOURS[index % len(COLOURS)])

    def wait_healthy(self, timeout: float = 60) -> None:
        urls = [f"{self.api_url}/health"] + [f"http://127.0.0.1:{port}/health" for port in self.gateway_ports]
        deadline = time.monotonic() + timeout
        for url in urls:
            self._wait_for(url, deadline)
        # Workers are ready when arq's health sentinel is written; wait for each to log its start.
        while not all(any("worker " in line and "runner" in line for line in w.log) for w in self.workers()):
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start:\n" + self.logs())
            time.sleep(0.05)

    def _wait_for(self, url: str, deadline: float) -> None:
        while True:
            dead = [service.name for service in self.services if not service.running]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited during start:\n" + self.logs())
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not healthy in time:\n" + self.logs())
            time.sleep(0.1)

    def logs(self) -> str:
        return "\n".join(f"--- {s.name}\n" + "\n".join(s.log[-60:]) for s in self.services)

    def stop(self) -> None:
        for service in reversed(self.services):
            service.signal(signal.SIGTERM)
        for service in reversed(self.services):
            service.stop()


def alembic_config(database_url: str | None = None) -> Config:
    """The project's migrations, for ``database_url`` (else DATABASE_URL, as the services read it)."""
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str | None = None, revision: str = "head") -> None:
    """Bring the database to ``revision``, in this process (no interpreter to start and import again).

    In a thread of its own: the migrations run their own event loop, and the caller may be inside one.
    """
    failures: list[Exception] = []

    def upgrade() -> None:
        try:
            command.upgrade(alembic_config(database_url), revision)
        except Exception as exc:
            failures.append(exc)

    thread = threading.Thread(target=upgrade, name="migrate")
    thread.start()
    thread.join()
    if failures:
        raise RuntimeError(f"migrations failed: {failures[0]}") from failures[0]


# Ports this process has handed out. A port is not bound until its service starts, so without this the
# next call could get the same one (a stack's gateway and its worker's metrics once did).
_handed_out: set[int] = set()


@functools.cache
def _claims() -> int:
    """The file whose byte N a process locks to claim port N (test runs start stacks in several processes).

    A POSIX record lock belongs to its process and ends with it, however it ends; the file stays open
    for the process's life, since closing any descriptor of it would drop the process's locks.
    """
    path = Path(tempfile.gettempdir()) / f"sandchat-ports-{os.getuid()}.lock"
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def _claim(port: int) -> bool:
    """Whether ``port`` is now this process's: no other live process claimed it."""
    try:
        fcntl.lockf(_claims(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
    except OSError:  # EAGAIN or EACCES: another process holds it
        return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, and never one handed out before by this
    process or by another that is still running (the kernel hands a free port out again until it is bound)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out and _claim(port):
            _handed_out.add(port)
            return port


def stack_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "COV_"))}
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(overrides)
    return env
