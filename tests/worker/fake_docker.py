"""A fake `docker` executable for the docker-sandbox runner: records its argv, then acts like a sandbox.

`install_fake_docker` writes it into a folder that the test puts first on PATH. What it does is
chosen by FAKE_DOCKER_MODE: `sandbox` (default) runs the simulator as the CLI inside the sandbox;
`stopped` fails like a Docker engine that is not running; `no-cli` like a sandbox without the CLI;
`hang` never answers. A sandbox name other than `my-sandbox` fails like a missing sandbox.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SCRIPT = """#!{python}
import json, os, sys, time
with open(os.environ["FAKE_DOCKER_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
mode = os.environ.get("FAKE_DOCKER_MODE", "sandbox")
if mode == "stopped":
    sys.stderr.write("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                     "Is the docker daemon running?\\n")
    sys.exit(1)
if mode == "hang":
    time.sleep(3600)
assert args[:3] == ["sandbox", "exec", "-i"], args
assert args[3] == "-w", args
workdir, sandbox, claude_bin, cli_args = args[4], args[5], args[6], args[7:]
if sandbox != "my-sandbox":
    sys.stderr.write(f"Error: sandbox {{sandbox!r}} not found\\n")
    sys.exit(1)
if mode == "no-cli" or claude_bin != "claude":
    sys.stderr.write(f'OCI runtime exec failed: exec: "{{claude_bin}}": executable file not found in $PATH\\n')
    sys.exit(127)
os.execv(sys.executable, [sys.executable, "-m", "sandchat_worker.simulator", *cli_args])
"""


def install_fake_docker(folder: Path) -> Path:
    """Write the fake `docker` into `folder`; returns the file where it records each argv."""
    folder.mkdir(parents=True, exist_ok=True)
    docker = folder / "docker"
    docker.write_text(SCRIPT.format(python=sys.executable))
    docker.chmod(0o755)
    return folder / "docker-argv.jsonl"


def recorded_argvs(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def path_with(folder: Path) -> str:
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
