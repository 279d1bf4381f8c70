"""The agent as a process: what a turn needs of it, and starting one on this host.

:class:`AgentProcess` is the part of a process that a turn uses: a stdin to write and close, stdout
and stderr to read, its exit, and a signal for its whole process group. The worker gets one from
its runner without knowing where the agent runs: :class:`LocalAgentProcess` here (the local and
simulator runners, and the sandbox service itself), or the sandbox client's remote process.

Starting a local agent: ``asyncio.create_subprocess_exec`` runs ``fork``/``exec`` in the event loop
and waits there until the child has exec'd, 8-20 ms per turn on a busy 2-core machine during which
no other turn's deltas move (docs/performance.md). So ``subprocess.Popen`` runs on a spawning
thread, and the pipes and the exit are then watched by the event loop (a pidfd on Linux).

The agent must not outlive the process that started it. It leads its own session (a kill reaches
everything it started) and gets a parent-death signal (Linux), armed by util-linux's ``setpriv
--pdeathsig KILL`` which then execs the agent: a ``preexec_fn`` would do the same but makes Python
fork instead of vfork, 45 ms instead of 0.3 ms for a worker-sized process (measured), with the GIL
held. The signal fires when the *thread* that forked the child ends, not the process: the spawning
threads therefore belong to a pool that lives as long as the process, never to a pool whose idle
threads come and go.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import errno
import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Final, Protocol

from sandchat.agent_groups import AgentGroups, end_run

# asyncio's own default (as create_subprocess_exec used): past twice this unread, the pipe is paused
# and the agent waits, which is the back-pressure a slow relay needs.
STREAM_LIMIT: Final = 1 << 16

_PR_SET_PDEATHSIG: Final = 1
_LIBC: Final = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
_SETPRIV: Final = shutil.which("setpriv") if sys.platform == "linux" else None

# Never shut down and never idle-retired: the agents' parent-death signal is tied to these threads.
_SPAWNING_THREADS: Final = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="agent-spawn")
# Looking through /proc for what a finished run left behind, off the event loop and off the spawners.
_SWEEPING_THREAD: Final = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-sweep")
# The agents this process runs, so that a successor can end what a crash leaves behind.
GROUPS: Final = AgentGroups()


class AgentStdin(Protocol):
    def write(self, data: bytes) -> None: ...

    def drain(self) -> Coroutine[Any, Any, None]: ...

    def close(self) -> None: ...


class AgentOutput(Protocol):
    def read(self, n: int = -1) -> Coroutine[Any, Any, bytes]: ...


class AgentProcess(Protocol):
    """A running agent, here or in the sandbox; a turn needs nothing else of it."""

    @property
    def stdin(self) -> AgentStdin: ...

    @property
    def stdout(self) -> AgentOutput: ...

    @property
    def stderr(self) -> AgentOutput: ...

    @property
    def returncode(self) -> int | None:
        """The exit status once it has exited (negative: killed by that signal), else None."""
        ...

    @property
    def lost(self) -> bool:
        """True when the agent's fate is unknown because its sandbox connection broke (it is being killed)."""
        ...

    def wait(self) -> Coroutine[Any, Any, int]: ...

    def signal_group(self, signum: int) -> None:
        """Send a signal to the agent and everything it started; a no-op once it is gone."""
        ...

    def close(self) -> None:
        """Release the pipes or the connection (a remote agent still running is killed)."""
        ...


class AgentStartError(Exception):
    """The agent could not be started; the message is one sentence without secrets or host paths."""


