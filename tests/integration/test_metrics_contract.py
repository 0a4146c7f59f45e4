"""The API metrics contract against real scrapes: a real Prometheus (built by scripts/toolchain.sh at
promtool's version) scrapes two local stand-in apps on 127.0.0.1, one serving the seed's form
(api_requests_total, api_response_time_seconds_sum/_count, no status label) and one podinfo's
(http_requests_total{status}, a latency histogram), and evaluates the rules the stacks deploy
for each: staging's settings (the seed's app) and dev's (podinfo). The alerts each app's numbers
call for fire; no other does. No cluster is involved.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import api
from components.monitoring import dashboard, render_rules
from tests.test_api import make_args
from tools.engine import ROOT

pytestmark = pytest.mark.integration
# Debian bookworm's Prometheus 2.42 (scripts/realservers.sh, apt): the chart runs v3, whose rule
# language and scraping of these text formats are the same for what is tested here.
PROMETHEUS = Path("/usr/bin/prometheus")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str, **query: str) -> Any:
    url = f"http://127.0.0.1:{port}{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]


def targets() -> list[Any]:
    """The seed's app (staging's settings) as instance "shop", podinfo (dev's) as "api"."""
    return [replace(api.metrics_target(make_args("staging")), name="shop"), api.metrics_target(make_args("dev"))]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    if not PROMETHEUS.exists():
        pytest.skip(f"{PROMETHEUS} missing: make realservers (apt)")
    work = tmp_path_factory.mktemp("contract")
    spec = render_rules("local", targets())
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule.pop("for", None)  # the conditions, not their durations, are under test here
    (work / "rules.yaml").write_text(yaml.safe_dump(spec))
    apps, processes = {"shop": ("seed", _free_port()), "api": ("podinfo", _free_port())}, []
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(work / "rules.yaml")],
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics",
             "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"namespace": "local"}}]}
            for job, (_, port) in apps.items()
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    try:
        for form, app_port in apps.values():
            app = [sys.executable, "-m", "tests.integration.metrics_app", form, str(app_port)]
            processes.append(subprocess.Popen(app, cwd=ROOT))
        processes.append(subprocess.Popen(
            [str(PROMETHEUS), f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=(work / "prometheus.log").open("w"), stderr=subprocess.STDOUT,
        ))
        yield port
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def _firing(port: int, deadline: float, expected: set[tuple[str, str]]) -> set[tuple[str, str]]:
    firing: set[tuple[str, str]] = set()
    while time.monotonic() < deadline and not expected <= firing:
        time.sleep(2)
        try:
            alerts = _get(port, "/api/v1/alerts")["alerts"]
        except OSError:
            continue
        firing = {(a["labels"]["alertname"], a["labels"].get("job", "")) for a in alerts if a["state"] == "firing"}
    return firing


def test_both_apps_are_scraped(prometheus: int) -> None:
    deadline = time.monotonic() + 60
    health: dict[str, str] = {}
    while time.monotonic() < deadline and set(health.values()) != {"up"}:
        time.sleep(1)
        try:
            health = {t["labels"]["job"]: t["health"] for t in _get(prometheus, "/api/v1/targets")["activeTargets"]}
        except OSError:
            continue
    assert health == {"shop": "up", "api": "up"}, health


def test_each_contract_s_alerts_fire_for_its_own_app_only(prometheus: int) -> None:
    expected = {("ApiHighMeanLatency", "shop"), ("ApiHighErrorRatio", "api"), ("ApiHighLatencyP99", "api")}
    firing = _firing(prometheus, time.monotonic() + 90, expected)
    assert firing == expected, firing


def test_the_old_contract_finds_nothing_on_the_seed_s_app(prometheus: int) -> None:
    """What the rules assumed before the contract was a setting: no series on the seed's app."""
    for query in ('http_requests_total{job="shop"}', 'http_request_duration_seconds_bucket{job="shop"}'):
        assert _get(prometheus, "/api/v1/query", query=query)["result"] == [], query
    assert _get(prometheus, "/api/v1/query", query='api_requests_total{job="shop"}')["result"]



def test_every_dashboard_query_finds_the_app_s_series(prometheus: int) -> None:
    """The dashboards follow the contract too: each panel's query returns data for its app."""
    queries = [
        (target.name, panel["title"], query["expr"].replace("$namespace", "local").replace("$__rate_interval", "1m"))
        for target in targets()
        for panel in json.loads(dashboard(target, "local"))["panels"]
        for query in panel["targets"]
    ]
    deadline, empty = time.monotonic() + 60, queries
    while empty and time.monotonic() < deadline:
        time.sleep(2)
        empty = [q for q in queries if not _get(prometheus, "/api/v1/query", query=q[2])["result"]]
    assert not empty, empty
