"""A real Prometheus (Debian's package) scrapes the native stack: every replica, the turn counters,
and every query of the Grafana dashboard evaluates and names only metrics the services expose."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sandchat_dev.stack import free_port

from tests.e2e.chat_client import ChatClient, new_thread
from tests.stack import ROOT, Stack

PROMETHEUS = shutil.which("prometheus")
DASHBOARD = ROOT / "docker" / "observability" / "grafana" / "dashboards" / "sandchat.json"
TURNS = 3


@pytest.fixture(autouse=True)
def _prometheus_is_installed() -> None:
    # Never skipped: without it this proves nothing, so it fails and says what to install.
    assert PROMETHEUS is not None, "these tests need Prometheus: apt-get install prometheus (.ci/run does)"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def query(base: str, expr: str) -> dict[str, Any]:
    answer: dict[str, Any] = get_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    return answer


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus scraping each service of the stack every 0.5 s, like compose's does every 15 s."""
    tmp = tmp_path_factory.mktemp("prometheus")
    jobs: dict[str, list[str]] = {}
    for name, url in stack.metrics_urls().items():
        jobs.setdefault(name.rstrip("0123456789"), []).append(urllib.parse.urlsplit(url).netloc)
    config = {
        "global": {"scrape_interval": "500ms", "scrape_timeout": "500ms"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": targets}]} for job, targets in jobs.items()
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    assert PROMETHEUS is not None
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(base), "Prometheus did not become ready")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_until(condition: Any, failure: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.1)


def exposed_families(stack: Stack) -> dict[str, str]:
    """Every metric family the services expose (`# TYPE name type`), by name."""
    families: dict[str, str] = {}
    for url in stack.metrics_urls().values():
        with urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("# TYPE "):
                    _, _, name, kind = line.split(" ", 3)
                    families[name] = kind
    return families


def scraped_done_turns(stack: Stack) -> float:
    total = 0.0
    for url in stack.metrics_urls().values():
        with urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith('sandchat_turns_total{outcome="done"}'):
                    total += float(line.rsplit(" ", 1)[1])
    return total


async def test_prometheus_scrapes_every_replica_and_sees_the_turn_counters(stack: Stack, prometheus: str) -> None:
    for _ in range(TURNS):
        client = await ChatClient.open(stack.gateway_url())
        try:
            _, record = await client.turn(new_thread(stack.api_url), "count me")
        finally:
            await client.close()
        assert record.final["type"] == "done"
    expected = scraped_done_turns(stack)
    assert expected >= TURNS

    def caught_up() -> bool:
        result = query(prometheus, 'sum(sandchat_turns_total{outcome="done"})')["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) == expected

    wait_until(caught_up, "Prometheus never saw the turn counters")
    # Every replica is a target; a scrape that one moment of load made slow counts as down until the next.
    wait_until(lambda: all_up(prometheus), "not every replica was scraped")
    targets = sorted(series["metric"]["job"] for series in query(prometheus, "up")["data"]["result"])
    assert targets == ["api", "gateway", "gateway", "worker", "worker"]
    started = query(prometheus, "sum(sandchat_turns_started_total)")["data"]["result"]
    assert float(started[0]["value"][1]) >= TURNS
    first_token = query(prometheus, "sum(sandchat_first_token_seconds_count)")["data"]["result"]
    assert float(first_token[0]["value"][1]) >= TURNS


def scraped(url: str, series: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_each_replica_counts_only_its_own_turns_and_prometheus_sums_them(stack: Stack, prometheus: str) -> None:
    """Each process keeps its own counters (one registry, no shared files): two gateways, each
    counting exactly the turns started through it, and Prometheus' sum over the replicas is the total."""
    urls = stack.metrics_urls()
    gateways = [urls["gateway1"], urls["gateway2"]]
    before = [scraped(url, "sandchat_turns_started_total") for url in gateways]
    sent = (1, 2)
    for index, count in enumerate(sent):
        for _ in range(count):
            client = await ChatClient.open(stack.gateway_url(index))
            try:
                _, record = await client.turn(new_thread(stack.api_url), "count me here")
            finally:
                await client.close()
            assert record.final["type"] == "done"
    after = [scraped(url, "sandchat_turns_started_total") for url in gateways]
    assert [a - b for a, b in zip(after, before, strict=True)] == list(sent)

    def summed() -> bool:
        result = query(prometheus, 'sum(sandchat_turns_started_total{job="gateway"})')["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) == sum(after)

    wait_until(summed, "Prometheus' sum over the gateways is not the sum of their own counters")
    per_instance = query(prometheus, 'sandchat_turns_started_total{job="gateway"}')["data"]["result"]
    assert sorted(float(series["value"][1]) for series in per_instance) == sorted(after)


def all_up(prometheus: str) -> bool:
    return all(series["value"][1] == "1" for series in query(prometheus, "up")["data"]["result"])


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


# A metric a query names: sandchat_* or process_* (histogram series end in _bucket, _count, _sum).
_METRIC = re.compile(r"\b((?:sandchat|process)_[a-z_]+)")


def family_of(series: str, families: dict[str, str]) -> str | None:
    for name in (series, re.sub(r"_(bucket|count|sum|total)$", "", series)):
        if name in families:
            return name
    return None


def test_every_dashboard_query_evaluates_and_names_only_exposed_metrics(stack: Stack, prometheus: str) -> None:
    families = exposed_families(stack)
    queries = dashboard_queries()
    assert len(queries) >= 10
    for expr in queries:
        answer = query(prometheus, expr)
        assert answer["status"] == "success", (expr, answer)
        for series in _METRIC.findall(expr):
            assert family_of(series, families) is not None, f"{expr} names {series}, which no service exposes"


def test_compose_prometheus_config_is_one_prometheus_accepts() -> None:
    assert PROMETHEUS is not None
    promtool = Path(PROMETHEUS).with_name("promtool")  # shipped in the same package
    config = ROOT / "docker" / "observability" / "prometheus.yml"
    checked = subprocess.run(
        [str(promtool), "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr + checked.stdout