class LocalAgentProcess:
    """An agent process on this host (its own session, piped stdin/stdout/stderr)."""

    def __init__(self, popen: subprocess.Popen[bytes], stdin: asyncio.StreamWriter, run_id: str) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.run_id = run_id
        self._stdin = stdin
        self._stdout = asyncio.StreamReader(limit=STREAM_LIMIT)
        self._stderr = asyncio.StreamReader(limit=STREAM_LIMIT)
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._transports: list[asyncio.BaseTransport] = [stdin.transport]

    @property
    def stdin(self) -> asyncio.StreamWriter:
        return self._stdin

    @property
    def stdout(self) -> asyncio.StreamReader:
        return self._stdout

    @property
    def stderr(self) -> asyncio.StreamReader:
        return self._stderr

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode if self._exited.done() else None

    @property
    def lost(self) -> bool:
        return False

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def close(self) -> None:
        for transport in self._transports:
            transport.close()
        if self._exited.done():
            GROUPS.forget(self.pid, self.run_id)
            # The group is dead by now (the turn killed it); a process that left it but kept the
            # run's marker in its environment goes too.
            _SWEEPING_THREAD.submit(end_run, self.run_id)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._popen.stdout is not None
        assert self._popen.stderr is not None
        for reader, pipe in ((self._stdout, self._popen.stdout), (self._stderr, self._popen.stderr)):
            transport, _ = await loop.connect_read_pipe(functools.partial(asyncio.StreamReaderProtocol, reader), pipe)
            self._transports.append(transport)
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # not Linux, or a kernel before 5.3
            threading.Thread(target=self._wait_in_thread, args=(loop,), daemon=True).start()
            return
        loop.add_reader(pidfd, self._on_exit, loop, pidfd)

    def _on_exit(self, loop: asyncio.AbstractEventLoop, pidfd: int) -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        self._set_exit(self._popen.wait())

    def _wait_in_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        code = self._popen.wait()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(self._set_exit, code)

    def _set_exit(self, code: int) -> None:
        if not self._exited.done():
            self._exited.set_result(code)


async def spawn(argv: Sequence[str], env: Mapping[str, str], run_id: str, cwd: str | None = None) -> LocalAgentProcess:
    """Start ``argv`` with exactly ``env``; raises :class:`AgentStartError` when it cannot be started.

    ``env`` must carry ``run_id`` as its run marker (sandchat.agent_env.agent_environment does).
    """
    loop = asyncio.get_running_loop()
    starting = loop.run_in_executor(_SPAWNING_THREADS, _popen, list(argv), dict(env), cwd, run_id)
    try:
        popen = await asyncio.shield(starting)
    except asyncio.CancelledError:
        # Cancelled while the thread was starting it: never leave it running.
        with contextlib.suppress(Exception):
            started = await starting
            _kill_group(started)
            started.wait()
        raise
    except OSError as exc:
        raise _not_started(argv[0], exc.strerror or type(exc).__name__) from None
    try:
        assert popen.stdin is not None
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), popen.stdin
        )
        process = LocalAgentProcess(popen, asyncio.StreamWriter(transport, protocol, None, loop), run_id)
        await process._watch()
    except BaseException:
        _kill_group(popen)  # started but not watched: it must not outlive the turn
        await loop.run_in_executor(None, popen.wait)
        raise
    return process


def _executable(program: str, env: Mapping[str, str], cwd: str | None) -> str:
    """The program's path, found like exec would find it; AgentStartError when there is none to run.

    Checked here because a program missing behind `setpriv` would only show as exit code 127.
    """
    if os.sep in program:
        path = os.path.join(cwd or os.getcwd(), program)
        if not os.path.isfile(path):
            raise _not_started(program, os.strerror(errno.ENOENT))
        if not os.access(path, os.X_OK):
            raise _not_started(program, os.strerror(errno.EACCES))
        return program
    found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise _not_started(program, os.strerror(errno.ENOENT))
    return found


def _not_started(program: str, reason: str) -> AgentStartError:
    return AgentStartError(f"{os.path.basename(program) or 'the agent'} could not be started ({reason})")


def _popen(argv: list[str], env: dict[str, str], cwd: str | None, run_id: str) -> subprocess.Popen[bytes]:
    """Runs on a spawning thread: find the program, start it, record its group."""
    argv = [_executable(argv[0], env, cwd), *argv[1:]]
    if _SETPRIV is not None:
        argv, arm = [_SETPRIV, "--pdeathsig", "KILL", "--", *argv], None
    else:
        arm = _die_with_parent(os.getpid())  # slower (fork, not vfork), same effect
    popen = subprocess.Popen(  # noqa: S603 - argv from the runner, never a shell
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=arm,  # noqa: PLW1509 - only prctl, see _die_with_parent
    )
    GROUPS.record(popen.pid, run_id)
    return popen


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """Runs in the child between fork and exec: SIGKILL it when the spawning thread (so: the process) dies.

    It only calls prctl and getppid, which take no lock another thread could hold at the fork.
    """
    if _LIBC is None:
        return None
    prctl = _LIBC.prctl

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(137)

    return arm


def _kill_group(popen: subprocess.Popen[bytes]) -> None:
    """The agent leads its own session: kill it and whatever it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
