"""docker-compose.yml: the service graph, scaling, exposure and settings, proven without a Docker engine."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sandchat.settings import Settings, build_settings

from tests.deploy import deploy_files as files

APP_SERVICES = ("api", "gateway", "worker")
SCALABLE = ("api", "gateway", "worker")
LONG_RUNNING = ("postgres", "redis", "api", "gateway", "worker", "sandbox", "edge")
# The services that read the stack's settings (database, Redis, tokens …); the sandbox reads only its own.
SETTINGS_SERVICES = ("migrate", *APP_SERVICES)
SANDCHAT_IMAGES = (*SETTINGS_SERVICES, "sandbox", "sandbox-token")
# What the sandbox service may be told; every other setting is a key to the stack.
SANDBOX_SETTINGS = {
    "SANDBOX_HOST",
    "SANDBOX_PORT",
    "SANDBOX_TOKEN",
    "SANDBOX_TOKEN_FILE",
    "SANDBOX_WORKSPACE",
    "CLAUDE_BIN",
    "AGENT_ENV_PASSTHROUGH",
    "LOG_FORMAT",
    "AGENT_SHARED_LOGIN",
}
STACK_SECRETS = {"DATABASE_URL", "REDIS_URL", "AUTH_TOKEN", "POSTGRES_PASSWORD", "REDIS_NAMESPACE", "SECRET_KEY"}

# Variables in compose or .env.example that are not fields of Settings, each with where it is read.
DOCUMENTED_EXTRAS = {
    "SIMULATOR_TOKENS": "the simulator (sandchat-fake-claude)",
    "SIMULATOR_DELAY_MS": "the simulator (sandchat-fake-claude)",
    "LOG_LEVEL": "sandchat.logs.configure_logging",
    "CLAUDE_CODE_OAUTH_TOKEN": "the Claude Code CLI in the sandbox",
    "POSTGRES_PASSWORD": "compose: the bundled PostgreSQL",
    "SANDCHAT_BIND": "compose: the host address of the published ports",
    "SANDCHAT_TAG": "compose: the tag of the images it builds",
}
# The postgres image's own variables (set in compose, never read by sandchat).
POSTGRES_IMAGE_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return dict(files.compose()["services"])


def setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_compose_file_has_the_whole_stack(services: dict[str, Any]) -> None:
    assert set(services) >= {"postgres", "redis", "migrate", "api", "gateway", "worker", "sandbox", "sandbox-token"}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_waits_for_healthy_postgres_and_redis_and_completed_migrate(
    services: dict[str, Any], name: str
) -> None:
    backends = {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    # The worker also waits for the sandbox it runs every turn in.
    extra = {"sandbox": {"condition": "service_healthy"}} if name == "worker" else {}
    assert services[name]["depends_on"] == {**backends, **extra}


def networks_of(service: dict[str, Any]) -> set[str]:
    """The networks a service joins; one that names none joins compose's `default` network."""
    networks = service.get("networks")
    if service.get("network_mode") == "none":
        return set()
    return set(networks) if networks else {"default"}


def test_the_sandbox_shares_no_network_with_the_database_redis_api_or_gateway(services: dict[str, Any]) -> None:
    sandbox = networks_of(services["sandbox"])
    assert sandbox == {"agent"}
    for name in ("postgres", "redis", "migrate", "api", "gateway", "edge"):
        assert not sandbox & networks_of(services[name]), f"the sandbox can reach {name}"
    # Only the worker meets it, and reaches the backends on a network that has no way out.
    assert [name for name, service in services.items() if sandbox & networks_of(service)] == ["worker", "sandbox"]
    networks = files.compose()["networks"]
    assert networks["backend"] == {"internal": True}
    assert not (networks["agent"] or {}).get("internal"), "the agent needs the internet (the Claude API)"
    assert "default" not in set().union(*(networks_of(service) for service in services.values()))


