"""Keeping a service's secrets out of reach of the agents that run as the same user.

An agent runs as the user of the process that starts it (the worker, the sandbox service), and
natively often as the user of every service. Any process may read ``/proc/<pid>/environ`` and
``/proc/<pid>/mem`` of another process of its user, unless that process is non-dumpable: then only
root (CAP_SYS_PTRACE) can. Every service calls :func:`hide_process_memory` at start. An agent it
starts is dumpable again after its exec, which is harmless: it holds nothing of the service.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Final

_PR_SET_DUMPABLE: Final = 4


def hide_process_memory() -> None:
    """Make this process non-dumpable (Linux; elsewhere a no-op)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0)
