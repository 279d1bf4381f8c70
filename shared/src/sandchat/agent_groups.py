"""Agents left behind by a dead worker (or sandbox service) on this host, and ending them.

Every agent leads its own process group, and dies with its parent (a parent-death signal,
sandchat.agent_process). What the agent started itself, such as a tool command, is not covered by
that signal: when the worker is killed (SIGKILL, out of memory) those are re-parented to init and
run on. So each process that starts agents records them here, in a folder named after its own pid
and start time; a process starting up on the same host, and every live one now and then, ends the
agents recorded by starters that are gone.

A record only says which run to look for. A process is killed only when its environment carries
that run's marker (``SANDCHAT_AGENT_RUN=<run id>``, set by the runner on every agent it starts and
inherited by what the agent starts), so a record forged by an agent names at most its own
processes, and a recycled pid never names a stranger.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
import time
import uuid
from pathlib import Path
from typing import Final

from sandchat.agent_env import RUN_MARKER

log = logging.getLogger(__name__)

PROC: Final = Path("/proc")
# After its last kill, how long a reaping keeps looking while it meets a process mid-exec (an exec is
# over in well under a millisecond, but a loaded host may not run the process for a while); the pause
# between scans, doubling up to the longest; and how long a reaping may go on at all (a marked process
# it cannot kill is seen on every scan).
SETTLE_S: Final = 0.5
RESCAN_PAUSE_S: Final = 0.002
LONGEST_RESCAN_PAUSE_S: Final = 0.05
KILL_WINDOW_S: Final = 5.0
_PF_KTHREAD: Final = 0x00200000  # the kernel-thread bit of /proc/<pid>/stat's flags (field 9)


def default_root() -> Path:
    return Path(tempfile.gettempdir()) / f"sandchat-agents-{os.getuid()}"


def process_start(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None when there is no such process."""
    try:
        stat = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else None


def new_run_id() -> str:
    return uuid.uuid4().hex


class AgentGroups:
    """The record of the agents this process runs, and the reaper of other starters' leftovers."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_root()
        self._own: Path | None = None

    def record(self, pgid: int, run_id: str) -> None:
        folder = self._own_folder()
        if folder is not None:
            with contextlib.suppress(OSError):
                (folder / f"{pgid}.{run_id}").touch()

    def forget(self, pgid: int, run_id: str) -> None:
        if self._own is not None:
            with contextlib.suppress(OSError):
                (self._own / f"{pgid}.{run_id}").unlink()

    def reap_orphans(self) -> int:
        """End the agents of starters that are gone; returns how many processes were killed.

        Several starters may reap at once (workers starting together): a folder another one just
        removed is simply skipped. Never raises: a starter must start even when this cannot run.
        """
        try:
            return self._reap()
        except OSError as exc:
            log.warning("could not look for agents left behind (%s)", type(exc).__name__)
            return 0

    def _reap(self) -> int:
        if not PROC.is_dir() or not self._usable():
            return 0
        runs: set[str] = set()
        folders: list[tuple[Path, list[Path]]] = []
        for folder in _entries(self.root):
            owner, _, started = folder.name.partition(".")
            if not (owner.isdigit() and started.isdigit()) or process_start(int(owner)) == int(started):
                continue  # a live starter (perhaps this one) ends its own agents
            records = _entries(folder)
            folders.append((folder, records))
            runs |= {record.name.partition(".")[2] for record in records}
        killed = _kill_marked(runs) if runs else 0
        for folder, records in folders:
            for record in records:
                record.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                folder.rmdir()
        if killed:
            log.warning("ended %d agent processes left behind by a worker that is gone", killed)
        return killed

    def _usable(self) -> bool:
        """The folder exists, is ours and is private (never follow one another user planted)."""
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            status = self.root.lstat()
        except OSError:
            return False
        return self.root.is_dir() and not self.root.is_symlink() and status.st_uid == os.getuid()

    def _own_folder(self) -> Path | None:
        if self._own is None and self._usable():
            pid = os.getpid()
            own = self.root / f"{pid}.{process_start(pid) or 0}"
            with contextlib.suppress(OSError):
                own.mkdir(mode=0o700, exist_ok=True)
                self._own = own
        return self._own


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:  # removed meanwhile by another reaper
        return []


def end_run(run_id: str) -> int:
    """Kill what is left of a finished run outside its process group (``setsid``, a daemon that kept
    its environment); returns how many processes that was."""
    return _kill_marked({run_id}) if PROC.is_dir() else 0


def _kill_marked(runs: set[str]) -> int:
    """Kill every process carrying one of the runs' markers, scanning again until a scan finds none.

    One scan is not enough: a marked process may fork between being read and being killed (its child
    can take a pid the scan has passed), and a child inside ``execve`` reads as no environment at all
    until the new program's is set up. So the scan repeats while it kills, and while it meets a process
    mid-exec, for up to SETTLE_S after its last kill.
    """
    markers = {f"{RUN_MARKER}={run}".encode() for run in runs}
    killed: set[int] = set()
    started = time.monotonic()
    settled_at = started + SETTLE_S
    pause = RESCAN_PAUSE_S
    while True:
        marked, execing = _scan(markers, skip=killed)
        for pid in marked:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        now = time.monotonic()
        if marked:  # what it forked before dying may show up on the next scan
            settled_at, pause = now + SETTLE_S, RESCAN_PAUSE_S
        elif not execing or now >= settled_at:
            # A process mid-exec may be anyone's: a busy host's own execs make a reaping look again for
            # SETTLE_S at most, at growing intervals.
            return len(killed)
        if now - started >= KILL_WINDOW_S:
            return len(killed)
        time.sleep(pause)
        pause = min(pause * 2, LONGEST_RESCAN_PAUSE_S)


def _scan(markers: set[bytes], skip: set[int]) -> tuple[list[int], bool]:
    """The processes carrying a marker (but those in ``skip``), and whether one was caught mid-exec."""
    marked: list[int] = []
    execing = False
    own = os.getpid()
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or (pid := int(entry.name)) == own or pid in skip:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if environ:
            if not markers.isdisjoint(environ.split(b"\0")):
                marked.append(pid)
        elif not execing:
            execing = _in_exec(entry)
    return marked, execing


def _in_exec(entry: Path) -> bool:
    """A process with no environment is inside ``execve`` when it also has no command line yet, and is
    neither a kernel thread (which never has either) nor exiting."""
    try:
        stat = (entry / "stat").read_bytes()
        command_line = (entry / "cmdline").read_bytes()
    except OSError:
        return False
    fields = stat[stat.rfind(b")") + 2 :].split()
    return not command_line and len(fields) > 6 and fields[0] not in (b"Z", b"X") and not int(fields[6]) & _PF_KTHREAD
