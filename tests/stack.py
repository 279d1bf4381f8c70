"""The native stack: migrate, then api + gateway(s) + worker(s) as separate processes.

`make dev` runs it in the foreground (Ctrl-C stops all); the end-to-end tests start the same
stack on free ports, the way compose runs the services. With AGENT_RUNNER=sandbox a
`sandchat-sandbox` starts first, like compose's sandbox service: with a fresh SANDBOX_TOKEN shared
with the workers only, and none of the other services' settings in its environment.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COLOURS = ("36", "35", "33", "32", "34", "31")
PINNED_CLI = ROOT / "services/worker/claude-cli/node_modules/.bin/claude"
# What the sandbox service reads; every other setting (DATABASE_URL, AUTH_TOKEN …) stays out of it.
SANDBOX_SETTINGS = ("SANDBOX_HOST", "SANDBOX_PORT", "SANDBOX_TOKEN", "SANDBOX_WORKSPACE", "CLAUDE_BIN", "LOG_FORMAT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pipe_with_prefix(stream: IO[bytes], prefix: str, sink: IO[str], keep: list[str]) -> None:
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

    def start(self, sink: IO[str], colour: str) -> None:
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        prefix = f"\033[{colour}m{self.name:>10} |\033[0m" if sink.isatty() else f"{self.name:>10} |"
        assert self.process.stdout is not None
        threading.Thread(
            target=_pipe_with_prefix, args=(self.process.stdout, prefix, sink, self.log), daemon=True
        ).start()

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
            self._close_pipe()

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(5)
            self._close_pipe()

    def _close_pipe(self) -> None:
        # The reader thread ends at EOF; closing here keeps ResourceWarnings out of the test run.
        if self.process is not None and self.process.stdout is not None:
            with contextlib.suppress(OSError, ValueError):
                self.process.stdout.close()

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
        from sandchat.settings import Settings  # noqa: PLC0415 - the stack module itself needs no sandchat

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
        migrate = subprocess.run(
            [str(BIN / "alembic"), "upgrade", "head"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migrations failed:\n{migrate.stderr}")
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


def stack_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "COV_"))}
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(overrides)
    return env


@contextlib.contextmanager
def running_stack(workers: int = 1, gateways: int = 1, **env: str) -> Iterator[Stack]:
    api_port = int(env.get("API_PORT", free_port()))
    ports = [free_port() for _ in range(gateways)]
    origins = f"http://127.0.0.1:{api_port},http://localhost:{api_port}"
    defaults = {"API_PORT": str(api_port), "GATEWAY_PORT": str(ports[0]), "ALLOWED_ORIGINS": origins}
    stack = Stack(stack_env(**{**defaults, **env}), api_port, ports)
    try:
        stack.start(workers=workers)
        yield stack
    finally:
        stack.stop()


def _redis_answers(url: str) -> bool:
    from urllib.parse import urlsplit  # noqa: PLC0415

    parts = urlsplit(url)
    with contextlib.suppress(OSError), socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1):
        return True
    return False


def _dev_sandbox(env: dict[str, str], port: int, workspace: str, claude_bin: str) -> None:
    """`make dev AGENT_RUNNER=sandbox`: the sandbox on SANDBOX_PORT, working in ./data/workspace unless
    SANDBOX_WORKSPACE names an existing folder, running the pinned CLI unless `claude` is on PATH."""
    env["AGENT_RUNNER"] = "sandbox"  # also when it came from .env: the stack reads only the environment
    env["SANDBOX_PORT"] = str(port)
    if not os.path.isdir(workspace):
        folder = ROOT / "data" / "workspace"
        folder.mkdir(parents=True, exist_ok=True)
        env["SANDBOX_WORKSPACE"] = str(folder)
        print(f"make dev: the sandbox's agent works in {folder}", file=sys.stderr)
    if claude_bin == "claude" and shutil.which("claude") is None and PINNED_CLI.exists():
        env["CLAUDE_BIN"] = str(PINNED_CLI)


def main() -> None:
    """`make dev`: the stack in the foreground with SQLite by default; Ctrl-C stops everything."""
    parser = argparse.ArgumentParser(prog="make dev")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--gateways", type=int, default=1)
    args = parser.parse_args()

    from sandchat.settings import load_settings  # noqa: PLC0415 - validates .env and env vars first

    settings = load_settings()
    env = stack_env()
    private_redis: subprocess.Popen[bytes] | None = None
    if not _redis_answers(settings.redis_url):
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit(f"make dev: nothing answers at REDIS_URL ({settings.redis_url}) and redis-server is not on PATH")
        port = free_port()
        private_redis = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""], stdout=subprocess.DEVNULL
        )
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        print(f"make dev: started a private redis-server on {env['REDIS_URL']}", file=sys.stderr)
    if settings.agent_runner == "sandbox":
        _dev_sandbox(env, settings.sandbox_port, settings.sandbox_workspace, settings.claude_bin)
    gateway_ports = [settings.gateway_port + index for index in range(args.gateways)]
    stack = Stack(env, settings.api_port, gateway_ports)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        stack.start(workers=args.workers)
        print(f"\nsandchat is up: {stack.api_url}/chat  (Ctrl-C stops all)\n", file=sys.stderr)
        while all(service.running for service in stack.services):
            time.sleep(0.5)
        print("make dev: a service exited; stopping the rest", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nmake dev: stopping", file=sys.stderr)
    except RuntimeError as exc:
        print(f"make dev: {exc}", file=sys.stderr)
    finally:
        stack.stop()
        if private_redis is not None:
            private_redis.terminate()


if __name__ == "__main__":
    main()
