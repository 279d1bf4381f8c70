"""The dev launcher's own helpers (sandchat_dev.stack), which the test stacks use too."""

from __future__ import annotations

import subprocess
import sys

from sandchat_dev.stack import free_port

# A process that takes free ports and keeps them until its standard input closes.
_HOLDER = (
    "import sys\n"
    "from sandchat_dev.stack import free_port\n"
    "print(' '.join(str(free_port()) for _ in range(int(sys.argv[1]))), flush=True)\n"
    "sys.stdin.read()\n"
)


def test_free_port_never_hands_out_a_port_twice() -> None:
    """A stack takes its gateways' ports, then its workers' metrics ports, before any is bound: the
    kernel would hand the same free port out again, and two services of one stack would collide."""
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)


def test_free_port_never_hands_out_a_port_another_running_process_took() -> None:
    """Test processes run side by side (pytest-xdist), each starting stacks: a port one of them took
    and has not bound yet must not be handed to another."""
    # Leaving the block closes the holder's input, so it exits and lets its ports go; then it is waited for.
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, "500"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None
        held = {int(port) for port in holder.stdout.readline().split()}
        mine = {free_port() for _ in range(2000)}
    assert len(held) == 500
    assert mine.isdisjoint(held), sorted(mine & held)
