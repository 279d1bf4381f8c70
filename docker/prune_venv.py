"""Remove from this venv every distribution the sandchat services do not need at run time.

The image installs exactly what `make install` installs (all of requirements.lock, then the
workspace members), so there is one source of truth. The lock also carries the development tools
(pytest, mypy, playwright …); this step keeps only the run-time closure of the workspace members,
read from the installed metadata (markers and extras evaluated), plus pip itself.

    python docker/prune_venv.py            # uninstall the rest
    python docker/prune_venv.py --dry-run  # print what would go, one name a line
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

WORKSPACE_MEMBERS = (
    "sandchat",
    "sandchat-api",
    "sandchat-worker",
    "sandchat-gateway",
    "sandchat-cli",
    "sandchat-sandbox",
    "sandchat-dev",
)
ALWAYS_KEPT = frozenset({"pip", "setuptools", "wheel"})


def installed() -> dict[str, metadata.Distribution]:
    return {canonicalize_name(dist.metadata["Name"]): dist for dist in metadata.distributions()}


def runtime_closure(roots: Iterable[str], dists: dict[str, metadata.Distribution]) -> set[str]:
    """Canonical names of the roots and everything they require, transitively."""
    seen: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [(canonicalize_name(root), frozenset()) for root in roots]
    while todo:
        name, extras = todo.pop()
        done = seen.get(name)
        if done is not None and extras <= done:
            continue
        seen[name] = (done or set()) | extras
        dist = dists.get(name)
        if dist is None:
            raise SystemExit(f"prune_venv: {name} is required but not installed; is requirements.lock complete?")
        for line in dist.requires or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in sorted(extras)] or [{"extra": ""}]
            if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
                todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return set(seen)


def removable(dists: dict[str, metadata.Distribution]) -> list[str]:
    keep = runtime_closure(WORKSPACE_MEMBERS, dists) | ALWAYS_KEPT
    return sorted(set(dists) - keep)


def main(argv: list[str]) -> int:
    names = removable(installed())
    if "--dry-run" in argv:
        print("\n".join(names))
        return 0
    if names:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *names], check=True)  # noqa: S603
    print(f"prune_venv: removed {len(names)} development-only distributions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
