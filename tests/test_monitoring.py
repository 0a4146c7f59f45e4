"""Monitoring: install vs existing vs off, CRD ordering, rules (checked by promtool), dashboards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.connections import MetricsTarget
from components.monitoring import ASSETS, dashboard, render_rules
from environments import load_config
from tests.harness import MOCK_PASSWORD_PREFIX, Registered, Run, run_program

CRD_KINDS = ("ServiceMonitor", "PrometheusRule")
STACK_VALUES_SELECTORS = ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig")


def _promtool() -> str | None:
    explicit = os.environ.get("PROMTOOL")
    cache = Path(os.environ.get("PLATFORM_TOOLCHAIN_DIR", Path.home() / ".cache" / "platform-toolchain")) / "bin" / "promtool"
    for candidate in (explicit, str(cache), shutil.which("promtool")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


PROMTOOL = _promtool()
# In CI promtool must be there (make test builds it), unless .ci/run said the cold Go builds
# ran out of time; then, and on a laptop without it, these tests skip and say why.
_MAY_SKIP = not os.environ.get("CI") or os.environ.get("PLATFORM_GO_TOOLS") == "unavailable"
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and _MAY_SKIP, reason="promtool binary absent: build it with scripts/promtool.sh"
)


def _monitoring(run: Run) -> list[Registered]:
    return [r for r in run.resources if r.parent.endswith("platform:index:Monitoring::monitoring")]


def _crs(run: Run) -> list[Registered]:
    return [r for r in run.resources if r.kind in CRD_KINDS]


def _release(run: Run, suffix: str = "monitoring-stack") -> Registered:
    return run.one("Release", suffix)


def _promtool_run(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False)


# ---------------------------------------------------------------- install / existing / off


def test_dev_installs_one_pinned_stack_with_production_values(runs: dict[str, Run]) -> None:
    run = runs["dev"]
    release = _release(run)
    config = load_config("dev", {}).monitoring
    inputs = release.inputs
    assert (inputs["chart"], inputs["version"], inputs["name"], inputs["namespace"]) == (
        "kube-prometheus-stack",
        config.chart_version,
        "kube-prometheus-stack",
        "monitoring",
    )
    assert inputs["repositoryOpts"]["repo"] == "https://prometheus-community.github.io/helm-charts"
    assert "kubernetes::kubernetes" in release.provider, "the Release must use the explicit provider"
    spec = inputs["values"]["prometheus"]["prometheusSpec"]
    for kind in STACK_VALUES_SELECTORS:
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False, kind
    assert spec["retention"] == "7d"
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert spec["retentionSize"] == "8704MB"  # 85 % of 10Gi
    assert spec["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    # The namespace is the component's, and lets node-exporter run.
    namespace = run.one("Namespace", "monitoring-namespace")
    assert namespace.metadata["name"] == "monitoring"
    assert namespace.metadata["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert namespace.urn in release.depends_on


def test_grafana_password_is_generated_and_passed_as_an_existing_secret(runs: dict[str, Run]) -> None:
    run = runs["dev"]
    release = _release(run)
    secret = run.one("Secret", "monitoring-grafana-admin")
    grafana = release.inputs["values"]["grafana"]
    assert grafana["admin"]["existingSecret"] == secret.metadata["name"]
    assert secret.metadata["namespace"] == "monitoring"
    assert secret.inputs["stringData"][grafana["admin"]["passwordKey"]].startswith(MOCK_PASSWORD_PREFIX)
    assert "stringData" in secret.secret_inputs
    assert secret.urn in release.depends_on
    assert MOCK_PASSWORD_PREFIX not in json.dumps(release.inputs), "no password in Helm values"
    assert MOCK_PASSWORD_PREFIX not in json.dumps(run.outputs.get("monitoring"))


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_monitors_wait_for_whatever_installs_the_crds(runs: dict[str, Run], stack: str) -> None:
    run = runs[stack]
    crs = _crs(run)
    assert sorted(r.kind for r in crs) == ["PrometheusRule", "ServiceMonitor", "ServiceMonitor", "ServiceMonitor"]
    environment_namespace = run.one("Namespace", "env-namespace").urn
    for resource in crs:
        # In install mode the Release brings the CRDs; in existing mode they are already there.
        if stack == "dev":
            assert _release(run).urn in resource.depends_on, resource.name
        assert environment_namespace in resource.depends_on, f"{resource.name} must wait for the app namespace"


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_shared_stack_environments_add_only_their_objects(runs: dict[str, Run], stack: str) -> None:
    run = runs[stack]
    kinds = sorted(r.kind for r in _monitoring(run))
    assert kinds == [
        "ConfigMap",
        "ConfigMap",
        "ConfigMap",
        "PrometheusRule",
        "ServiceMonitor",
        "ServiceMonitor",
        "ServiceMonitor",
    ]
    assert not run.of_kind("Release") and not [r for r in run.of_kind("Namespace") if r.name.startswith("monitoring")]
    for resource in _monitoring(run):
        assert resource.metadata["namespace"] == stack, "platform objects live in the app namespace"
        assert resource.metadata["labels"]["release"] == "kube-prometheus-stack", "the shared Prometheus selects by it"


def test_existing_mode_uses_the_configured_selector_labels() -> None:
    run = run_program("staging", {"monitoring": {"selectorLabels": {"prometheus": "shared", "team": "platform"}}})
    assert run.error is None, run.error
    for resource in _crs(run):
        assert {"prometheus": "shared", "team": "platform"}.items() <= resource.metadata["labels"].items()
        assert resource.metadata["namespace"] == "staging"


def test_ephemeral_has_no_monitoring(runs: dict[str, Run]) -> None:
    run = runs["pr-123"]
    assert _monitoring(run) == [] and _crs(run) == [] and not run.of_kind("Release")
    assert run.outputs["monitoring"] == {}


def test_outputs_tell_how_to_reach_prometheus_and_grafana(runs: dict[str, Run]) -> None:
    hints = runs["dev"].outputs["monitoring"]
    assert hints["prometheusUrl"] == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    assert hints["grafanaPortForward"] == "kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80"
    assert "kube-prometheus-stack-grafana-admin" in hints["grafanaAdminPasswordCommand"]
    assert "grafanaAdminPasswordCommand" not in runs["staging"].outputs["monitoring"]  # not ours to read


# ---------------------------------------------------------------- scrape targets


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_each_service_monitor_selects_a_service_with_its_port(runs: dict[str, Run], stack: str) -> None:
    run = runs[stack]
    monitors = {r.metadata["name"]: r for r in run.of_kind("ServiceMonitor")}
    assert sorted(monitors) == ["api", "postgres", "redis"]
    for name, monitor in monitors.items():
        selector = monitor.spec["selector"]["matchLabels"]
        endpoint = monitor.spec["endpoints"][0]
        assert monitor.spec["namespaceSelector"] == {"matchNames": [stack]}
        assert endpoint["path"] == "/metrics" and endpoint["interval"] == "30s"
        assert {"targetLabel": "job", "replacement": name, "action": "replace"} in endpoint["relabelings"]
        services = [
            s
            for s in run.of_kind("Service")
            if s.metadata["namespace"] == stack and selector.items() <= s.metadata["labels"].items()
        ]
        assert len(services) == 1, f"{name}: selects {[s.name for s in services]}"
        assert endpoint["port"] in [p.get("name") for p in services[0].spec["ports"]], name
    assert "metricRelabelings" not in monitors["api"].spec["endpoints"][0], "the rules follow the app's labels"


# ---------------------------------------------------------------- alert rules


def _rules(run: Run) -> dict[str, Any]:
    return run.one("PrometheusRule").spec


def _alerts(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in spec["groups"] for rule in group["rules"]]


# The instances monitoring/tests/*.yaml test: two of each kind in namespace "unit", the two API
# metrics contracts (podinfo's histogram with a status label, the seed's sum/count without one).
PODINFO = {"requests": "http_requests_total", "status_label": "code", "latency": "http_request_duration_seconds"}
SEED = {"requests": "api_requests_total", "status_label": "", "latency": "api_response_time_seconds"}
UNIT_TARGETS = [
    MetricsTarget("api", {}, "http", "/metrics", "api", rules=("api", "api-errors", "api-latency-histogram"), values=PODINFO),
    MetricsTarget("shop", {}, "http", "/metrics", "api", rules=("api", "api-latency-sum_count"), values=SEED),
    *(
        MetricsTarget(
            name, {}, "metrics", "/metrics", "postgres",
            rules=("postgres", "postgres-backup"), values={"cronjob": f"{name}-backup"},
        )
        for name in ("postgres", "analytics")
    ),
    *(MetricsTarget(name, {}, "metrics", "/metrics", "redis") for name in ("redis", "cache")),
    # CloudNativePG Clusters (mode cloudnativepg), scraped by PodMonitors: 3 and 2 instances.
    *(
        MetricsTarget(name, {}, "metrics", "/metrics", "postgres-cnpg", rules=("postgres-cnpg", "postgres-cnpg-backup"),
                      values={"instances": count}, pod_labels={"cnpg.io/cluster": name})
        for name, count in (("orders", "3"), ("ledger", "2"))
    ),
]


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_deployed_rules_are_the_files_scoped_to_the_namespace(runs: dict[str, Run], stack: str) -> None:
    run = runs[stack]
    spec = _rules(run)
    rule = run.one("PrometheusRule")
    assert rule.metadata["name"] == "monitoring-alerts", "named after the Monitoring instance"
    # The targets decide: dev's podinfo has a status label and a histogram, the seed's app neither;
    # backups (staging, production) bring their alerts without any flag.
    api = ["api", "api-errors", "api-latency"] if stack == "dev" else ["api", "api-latency"]
    backups = [] if stack == "dev" else ["postgres-backup"]
    assert sorted(g["name"] for g in spec["groups"]) == sorted([*api, "platform", "postgres", "redis", *backups])
    names = {a["alert"] for a in _alerts(spec)}
    assert ("ApiHighLatencyP99" in names) == (stack == "dev") and ("ApiHighMeanLatency" in names) == (stack != "dev")
    for alert in _alerts(spec):
        assert f'namespace="{stack}"' in alert["expr"], alert["alert"]
        assert "${" not in json.dumps(alert), alert["alert"]
        assert alert["labels"]["severity"] in ("critical", "warning", "info")
        assert alert["annotations"]["summary"] and len(alert["annotations"]["description"]) > 80
    if backups:
        backup_rules = [a for g in spec["groups"] if g["name"] == "postgres-backup" for a in g["rules"]]
        assert all('cronjob="postgres-backup"' in a["expr"] for a in backup_rules)
        assert run.one("CronJob").metadata["name"] == "postgres-backup", "the rules name the CronJob that exists"


def test_every_alert_of_an_instance_names_it() -> None:
    """Where two instances coexist, each alert's summary names the instance (its job, StatefulSet,
    CronJob or claim) and its expression keeps that label, so two alerts never merge into one."""
    spec = render_rules("x", UNIT_TARGETS)
    for group in spec["groups"]:
        for alert in group["rules"]:
            if alert["alert"].startswith("Platform"):
                continue
            summary, expr = alert["annotations"]["summary"], alert["expr"]
            names = ("shop", "analytics", "cache", "api", "postgres", "redis", "orders", "ledger")
            instance = next(n for n in names if group["name"].startswith(n))
            assert instance in summary or "{{ $labels." in summary, (group["name"], alert["alert"], summary)
            assert any(f'{label}="' in expr for label in ("job", "statefulset", "cronjob")), alert["alert"]
            if "by (" in expr:
                assert any(f"by (namespace, {label}" in expr for label in ("job", "statefulset", "cronjob")), alert["alert"]


def test_the_api_s_rules_follow_its_metrics_contract() -> None:
    from components import api
    from tests.test_api import make_args

    seed, podinfo = api.metrics_target(make_args("staging")), api.metrics_target(make_args("dev"))
    assert seed.rules == ("api", "api-latency-sum_count"), "no status label: no error ratio"
    assert seed.values["requests"] == "api_requests_total" and seed.values["latency"] == "api_response_time_seconds"
    assert podinfo.rules == ("api", "api-errors", "api-latency-histogram")
    assert podinfo.values["status_label"] == "status"


def test_a_placeholder_without_a_value_is_refused() -> None:
    with pytest.raises(ValueError, match=r"api-errors.yaml: no value for \$\{status_label\}"):
        render_rules("x", [MetricsTarget("api", {}, "http", "/metrics", "api", rules=("api-errors",), values={"requests": "r"})])


def test_the_issue_s_alerts_all_exist() -> None:
    names = {a["alert"] for a in _alerts(render_rules("x", UNIT_TARGETS))}
    assert names >= {
        "ApiHighErrorRatio",
        "ApiHighLatencyP99",
        "ApiHighMeanLatency",
        "ApiNoTargets",
        "PlatformTargetDown",
        "PlatformPodCrashLooping",
        "PlatformVolumeFillingUp",
        "PlatformVolumeFull",
        "PostgresDown",
        "PostgresNotReady",
        "PostgresNoTarget",
        "PostgresConnectionsNearMax",
        "PostgresBackupFailed",
        "PostgresBackupTooOld",
        "PostgresBackupMissing",
        "RedisDown",
        "RedisNotReady",
        "RedisNoTarget",
        "RedisRejectingWrites",
        "RedisEvictingKeys",
        "RedisMemoryNearLimit",
        "RedisRejectedConnections",
    }
    assert "RedisMemoryNearMax" not in names, "a warm allkeys-lru cache sits at maxmemory"


@needs_promtool
@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_promtool_accepts_every_deployed_rule(runs: dict[str, Run], stack: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(_rules(runs[stack])))
    result = _promtool_run("check", "rules", "--lint=all", "--lint-fatal", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts(_rules(runs[stack])))} rules found" in result.stdout


@needs_promtool
def test_promtool_rejects_a_broken_expression(tmp_path: Path) -> None:
    """The check above can fail: a typo in PromQL is caught."""
    spec = render_rules("x", [])
    spec["groups"][0]["rules"][0]["expr"] = 'up{namespace="x"} == == 0'
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(spec))
    assert _promtool_run("check", "rules", str(rules)).returncode != 0


def unit_rules() -> dict[str, Any]:
    """The rules of UNIT_TARGETS without descriptions: the promtool tests check labels and summaries."""
    spec = render_rules("unit", UNIT_TARGETS)
    for alert in _alerts(spec):
        alert["annotations"].pop("description")
    return spec


def promtool_test(tmp_path: Path, spec: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    tests = sorted((ASSETS / "tests").glob("*.yaml"))
    for test in tests:
        shutil.copy(test, tmp_path / test.name)
    return _promtool_run("test", "rules", *(str(tmp_path / t.name) for t in tests))


@needs_promtool
def test_alert_unit_tests_pass(tmp_path: Path) -> None:
    """monitoring/tests/*.yaml: every alert fires on synthetic series, for the failing instance only,
    and stays silent in its must-stay-silent cases."""
    text = "".join(t.read_text() for t in (ASSETS / "tests").glob("*.yaml"))
    untested = [a["alert"] for a in _alerts(unit_rules()) if f"alertname: {a['alert']}" not in text]
    assert not untested, f"alerts without a promtool case: {untested}"
    result = promtool_test(tmp_path, unit_rules())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


# ---------------------------------------------------------------- dashboards


def _dashboards(run: Run) -> dict[str, dict[str, Any]]:
    boards = {}
    for config_map in run.of_kind("ConfigMap"):
        if config_map.metadata.get("labels", {}).get("grafana_dashboard") == "1":
            ((key, text),) = config_map.inputs["data"].items()
            boards[key] = json.loads(text)
    return boards


@pytest.mark.parametrize("stack", ["dev", "production"])
def test_dashboards_for_api_postgres_redis(runs: dict[str, Run], stack: str) -> None:
    boards = _dashboards(runs[stack])
    assert sorted(boards) == ["api.json", "postgres.json", "redis.json"]
    for key, board in boards.items():
        assert board["uid"] == f"{stack}-{key.removesuffix('.json')}", "unique when environments share a Grafana"
        namespace = next(v for v in board["templating"]["list"] if v["name"] == "namespace")
        assert namespace["query"] == stack
        exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
        assert exprs and all('namespace="$namespace"' in e for e in exprs), key
    api_exprs = " ".join(t["expr"] for p in boards["api.json"]["panels"] for t in p["targets"])
    # The app's metrics contract: podinfo (dev) has a status label and a histogram, the seed's app neither.
    expected = (
        ("http_requests_total", 'status=~"5.."', "http_request_duration_seconds_bucket")
        if stack == "dev"
        else ("api_requests_total", "api_response_time_seconds_sum", "api_response_time_seconds_count")
    )
    for metric in expected:
        assert metric in api_exprs  # rate, errors, duration
    assert "${" not in json.dumps(boards).replace("${datasource}", ""), "every placeholder but Grafana's filled in"


@needs_promtool
def test_dashboard_queries_parse(tmp_path: Path) -> None:
    records: list[dict[str, str]] = []
    for target in [t for t in UNIT_TARGETS if (ASSETS / "dashboards" / f"{t.template}.json").exists()]:
        for panel in json.loads(dashboard(target, "x"))["panels"]:
            for query in panel["targets"]:
                expr = query["expr"].replace("$__rate_interval", "5m").replace("$namespace", "x")
                records.append({"record": f"dashboard:{target.name}:{len(records)}", "expr": expr})
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": records}]}))
    result = _promtool_run("check", "rules", str(tmp_path / "queries.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- receivers and logging


def test_receivers_read_webhook_urls_from_secrets() -> None:
    receivers = [
        {"name": "oncall", "webhookUrlSecret": "alert-webhooks", "webhookUrlKey": "pager", "severities": ["critical"]},
        {"name": "chat", "webhookUrlSecret": "alert-webhooks"},
    ]
    run = run_program("dev", {"monitoring": {"receivers": receivers}})
    assert run.error is None, run.error
    alertmanager = _release(run).inputs["values"]["alertmanager"]
    assert alertmanager["alertmanagerSpec"]["secrets"] == ["alert-webhooks"]
    by_name = {r["name"]: r for r in alertmanager["config"]["receivers"]}
    assert by_name["oncall"]["webhook_configs"] == [
        {"url_file": "/etc/alertmanager/secrets/alert-webhooks/pager", "send_resolved": True}
    ]
    routes = {r["receiver"]: r for r in alertmanager["config"]["route"]["routes"]}
    assert routes["oncall"]["matchers"] == ['severity =~ "critical"'] and routes["chat"]["matchers"] == []
    assert routes["null"]["matchers"] == ['alertname = "Watchdog"']


@pytest.mark.parametrize(
    ("stack", "monitoring", "key"),
    [
        (
            "staging",
            {"receivers": [{"name": "chat", "webhookUrlSecret": "hooks"}]},
            "platform:monitoring: receivers: only mode 'install'",
        ),
        (
            "dev",
            {"receivers": [{"name": "chat", "url": "https://hooks.example.com/T0/B0/XXXX"}]},
            "platform:monitoring.receivers.0.url: unknown key",
        ),
        ("dev", {"logging": {"enabled": True}}, "platform:monitoring.logging: enabled needs 'host'"),
        ("pr-1", {"logging": {"enabled": True, "host": "es.logging.svc"}}, "platform:monitoring: logging.enabled"),
        ("dev", {"chartVersion": "latest"}, "platform:monitoring.chartVersion"),
    ],
)
def test_bad_monitoring_config_is_refused_before_any_resource(stack: str, monitoring: dict[str, Any], key: str) -> None:
    run = run_program(stack, {"monitoring": monitoring})
    assert run.error is not None and key in str(run.error), run.error
    assert run.resources == []


def test_logging_ships_container_logs_to_the_configured_backend(runs: dict[str, Run]) -> None:
    run = run_program("dev", {"monitoring": {"logging": {"enabled": True, "host": "elasticsearch.logging.svc", "tls": True}}})
    assert run.error is None, run.error
    shipper = _release(run, "monitoring-logging")
    assert (shipper.inputs["chart"], shipper.inputs["version"], shipper.inputs["namespace"]) == (
        "fluent-bit",
        "0.57.9",
        "monitoring",
    )
    outputs = shipper.inputs["values"]["config"]["outputs"]
    assert "Host elasticsearch.logging.svc" in outputs and "Port 9200" in outputs and "tls On" in outputs
    assert shipper.inputs["values"]["resources"]["limits"] == {"cpu": "200m", "memory": "128Mi"}
    assert run.one("Namespace", "monitoring-namespace").urn in shipper.depends_on
    assert [r.name for r in runs["dev"].of_kind("Release")] == ["monitoring-stack"], "off by default"


# ---------------------------------------------------------------- chart source, webhooks


def fake_chart(path: Path, version: str, present: tuple[str, ...] = ("grafana",)) -> Path:
    """A chart directory shaped like the one scripts/fetch-upstream.sh assembles, which declares
    the dependency grafana and has those ``present`` in its charts/."""
    chart = {"name": "kube-prometheus-stack", "version": version, "dependencies": [{"name": "grafana"}]}
    path.mkdir(parents=True)
    (path / "Chart.yaml").write_text(yaml.safe_dump(chart))
    for dependency in present:
        (path / "charts" / dependency).mkdir(parents=True)
    return path


def test_install_mode_takes_a_local_chart_directory(tmp_path: Path) -> None:
    version = load_config("dev", {}).monitoring.chart_version
    chart = fake_chart(tmp_path / "kube-prometheus-stack", version)
    run = run_program("dev", {"monitoring": {"chartPath": str(chart), "admissionWebhooks": False}})
    assert run.error is None, run.error
    inputs = _release(run).inputs
    assert inputs["chart"] == str(chart) and "repositoryOpts" not in inputs
    # The API server never calls a webhook: none is installed, and the operator serves plain HTTP.
    operator = inputs["values"]["prometheusOperator"]
    assert operator["admissionWebhooks"] == {"enabled": False} and operator["tls"] == {"enabled": False}


def test_the_default_source_is_the_upstream_repository_with_webhooks(runs: dict[str, Run]) -> None:
    operator = _release(runs["dev"]).inputs["values"]["prometheusOperator"]
    assert "admissionWebhooks" not in operator and "tls" not in operator  # the chart's defaults


@pytest.mark.parametrize(
    ("version", "dependencies", "problem"),
    [
        ("88.3.0", ("grafana",), "holds kube-prometheus-stack 88.3.0, not kube-prometheus-stack 88.6.1 (chartVersion)"),
        ("88.6.1", (), "lacks the dependencies ['grafana']"),
        (None, (), "is not a chart directory"),
    ],
)
def test_a_local_chart_of_another_version_or_incomplete_is_refused(
    tmp_path: Path, version: str | None, dependencies: tuple[str, ...], problem: str
) -> None:
    chart = tmp_path / "chart"
    if version:
        fake_chart(chart, version, dependencies)
    run = run_program("dev", {"monitoring": {"chartPath": str(chart)}})
    assert run.error is not None and "platform:monitoring: chartPath" in str(run.error) and problem in str(run.error), run.error
    assert run.resources == []


# ---------------------------------------------------------------- what mutation testing found unchecked (issue 25)


def test_a_dashboard_uid_fits_grafana_s_40_characters() -> None:
    from components.monitoring import dashboard

    def target(name: str) -> MetricsTarget:
        return MetricsTarget(name=name, service_labels={"a": "b"}, port="metrics", path="/metrics", kind="postgres")

    assert json.loads(dashboard(target("postgres"), "staging"))["uid"] == "staging-postgres"
    long = json.loads(dashboard(target("analytics-db"), "team-payments-review-4711"))["uid"]
    assert long == "team-payments-review-4711-analytics-db"[:40] and len(long) == 38
    longer = json.loads(dashboard(target("analytics-db"), "team-payments-review-47110000"))["uid"]
    assert longer == "team-payments-review-47110000-analytics-db"[:40] and len(longer) == 40


def test_every_workload_of_the_stack_gets_its_configured_resources() -> None:
    """Sub-chart keys are data to Helm: a misspelt one is silently ignored, and the pod runs unbounded."""
    from components.monitoring import stack_values

    settings = load_config("dev", {}).monitoring
    values = stack_values(settings, "grafana-admin")
    found = {
        "prometheus": values["prometheus"]["prometheusSpec"]["resources"],
        "alertmanager": values["alertmanager"]["alertmanagerSpec"]["resources"],
        "grafana": values["grafana"]["resources"],
        "operator": values["prometheusOperator"]["resources"],
        "kube_state_metrics": values["kube-state-metrics"]["resources"],
        "node_exporter": values["prometheus-node-exporter"]["resources"],
    }
    for key, resources in found.items():
        configured = getattr(settings.resources, key)
        assert resources == {"requests": configured.requests.model_dump(), "limits": configured.limits.model_dump()}, key
    assert values["grafana"]["sidecar"]["dashboards"] == {
        "enabled": True, "label": "grafana_dashboard", "labelValue": "1", "searchNamespace": "ALL"}