def test_the_sandbox_carries_no_service_secret(services: dict[str, Any]) -> None:
    sandbox = services["sandbox"]
    assert set(sandbox["environment"]) - SANDBOX_SETTINGS <= set(DOCUMENTED_EXTRAS)
    assert not (set(sandbox["environment"]) & STACK_SECRETS)
    assert "<<" not in sandbox["environment"]
    # Whatever the operator's shell or .env holds, nothing of it lands in the sandbox but its own settings.
    hostile = {name: f"secret-{name}" for name in STACK_SECRETS | setting_names()}
    resolved = files.service_environment(sandbox, hostile)
    leaked = {name for name, value in resolved.items() if value and "secret-" in value}
    assert leaked <= SANDBOX_SETTINGS - {"CLAUDE_BIN", "SANDBOX_HOST", "SANDBOX_TOKEN_FILE", "SANDBOX_WORKSPACE"}


def test_the_worker_holds_no_claude_login_and_the_sandbox_no_usable_token(services: dict[str, Any]) -> None:
    worker, sandbox, token = services["worker"], services["sandbox"], services["sandbox-token"]
    assert worker["volumes"] == ["worker-secret:/run/sandchat/worker:ro"]
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in worker["environment"]
    assert "claude-home:/home/sandchat" in sandbox["volumes"]
    assert "sandbox-secret:/run/sandchat/sandbox:ro" in sandbox["volumes"]
    assert not [volume for volume in sandbox["volumes"] if volume.startswith("worker-secret")]
    assert token["volumes"] == ["worker-secret:/run/sandchat/worker", "sandbox-secret:/run/sandchat/sandbox"]
    assert token["network_mode"] == "none"
    assert sandbox["depends_on"] == {"sandbox-token": {"condition": "service_completed_successfully"}}


def test_the_generated_token_pair_lets_the_worker_in_and_nobody_holding_the_sandboxs_half(
    services: dict[str, Any], tmp_path: Path
) -> None:
    """What sandbox-token writes, read through the paths compose gives each side."""
    from sandchat_sandbox.tokens import token_matches, write_token_pair  # noqa: PLC0415

    command = services["sandbox-token"]["command"]
    worker_path = command[command.index("--worker-file") + 1]
    sandbox_path = command[command.index("--sandbox-file") + 1]
    assert files.service_environment(services["worker"], {})["SANDBOX_TOKEN_FILE"] == worker_path
    assert files.service_environment(services["sandbox"], {})["SANDBOX_TOKEN_FILE"] == sandbox_path
    worker_file, sandbox_file = tmp_path / "worker" / "token", tmp_path / "sandbox" / "token"
    assert write_token_pair(worker_file, sandbox_file)
    assert not write_token_pair(worker_file, sandbox_file), "never regenerated while the files exist"
    worker_token = build_settings(sandbox_token_file=str(worker_file)).sandbox_token_value()
    sandbox_token = build_settings(sandbox_token_file=str(sandbox_file)).sandbox_token_value()
    assert token_matches(worker_token, sandbox_token)
    assert not token_matches(sandbox_token, sandbox_token)
    assert worker_token not in sandbox_file.read_text()


