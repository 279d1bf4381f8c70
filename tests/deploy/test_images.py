"""The Dockerfile: one lock for the image and `make install`, non-root, tini, health checks, a lean venv."""

from __future__ import annotations

import http.server
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy import deploy_files as files

TARGETS = {
    "api": "sandchat-api",
    "gateway": "sandchat-gateway",
    "worker": "sandchat-worker",
    "sandbox": "sandchat-sandbox",
}
LOCK_OPTIONS = {"--require-hashes", "--no-deps"}
MEMBER_OPTIONS = {"--no-deps", "--no-build-isolation"}
NEVER_FROM_ELSEWHERE = ("--index-url", "--extra-index-url", "--find-links", "-i=", "-f=")
DEV_ONLY = ("pytest", "mypy", "ruff", "playwright", "hypothesis", "schemathesis", "testcontainers", "pip-audit")
RUNTIME = ("sqlalchemy", "asyncpg", "aiosqlite", "alembic", "litestar", "uvicorn", "redis", "arq", "websockets")


def dockerfile_run_text() -> str:
    stages = files.dockerfile_stages()
    return "\n".join(run for stage in stages.values() for run in stage.all("RUN"))


def lock_names() -> set[str]:
    text = (files.ROOT / "requirements.lock").read_text()
    return {re.sub(r"[-_.]+", "-", name).lower() for name in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", text, re.M)}


def test_dockerfile_and_makefile_install_the_same_lock_and_the_same_workspace_members() -> None:
    make = files.pip_installs(files.makefile_recipe(r"^\$\(VENV\)/\.installed:"))
    docker = files.pip_installs(dockerfile_run_text())
    assert len(make) == 2, make
    assert len(docker) == 2, docker
    make_lock, make_members = make
    docker_lock, docker_members = docker
    # Step 1, both: everything pinned in requirements.lock, every hash checked, nothing resolved.
    for lock_step in (make_lock, docker_lock):
        assert lock_step.requirement_files == ("requirements.lock",)
        assert lock_step.targets == ()
        assert lock_step.options >= LOCK_OPTIONS
    # Step 2, both: the workspace members on top, from the lock's build backend, no dependencies.
    members = {files.normalise_member(member) for member in files.workspace_members()}
    assert {files.normalise_member(target) for target in make_members.targets} == members
    assert {files.normalise_member(target) for target in docker_members.targets} == members
    for member_step in (make_members, docker_members):
        assert member_step.options >= MEMBER_OPTIONS
        assert member_step.requirement_files == ()
    assert make_members.editable
    assert not docker_members.editable
    # The members' build backend comes from the lock too: --no-build-isolation fetches nothing.
    assert {"hatchling", "editables"} <= lock_names()


def test_the_image_installs_python_packages_from_nowhere_but_the_lock() -> None:
    text = dockerfile_run_text()
    assert not [flag for flag in NEVER_FROM_ELSEWHERE if flag in text]
    assert len(re.findall(r"\bpip install\b", text)) == 2
    assert "uv " not in text
    assert "poetry" not in text
    lock = (files.ROOT / "requirements.lock").read_text()
    assert not re.search(r"^\s*(--index-url|--extra-index-url|--find-links|-i |-f )", lock, re.M)


def test_node_stages_install_exactly_what_the_package_locks_say() -> None:
    stages = files.dockerfile_stages()
    for stage, folder in (("web", "services/web"), ("claude-cli", "services/worker/claude-cli")):
        runs = " ".join(stages[stage].all("RUN"))
        assert "npm ci" in runs
        assert "npm install" not in runs
        copied = " ".join(stages[stage].all("COPY"))
        assert f"{folder}/package-lock.json" in copied
    assert "npm run build" in " ".join(stages["web"].all("RUN"))


def _prune_dry_run() -> list[str]:
    result = subprocess.run(
        [sys.executable, str(files.ROOT / "docker" / "prune_venv.py"), "--dry-run"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def test_the_image_keeps_what_the_services_need_and_drops_the_development_tools() -> None:
    removed = set(_prune_dry_run())
    assert removed <= lock_names(), "only packages from the lock are ever removed"
    assert set(DEV_ONLY) <= removed
    assert not (set(RUNTIME) & removed)
    assert not {name for name in removed if name.startswith("sandchat")}


def test_every_service_module_imports_without_the_removed_packages() -> None:
    """What the image prunes is hidden from a fresh interpreter, which then imports every module."""
    removed = _prune_dry_run()
    script = f"""
import importlib, importlib.abc, importlib.metadata as md, pkgutil, sys
removed = set({removed!r})
canon = lambda name: name.replace("_", "-").replace(".", "-").lower()
hidden = {{top for top, dists in md.packages_distributions().items() if all(canon(d) in removed for d in dists)}}
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"{{name}} is not in the image (pruned)", name=name)
        return None
sys.meta_path.insert(0, Hide())
failures = []
for package in ("sandchat", "sandchat_api", "sandchat_worker", "sandchat_gateway", "sandchat_cli", "sandchat_sandbox",
                "alembic.config"):
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(getattr(root, "__path__", []), package + "."):
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            failures.append(f"{{info.name}}: {{exc}}")
print("\\n".join(failures))
sys.exit(1 if failures else 0)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("target", "command"), sorted(TARGETS.items()))
def test_service_image_runs_its_console_script_as_non_root_under_tini_with_a_healthcheck(
    target: str, command: str
) -> None:
    stages = files.dockerfile_stages()
    assert files.effective(stages, target, "USER") == "sandchat"
    assert files.exec_form(files.effective(stages, target, "ENTRYPOINT") or "") == ["/usr/bin/tini", "--"]
    assert files.exec_form(files.effective(stages, target, "CMD") or "") == [command]
    assert command in files.console_scripts()
    healthcheck = files.effective(stages, target, "HEALTHCHECK") or ""
    assert "CMD" in healthcheck
    compose_test = files.compose()["services"][target]["healthcheck"]["test"][1:]
    assert healthcheck.endswith(str(compose_test).replace("'", '"')), "image and compose check the same thing"
    runtime = " ".join(stages["runtime"].all("RUN"))
    assert "tini" in runtime
    assert "useradd" in runtime
    assert "--uid 10001" in runtime


def test_only_the_sandbox_image_carries_the_pinned_claude_cli() -> None:
    stages = files.dockerfile_stages()
    sandbox = stages["sandbox"]
    assert "--from=claude-cli /claude /usr/local/bin/claude" in sandbox.all("COPY")
    assert files.effective(stages, "sandbox", "WORKDIR") == "/workspace", "the agent works in the workspace volume"
    env = " ".join(sandbox.all("ENV"))
    assert "DISABLE_AUTOUPDATER=1" in env
    assert "SANDBOX_WORKSPACE=/workspace" in env
    cli_runs = " ".join(stages["claude-cli"].all("RUN"))
    assert "claude --version" in cli_runs, "a stub instead of the native binary fails the build"
    # The worker holds the stack's secrets: no agent CLI in its image, and it runs turns in the sandbox.
    for name in ("worker", "api", "gateway", "runtime"):
        assert not [copy for copy in stages[name].all("COPY") if "claude-cli" in copy], name
    assert "AGENT_RUNNER=sandbox" in " ".join(stages["worker"].all("ENV"))


def test_api_image_serves_the_web_ui_built_in_the_node_stage() -> None:
    stages = files.dockerfile_stages()
    api = stages["api"]
    assert "--from=web /src/services/web/dist /app/web" in api.all("COPY")
    assert "WEB_DIST_DIR=/app/web" in api.all("ENV")
    runtime_copies = " ".join(stages["runtime"].all("COPY"))
    assert "alembic.ini" in runtime_copies
    assert "migrations/" in runtime_copies


def test_dockerignore_keeps_what_the_dockerfile_copies_and_drops_host_state() -> None:
    sources = []
    for stage in files.dockerfile_stages().values():
        for args in stage.all("COPY"):
            if args.startswith("--from"):
                continue
            sources.extend(args.split()[:-1])
    assert sources
    for source in sources:
        assert not files.is_ignored(source.rstrip("/")), source
        assert (files.ROOT / source).exists() or source.startswith("services/web/"), source
    for host_state in (
        ".git/HEAD",
        ".venv/bin/python",
        ".env",
        "data/sandchat.db",
        "services/web/node_modules/react/index.js",
        "services/web/dist/index.html",
        "services/worker/claude-cli/node_modules/.bin/claude",
        "shared/src/sandchat/__pycache__/settings.cpython-311.pyc",
        "tests/conftest.py",
    ):
        assert files.is_ignored(host_state), host_state


# --- docker/healthcheck.py, run as the container runs it --------------------------------------


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        body = b'{"status":"ok"}' if self.status == 200 else b'{"status":"degraded","database":"unreachable"}'
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _healthcheck(service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(files.ROOT / "docker" / "healthcheck.py"), service],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=30,
    )


@pytest.mark.parametrize(("service", "variable"), [("api", "API_PORT"), ("gateway", "GATEWAY_PORT")])
def test_healthcheck_passes_on_200_and_fails_with_the_reason_otherwise(
    health_server: http.server.HTTPServer, service: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = str(health_server.server_address[1])
    assert _healthcheck(service, {variable: port}).returncode == 0
    monkeypatch.setattr(_Health, "status", 503)
    degraded = _healthcheck(service, {variable: port})
    assert degraded.returncode == 1
    assert "answered 503" in degraded.stdout
    assert "unreachable" in degraded.stdout


def test_healthcheck_fails_when_nothing_listens(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = str(sock.getsockname()[1])
    result = _healthcheck("api", {"API_PORT": free_port})
    assert result.returncode == 1
    assert result.stdout.startswith(f"unhealthy: http://127.0.0.1:{free_port}/health unreachable")
    assert _healthcheck("worker", {}).returncode == 2
