"""Agents die with what started them, leftovers are ended by the next starter, and a service hides its
environment from the agents that run as its user. Real processes, killed for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandchat.agent_env import RUN_MARKER
from sandchat.agent_groups import AgentGroups, end_run, new_run_id

# An agent that starts a tool (a child that sleeps) and reports both pids once the tool runs. Not
# sooner: Popen returns while the child is still inside execve, where /proc/<pid>/environ reads
# empty (the new environment is set up last), so a reaper looking then finds no run marker.
AGENT = (
    "import os, subprocess, sys, time;"
    "tool = subprocess.Popen([sys.executable, '-c', 'print(flush=True); import time; time.sleep(3600)'],"
    " stdout=subprocess.PIPE);"
    "tool.stdout.readline();"
    "print(os.getpid(), tool.pid, flush=True); time.sleep(3600)"
)
# A worker, as far as agents are concerned: it starts one the way the runners do, then waits.
STARTER = textwrap.dedent(
    f"""
    import asyncio, os, sys
    from sandchat.agent_env import agent_environment
    from sandchat.agent_groups import new_run_id
    from sandchat.agent_process import spawn

    async def main():
        run_id = new_run_id()
        env = agent_environment(os.environ, run_marker=run_id)
        process = await spawn([sys.executable, "-c", {AGENT!r}], env, run_id)
        print((await process.stdout.readline()).decode().strip(), flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone before the open, or between it and the read
        return False


def wait_for(condition: object, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout}s"
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def killed_starter(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A starter that ran an agent (with a tool), then was SIGKILLed; the agent's and the tool's pids."""
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        start_new_session=True,
    )
    assert starter.stdout is not None
    agent, tool = map(int, starter.stdout.readline().split())
    starter.kill()
    starter.wait()
    starter.stdout.close()
    yield agent, tool
    for pid in (agent, tool):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_an_agent_dies_with_the_process_that_started_it(killed_starter: tuple[int, int]) -> None:
    agent, _ = killed_starter
    wait_for(lambda: not alive(agent), 5, "the agent after its starter was killed")


def test_what_the_agent_started_is_ended_by_the_next_starter_on_the_host(
    killed_starter: tuple[int, int], tmp_path: Path
) -> None:
    _, tool = killed_starter
    assert alive(tool), "a tool outlives the parent-death signal of the agent"
    killed = AgentGroups(tmp_path / f"sandchat-agents-{os.getuid()}").reap_orphans()
    assert killed >= 1
    wait_for(lambda: not alive(tool), 5, "the tool after the reaping")


def test_a_forged_record_ends_nothing_that_does_not_carry_its_marker(tmp_path: Path) -> None:
    root = tmp_path / "records"
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"], start_new_session=True)
    try:
        dead_owner = root / "999999999.1"
        dead_owner.mkdir(parents=True, mode=0o700)
        root.chmod(0o700)
        (dead_owner / f"{bystander.pid}.{uuid.uuid4().hex}").touch()
        assert AgentGroups(root).reap_orphans() == 0
        assert bystander.poll() is None
        assert not dead_owner.exists(), "the dead owner's records are cleared"
    finally:
        bystander.kill()
        bystander.wait()


NON_DUMPABLE = textwrap.dedent(
    """
    import os, subprocess, sys
    from sandchat.process_memory import hide_process_memory
    if sys.argv[1] == "hidden":
        hide_process_memory()
    reader = subprocess.run(["cat", f"/proc/{os.getpid()}/environ"], capture_output=True)
    print("read" if b"SERVICE_SECRET=tok-abc" in reader.stdout else reader.stderr.decode().strip())
    """
)


def running_with_marker(run_id: str) -> list[int]:
    """The live (not zombie) processes whose environment carries the run's marker."""
    marker = f"{RUN_MARKER}={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and alive(int(entry.name)):
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue  # gone meanwhile
    return found


def test_a_run_that_keeps_starting_processes_is_ended_whole() -> None:
    """A tool that keeps forking (here a shell starting `sleep`s without end) always has a child between
    fork and exec, or one forked after the scan passed its pid: one look at /proc missed one in about
    3 reapings out of 10. Ten runs, each ended once; nothing of any of them may run on."""
    for _ in range(10):
        run_id = new_run_id()
        shell = subprocess.Popen(
            ["bash", "-c", "while :; do sleep 3600 & done"],
            env={**os.environ, RUN_MARKER: run_id},
            start_new_session=True,
        )
        try:
            wait_for(lambda: len(running_with_marker(run_id)) > 3, 10, "the shell's first sleeps")  # noqa: B023
            assert end_run(run_id) > 3
            shell.wait(timeout=10)
            # Killed processes may still wait for a CPU to die on; none may carry on for good.
            wait_for(lambda: not running_with_marker(run_id), 10, "every process of the run ended")  # noqa: B023
        finally:
            for pid in running_with_marker(run_id):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(("mode", "expected"), [("hidden", "Permission denied"), ("plain", "read")])
def test_an_agent_running_as_the_services_user_cannot_read_its_environment_once_hidden(
    mode: str, expected: str
) -> None:
    """As a non-root user (root may read anything): the service's /proc/<pid>/environ is closed to its agents."""
    result = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", NON_DUMPABLE, mode],
        env={**os.environ, "SERVICE_SECRET": "tok-abc"},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(expected)


REAPER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from sandchat.agent_groups import AgentGroups
    print("ready", flush=True)
    sys.stdin.readline()  # all together: let go once all are ready
    AgentGroups(Path(sys.argv[1])).reap_orphans()
    """
)


def test_starters_reaping_at_the_same_time_never_trip_over_each_other(tmp_path: Path) -> None:
    """Workers that start together all reap; folders vanish under their feet and none may fail."""
    root = tmp_path / "records"
    root.mkdir(mode=0o700)
    for owner in range(500):
        folder = root / f"{999_000_000 + owner}.1"
        folder.mkdir()
        for _ in range(3):
            (folder / f"{owner}.{uuid.uuid4().hex}").touch()
    reapers = [
        subprocess.Popen(
            [sys.executable, "-c", REAPER, str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for reaper in reapers:  # all started and waiting, then all let go at once
        assert reaper.stdout is not None
        assert reaper.stdout.readline() == "ready\n"
    for reaper in reapers:
        assert reaper.stdin is not None
        reaper.stdin.write("go\n")
        reaper.stdin.flush()
    errors = [reaper.communicate(timeout=60)[1] for reaper in reapers]
    assert [reaper.returncode for reaper in reapers] == [0, 0, 0, 0], errors
    assert list(root.iterdir()) == []
