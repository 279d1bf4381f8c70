"""A small mutation run over the turn code: each mutant is a targeted change to the turn store, the
reaper or the gateway's fan-out; the tests that cover that code must fail with it applied.

    .venv/bin/python -m tests.mutation_run          # every mutant, one pytest run each
    .venv/bin/python -m tests.mutation_run reaper   # those whose name contains "reaper"

The working tree is changed for the length of each run and restored after (also on Ctrl-C); run it
on a clean checkout. The result of the last run is in docs/testing.md.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from sandchat_dev.stack import BIN, ROOT


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    original: str
    mutated: str
    tests: tuple[str, ...]


TURNS = "shared/src/sandchat/turns"
MUTANTS = (
    Mutant(
        "reaper: a dead worker's running turn is left alone",
        f"{TURNS}/reaper.py",
        'if state in ("running", "waiting"):\n        return INTERRUPTED',
        'if state in ("running", "waiting"):\n        return None',
        ("tests/turns/test_routing_and_reaper.py",),
    ),
    Mutant(
        "reaper: a turn still being stored is taken for lost",
        f"{TURNS}/reaper.py",
        "handed_over = fields.get(QUEUED_FIELD) is not None",
        "handed_over = True",
        ("tests/turns/test_routing_and_reaper.py",),
    ),
    Mutant(
        "store: replay ignores afterSeq",
        f"{TURNS}/store.py",
        'min=f"(0-{after_seq}"',
        'min="-"',
        ("tests/gateway/test_requests.py", "tests/services/test_chat_in_process.py"),
    ),
    Mutant(
        "fan-out: a follower applies a repeated seq",
        "services/gateway/src/sandchat_gateway/connection.py",
        "if head.seq <= self.last_seq:",
        "if head.seq < self.last_seq:",
        ("tests/gateway/test_requests.py", "tests/services/test_chat_in_process.py"),
    ),
)


def run(mutant: Mutant) -> bool:
    """True when the tests killed the mutant (failed with it applied)."""
    path = ROOT / mutant.path
    source = path.read_text()
    if source.count(mutant.original) != 1:
        raise SystemExit(f"{mutant.name}: the original text is not in {mutant.path} exactly once")
    path.write_text(source.replace(mutant.original, mutant.mutated))
    try:
        result = subprocess.run(
            [str(BIN / "pytest"), "-x", "-q", "-n", "2", "-p", "no:cacheprovider", *mutant.tests],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        path.write_text(source)
    return result.returncode != 0


def main() -> None:
    chosen = [mutant for mutant in MUTANTS if all(word in mutant.name for word in sys.argv[1:])]
    survivors = []
    for mutant in chosen:
        killed = run(mutant)
        print(f"{'killed  ' if killed else 'SURVIVED'} {mutant.name}", flush=True)
        if not killed:
            survivors.append(mutant.name)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} mutants killed")
    sys.exit(1 if survivors else 0)


if __name__ == "__main__":
    main()
