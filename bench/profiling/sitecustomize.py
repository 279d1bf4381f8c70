"""`python -m bench --profile`: profile each service process with pyinstrument while the bench runs.

This directory is put on PYTHONPATH only for profiled runs; Python imports ``sitecustomize`` at
start, so every sandchat service starts a sampling profiler and writes its report on exit.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

_SERVICES = ("sandchat-gateway", "sandchat-worker", "sandchat-api")


def _start() -> None:
    target = os.environ.get("BENCH_PROFILE_DIR")
    name = Path(sys.argv[0]).name if sys.argv else ""
    if not target or name not in _SERVICES:
        return
    from pyinstrument import Profiler  # noqa: PLC0415 - only in profiled runs

    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()

    def write() -> None:
        profiler.stop()
        stem = Path(target) / f"profile-{name}-{os.getpid()}"
        options = {"filter_threshold": 0.002}
        Path(f"{stem}.txt").write_text(profiler.output_text(unicode=True, processor_options=options))
        Path(f"{stem}-flat.txt").write_text(profiler.output_text(unicode=True, flat=True))

    atexit.register(write)


_start()
