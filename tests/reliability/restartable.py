"""Private Redis and PostgreSQL servers that a test may stop and start again on the same port.

The machine's shared Redis and PostgreSQL are never touched: these run in a temporary directory,
on a free port, and are stopped by the fixture that started them. When they cannot be started the
test fails with the reason; it never skips.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

from sandchat_dev.stack import free_port

from tests.backends import BackendUnavailableError, wait_for_port


class _Restartable(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


Restartable = TypeVar("Restartable", bound=_Restartable)


@contextmanager
def _running(server_in: Callable[[Path], Restartable], prefix: str) -> Iterator[Restartable]:
    """A server started in a temporary directory of its own, stopped (unless the test left it
    stopped) and its directory removed at the end."""
    with tempfile.TemporaryDirectory(prefix=prefix) as workdir:
        server = server_in(Path(workdir))
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(BackendUnavailableError):  # pg_ctl refuses to stop a server the test left stopped
                server.stop()


class RestartableRedis:
    """A redis-server with its append-only file, like compose runs it: a restart keeps the data."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise BackendUnavailableError("restart tests need redis-server on PATH (apt-get install redis-server)")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def restartable_redis() -> AbstractContextManager[RestartableRedis]:
    return _running(RestartableRedis, "sandchat-redis-restart-")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    binary = found[-1] if found else shutil.which(name)
    if binary is None:
        raise BackendUnavailableError(f"restart tests need PostgreSQL's {name} (apt-get install postgresql)")
    return binary


def _as_postgres(*command: str) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` OS user then."""
    if os.geteuid() != 0:
        return list(command)
    if shutil.which("runuser") is None:
        raise BackendUnavailableError("running as root, PostgreSQL needs `runuser` to start as the postgres user")
    return ["runuser", "-u", "postgres", "--", *command]


class RestartablePostgres:
    """A private PostgreSQL cluster (initdb + pg_ctl) in a temporary directory, trust auth, on a free port."""

    def __init__(self, workdir: Path) -> None:
        self.datadir = workdir / "data"
        self.logfile = workdir / "postgres.log"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(workdir, "postgres", "postgres")
        result = subprocess.run(
            _as_postgres(_pg_bin("initdb"), "-D", str(self.datadir), "-U", "postgres", "-A", "trust", "--no-sync"),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BackendUnavailableError(f"initdb failed: {result.stderr.strip()}")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        result = subprocess.run(
            _as_postgres(_pg_bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile), *args),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BackendUnavailableError(f"pg_ctl {args[0]} failed: {result.stderr.strip()} {result.stdout.strip()}")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
        self._pg_ctl("start", "-w", "-o", options)
        wait_for_port(self.port)

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "fast", "-w")


def restartable_postgres() -> AbstractContextManager[RestartablePostgres]:
    return _running(RestartablePostgres, "sandchat-pg-restart-")