def test_migrate_is_a_one_shot_alembic_upgrade_after_postgres_is_healthy(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # Restarting a job that exited 0 would run it forever and never count as completed.
    assert migrate["restart"] == "no"
    assert migrate["build"]["target"] == "api", "the api image carries alembic.ini and migrations/"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_service_restarts_unless_stopped_and_has_a_healthcheck(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    assert service["restart"] == "unless-stopped"
    test = service["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    assert len(test) > 1


def test_app_healthchecks_use_what_the_images_carry(services: dict[str, Any]) -> None:
    assert services["api"]["healthcheck"]["test"] == ["CMD", "python", "/app/docker/healthcheck.py", "api"]
    assert services["gateway"]["healthcheck"]["test"] == ["CMD", "python", "/app/docker/healthcheck.py", "gateway"]
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "sandchat-worker", "check"]


@pytest.mark.parametrize("name", SCALABLE)
def test_service_scales_with_no_container_name_and_no_host_port(services: dict[str, Any], name: str) -> None:
    service = services[name]
    assert "container_name" not in service
    assert "ports" not in service, "a fixed host port lets only one replica start"


def test_no_service_has_a_container_name(services: dict[str, Any]) -> None:
    assert [name for name, service in services.items() if "container_name" in service] == []


def test_only_edge_publishes_ports_and_by_default_only_on_loopback(services: dict[str, Any]) -> None:
    published = {
        name: service["ports"] for name, service in services.items() if "ports" in service and "profiles" not in service
    }
    assert set(published) == {"edge"}
    for port in published["edge"]:
        assert port.startswith("${SANDCHAT_BIND:-127.0.0.1}:"), port
        assert files.interpolate(port, {}).startswith("127.0.0.1:")
    assert [files.interpolate(port, {}) for port in published["edge"]] == ["127.0.0.1:8000:8000", "127.0.0.1:8001:8001"]
    # The page computes the gateway's address as its own host + GATEWAY_PORT: host and container agree.
    changed = {"API_PORT": "9000", "GATEWAY_PORT": "9001", "SANDCHAT_BIND": "0.0.0.0"}
    rebound = [files.interpolate(port, changed) for port in published["edge"]]
    assert rebound == ["0.0.0.0:9000:9000", "0.0.0.0:9001:9001"]


def test_edge_routes_to_every_api_and_gateway_replica(services: dict[str, Any]) -> None:
    edge = services["edge"]
    assert edge["depends_on"] == {"api": {"condition": "service_healthy"}, "gateway": {"condition": "service_healthy"}}
    assert "./docker/edge.conf.template:/etc/nginx/templates/default.conf.template:ro" in edge["volumes"]
    template = (files.ROOT / "docker" / "edge.conf.template").read_text()
    # A variable upstream is re-resolved through Docker's DNS, so new replicas get traffic.
    assert "resolver 127.0.0.11" in template
    assert "set $api_upstream http://api:${API_PORT};" in template
    assert "set $gateway_upstream http://gateway:${GATEWAY_PORT};" in template
    assert "proxy_set_header Upgrade $http_upgrade;" in template
    assert set(edge["environment"]) == {"API_PORT", "GATEWAY_PORT"}


def test_state_lives_in_named_volumes(services: dict[str, Any]) -> None:
    volumes = set(files.compose()["volumes"])
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]
    assert "claude-home:/home/sandchat" in services["sandbox"]["volumes"], "the CLI's login survives a rebuild"
    assert "workspace:/workspace" in services["sandbox"]["volumes"]
    assert volumes == {"postgres-data", "redis-data", "claude-home", "workspace", "worker-secret", "sandbox-secret"}


@pytest.mark.parametrize("name", SANDCHAT_IMAGES)
def test_sandchat_images_are_built_from_the_repository_root(services: dict[str, Any], name: str) -> None:
    build = services[name]["build"]
    assert build["context"] == "."
    assert build["target"] in files.dockerfile_stages()


def test_every_variable_in_compose_and_env_example_is_a_setting_or_a_documented_extra(
    services: dict[str, Any],
) -> None:
    known = setting_names() | set(DOCUMENTED_EXTRAS)
    used = files.interpolated_names(files.compose_strings())
    for name, service in services.items():
        environment = service.get("environment") or {}
        if name != "postgres":
            used |= set(environment)
        else:
            assert set(environment) <= POSTGRES_IMAGE_VARIABLES
    used |= set(files.env_example_names())
    assert sorted(used - known) == []


def test_env_example_explains_every_setting_and_extra() -> None:
    text = files.ENV_EXAMPLE.read_text()
    names = files.env_example_names()
    assert sorted((setting_names() | set(DOCUMENTED_EXTRAS)) - set(names)) == []
    assert len(names) == len(set(names)), "each variable once"
    lines = text.splitlines()
    for name in names:
        index = next(i for i, line in enumerate(lines) if line.lstrip("# ").startswith(f"{name}="))
        above = lines[index - 1]
        assert above.startswith("#"), f"{name} needs a comment that explains it"
    # Nothing is set (only commented out): an empty value would be refused at start.
    assert [line for line in lines if line and not line.startswith("#")] == []


def test_operating_doc_names_every_setting_and_extra() -> None:
    doc = files.OPERATING_DOC.read_text()
    assert sorted(name for name in setting_names() | set(DOCUMENTED_EXTRAS) if f"`{name}`" not in doc) == []


def _settings_from(environment: dict[str, str | None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    return build_settings()


@pytest.mark.parametrize("name", SETTINGS_SERVICES)
def test_compose_defaults_are_settings_the_services_accept(
    services: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environment = files.service_environment(services[name], environ={})
    settings = _settings_from(environment, monkeypatch, tmp_path)
    assert settings.database_url == "postgresql+asyncpg://sandchat:sandchat@postgres:5432/sandchat"
    assert settings.redis_url == "redis://redis:6379/0"
    assert (settings.api_host, settings.gateway_host) == ("0.0.0.0", "0.0.0.0")
    assert (settings.api_port, settings.gateway_port) == (8000, 8001)
    assert settings.agent_runner == "sandbox", "the agent runs in the sandbox service, never in the worker"
    assert settings.auth_token is None
    assert settings.gateway_public_url is None


def test_agent_runner_simulator_from_the_shell_reaches_every_service(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shell = {"AGENT_RUNNER": "simulator", "GATEWAY_PUBLIC_URL": "wss://chat.example.com/chat"}
    for name in SETTINGS_SERVICES:
        settings = _settings_from(files.service_environment(services[name], shell), monkeypatch, tmp_path)
        assert settings.agent_runner == "simulator"
        assert settings.gateway_public_url == "wss://chat.example.com/chat"


def _compose_command() -> tuple[list[str], str] | None:
    """The compose tool on this machine and its version line, or None."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return command, probe.stdout.strip().splitlines()[0]
    return None


def test_compose_config_validates(tmp_path: Path) -> None:
    """`docker compose config` (or docker-compose) accepts the file, with no .env and with the example."""
    found = _compose_command()
    assert found is not None, "needs `docker compose` or docker-compose: apt-get install docker-compose (.ci/run does)"
    command, version = found
    text = files.COMPOSE_FILE.read_text()
    if "version 1." in version:
        # Compose v1 predates the top-level `name` key of the Compose Specification.
        text = text.replace("\nname: sandchat\n", "\n", 1)
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(text)
    environment = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(tmp_path)}
    for env_file in (None, files.ENV_EXAMPLE):
        if env_file is not None:
            shutil.copy(env_file, tmp_path / ".env")
        result = subprocess.run(
            [*command, "--project-directory", str(files.ROOT), "-f", str(compose_file), "config", "-q"],
            capture_output=True,
            text=True,
            check=False,
            env=environment,
            cwd=tmp_path,
        )
        assert result.returncode == 0, f"{' '.join(command)} config ({version}): {result.stderr}"


OBSERVABILITY = ("prometheus", "grafana", "otel-collector", "jaeger")


def test_the_observability_profile_runs_only_when_asked_and_publishes_only_on_loopback(
    services: dict[str, Any],
) -> None:
    assert {name for name, service in services.items() if "profiles" in service} == set(OBSERVABILITY)
    for name in OBSERVABILITY:
        service = services[name]
        assert service["profiles"] == ["observability"]
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
        assert "agent" not in networks_of(service), f"{name} must not reach the sandbox"


def test_prometheus_scrapes_every_replica_of_every_service_on_its_default_port(services: dict[str, Any]) -> None:
    config = yaml.safe_load((files.ROOT / "docker" / "observability" / "prometheus.yml").read_text())
    defaults = Settings.model_fields
    expected = {
        "api": defaults["api_port"].default,
        "gateway": defaults["gateway_port"].default,
        "worker": defaults["worker_metrics_port"].default,
    }
    found = {
        job["job_name"]: (sd["names"], sd["type"], sd["port"])
        for job in config["scrape_configs"]
        for sd in job["dns_sd_configs"]
    }
    assert found == {name: ([name], "A", port) for name, port in expected.items()}
    # Prometheus reaches them on `backend`; the worker listens beyond loopback there, and nothing publishes it.
    assert "backend" in networks_of(services["prometheus"])
    worker = files.service_environment(services["worker"], {})
    assert (worker["WORKER_METRICS_HOST"], worker["WORKER_METRICS_PORT"]) == ("0.0.0.0", "8003")
    assert "ports" not in services["worker"]
