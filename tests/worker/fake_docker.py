"""A fake `docker` (and `sbx`) executable for the docker-sandbox runner: records its argv, then acts like a sandbox.

`install_fake_docker` writes both into a folder that the test puts first on PATH. What they do is
chosen by FAKE_DOCKER_MODE: `sandbox` (default) runs the simulator as the CLI inside the sandbox;
`stopped` fails like a Docker engine that is not running; `no-cli` like a sandbox without the CLI;
`hang` never answers. A sandbox name other than `my-sandbox` fails like a missing sandbox.

The runner passes the docker CLI only an allow-listed environment, so the tests name the fake's own
variables in the runner's pass-through (PASSTHROUGH), as an operator would with AGENT_ENV_PASSTHROUGH.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

PASSTHROUGH = (
    "FAKE_DOCKER_LOG",
    "FAKE_DOCKER_MODE",
    "SIMULATOR_STATE_DIR",
    "SIMULATOR_DELAY_MS",
    "SIMULATOR_TOKENS",
    "SIMULATOR_AUTH",
)

SCRIPT = """#!{python}
import json, os, sys, time
tool = os.path.basename(sys.argv[0])
with open(os.environ["FAKE_DOCKER_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps({{"tool": tool, "argv": sys.argv[1:], "env": dict(os.environ)}}) + "\\n")
args = sys.argv[1:]
mode = os.environ.get("FAKE_DOCKER_MODE", "sandbox")
if mode == "stopped":
    sys.stderr.write("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                     "Is the docker daemon running?\\n")
    sys.exit(1)
if mode == "hang":
    time.sleep(3600)
if tool == "docker":
    assert args[:2] == ["sandbox", "exec"], args
    args = args[1:]
assert args[0] == "exec", args
options, rest = [], args[1:]
while rest[0].startswith("-"):
    takes_value = rest[0] in ("-w", "-e")
    options.append(rest[:2] if takes_value else rest[:1])
    rest = rest[2:] if takes_value else rest[1:]
workdirs = [option[1] for option in options if option[0] == "-w"]
assert len(workdirs) == 1, args
workdir, sandbox, claude_bin, cli_args = workdirs[0], rest[0], rest[1], rest[2:]
if sandbox != "my-sandbox":
    sys.stderr.write(f"Error: sandbox {{sandbox!r}} not found\\n")
    sys.exit(1)
if claude_bin == "mkdir":
    os.execvp("mkdir", ["mkdir", *cli_args])
assert ["-i"] in options, args
if mode == "no-cli" or claude_bin != "claude":
    sys.stderr.write(f'OCI runtime exec failed: exec: "{{claude_bin}}": executable file not found in $PATH\\n')
    sys.exit(127)
if os.path.isdir(workdir):
    os.chdir(workdir)
os.execv(sys.executable, [sys.executable, "-m", "sandchat_worker.simulator", *cli_args])
"""


def install_fake_docker(folder: Path) -> Path:
    """Write the fake `docker` and `sbx` into `folder`; returns the file where they record each call."""
    folder.mkdir(parents=True, exist_ok=True)
    for tool in ("docker", "sbx"):
        script = folder / tool
        script.write_text(SCRIPT.format(python=sys.executable))
        script.chmod(0o755)
    return folder / "docker-calls.jsonl"


def recorded_calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def recorded_argvs(log: Path) -> list[list[str]]:
    return [call["argv"] for call in recorded_calls(log)]


def path_with(folder: Path) -> str:
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
