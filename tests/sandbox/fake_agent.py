"""A fake agent CLI for the sandbox service's tests: a line protocol on stdin, answers on stdout.

It leaves a `started-<pid>` file in its working directory (the sandbox's workspace), so a test can
tell that nothing was started. Commands, one per stdin line:
  echo TEXT   print TEXT
  child       start a child process that sleeps (like a tool), print `pids <own pid> <child pid>`
  escape      the same, but the child leaves the agent's process group (setsid), print its pid
  daemon      start a child that keeps the agent's stdout open, print its pid
  env         print its environment as one JSON object
  exit N      exit with status N
At EOF it prints `eof` and exits 0. It prints its argv as JSON on stderr first.
"""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPT = """#!{python}
import json, os, subprocess, sys
open(f"started-{{os.getpid()}}", "w").close()
sys.stderr.write(json.dumps(sys.argv[1:]) + "\\n")
sys.stderr.flush()
for line in sys.stdin:
    command, _, rest = line.rstrip("\\n").partition(" ")
    if command == "echo":
        print(rest, flush=True)
    elif command == "child":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        print(f"pids {{os.getpid()}} {{child.pid}}", flush=True)
    elif command == "escape":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"], start_new_session=True,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"escaped {{child.pid}}", flush=True)
    elif command == "daemon":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"], stdin=subprocess.DEVNULL)
        print(f"daemon {{child.pid}}", flush=True)
    elif command == "env":
        print(json.dumps(dict(os.environ)), flush=True)
    elif command == "exit":
        sys.exit(int(rest))
print("eof", flush=True)
"""


def install_fake_agent(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    agent = folder / "fake-claude"
    agent.write_text(SCRIPT.format(python=sys.executable))
    agent.chmod(0o755)
    return agent


def started(workspace: Path) -> list[str]:
    return sorted(path.name for path in workspace.glob("started-*"))
