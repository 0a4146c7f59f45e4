"""Monitoring for real: install mode deployed by the real engine, and the real Prometheus Operator
reading the ServiceMonitors and PrometheusRules the stack creates.

1. A dev stack in install mode: kube-prometheus-stack from the chart scripts/fetch-upstream.sh
   assembled, installed by the kubernetes provider's helm.v3.Release; kwok runs its pods. Its
   outputs (URLs, port-forward commands, the Grafana admin Secret) are read back from the cluster.
2. The Prometheus Operator (scripts/toolchain.sh builds it at the chart's version) runs out of
   cluster against the local control plane. From the Prometheus configuration it generates (the
   gzipped Secret `prometheus-<name>`) and its rule ConfigMaps, tests/integration/scrape.py works
   out what each job would scrape over the cluster's real Services, Endpoints and pods.
3. Existing mode: a second stack, and Prometheus objects configured as kube-prometheus-stack
   configures its own by default (`release` label selectors); one with another release's label
   must select none of it.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration import scrape
from tools.realengine import TOOLCHAIN, Workspace, install_monitoring
from tools.upstream import fetched

pytestmark = pytest.mark.integration

INSTALL, EXISTING = "it-mon-install", "it-mon-existing"  # stacks, and their app namespaces
MONITORING_NS, RELEASE = "it-mon-stack", "it-kps"
SHARED_NS = "it-mon-shared"  # the Prometheus objects of existing mode's "cluster stack"
KPS_SELECTOR = {"release": "kube-prometheus-stack"}  # kube-prometheus-stack's default selectors
# instance: (the Service its job must scrape, port name, container port)
TARGETS = {
    "api": ("api", "metrics", 9797),
    "postgres": ("postgres-metrics", "metrics", 9187),
    "redis": ("redis-metrics", "metrics", 9121),
}
OPERATOR = TOOLCHAIN / "bin" / "prometheus-operator"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _json(ws: Workspace, *args: str) -> Any:
    return ws.kube_json(*args)


@pytest.fixture(scope="module")
def stacks(workspace: Workspace) -> Iterator[Workspace]:
    if not OPERATOR.exists():
        pytest.skip(f"{OPERATOR} missing: bash scripts/toolchain.sh --only prometheus-operator")
    ws = workspace
    # The operator's CRDs at the pinned version (a cluster started from an older lock has older ones).
    for crd in sorted((fetched("crds")).glob("monitoring.coreos.com_*.yaml")):
        ws.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=local-cluster", "-f", str(crd))
    ws.kubectl("delete", "prometheuses.monitoring.coreos.com", "--all", "-n", SHARED_NS, "--ignore-not-found", check=False)
    ws.delete_namespaces(INSTALL, EXISTING, MONITORING_NS, SHARED_NS)
    namespace = {"platform:environment": "dev"}
    ws.init_stack(INSTALL, {**namespace, "platform:namespace": {"name": INSTALL},
                            **install_monitoring(namespace=MONITORING_NS, releaseName=RELEASE)})
    ws.init_stack(EXISTING, {**namespace, "platform:namespace": {"name": EXISTING}, "platform:monitoring": {"mode": "existing"}})
    for stack in (INSTALL, EXISTING):
        ws.pulumi("up", "--yes", "--skip-preview", stack=stack, timeout=1500)
    yield ws
    for stack in (EXISTING, INSTALL):
        ws.pulumi("destroy", "--yes", "--skip-preview", stack=stack, check=False, timeout=900)
    ws.kubectl("delete", "prometheuses.monitoring.coreos.com", "--all", "-n", SHARED_NS, "--ignore-not-found", check=False)
    ws.delete_namespaces(INSTALL, EXISTING, MONITORING_NS, SHARED_NS)


# ---------------------------------------------------------------- 1. install mode, its outputs


def test_install_mode_runs_the_chart_s_workloads(stacks: Workspace) -> None:
    release = {"app.kubernetes.io/instance": RELEASE}
    deployments = {d["metadata"]["name"]: d for d in _json(stacks, "-n", MONITORING_NS, "get", "deployments")["items"]}
    assert {f"{RELEASE}-operator", f"{RELEASE}-grafana", f"{RELEASE}-kube-state-metrics"} <= set(deployments)
    for name, deployment in deployments.items():
        assert deployment["status"].get("readyReplicas") == deployment["spec"]["replicas"], name
    daemonsets = _json(stacks, "-n", MONITORING_NS, "get", "daemonsets")["items"]
    assert [d["status"]["numberReady"] for d in daemonsets] == [3], "node-exporter on each kwok node"
    prometheus = _json(stacks, "-n", MONITORING_NS, "get", "prometheuses.monitoring.coreos.com")["items"]
    assert [p["metadata"]["name"] for p in prometheus] == [f"{RELEASE}-prometheus"]
    assert prometheus[0]["metadata"]["labels"].items() >= release.items()
    # No admission webhook: the API server never calls a Service IP.
    hooks = stacks.kubectl("get", "validatingwebhookconfigurations,mutatingwebhookconfigurations", "-o", "name").stdout
    assert RELEASE not in hooks, hooks


def _outputs(ws: Workspace, stack: str) -> dict[str, Any]:
    return json.loads(ws.pulumi("stack", "output", "--json", stack=stack).stdout)


def test_outputs_name_objects_that_exist(stacks: Workspace) -> None:
    hints = _outputs(stacks, INSTALL)["monitoring"]
    for key in ("prometheusPortForward", "grafanaPortForward"):
        words = shlex.split(hints[key])  # kubectl -n NS port-forward svc/NAME LOCAL:REMOTE
        namespace, service, remote = words[2], words[4].removeprefix("svc/"), int(words[5].split(":")[1])
        ports = [p["port"] for p in _json(stacks, "-n", namespace, "get", "service", service)["spec"]["ports"]]
        assert remote in ports, (key, ports)
    for key in ("prometheusUrl", "grafanaUrl"):
        host = re.match(r"http://([^.]+)\.([^.]+)\.svc", hints[key])
        assert host, hints[key]
        _json(stacks, "-n", host.group(2), "get", "service", host.group(1))  # fails if it does not exist
    # The password command reads a Secret that exists and that Grafana uses; its value is never printed.
    secret_name = re.search(r"get secret (\S+)", hints["grafanaAdminPasswordCommand"]).group(1)  # type: ignore[union-attr]
    secret = _json(stacks, "-n", MONITORING_NS, "get", "secret", secret_name)
    assert {"admin-user", "admin-password"} <= set(secret["data"])
    grafana = _json(stacks, "-n", MONITORING_NS, "get", "deployment", f"{RELEASE}-grafana")
    refs = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for c in grafana["spec"]["template"]["spec"]["containers"]
        for env in c.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert secret_name in refs


# ---------------------------------------------------------------- 2. the operator


@pytest.fixture(scope="module")
def operator(stacks: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The Prometheus Operator, out of cluster, with the kube-prometheus-stack-default Prometheus
    objects of existing mode in place; yields its generated configuration per Prometheus."""
    stacks.kubectl("create", "namespace", SHARED_NS)
    for name, selector in (("kps-default", KPS_SELECTOR), ("kps-other", {"release": "other-release"})):
        stacks.kubectl("apply", "-f", "-", stdin=json.dumps(default_prometheus(name, selector)))
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    command = [str(OPERATOR), f"--web.listen-address=127.0.0.1:{_free_port()}", "--log-level=debug"]
    with log.open("w") as out:
        process = subprocess.Popen(command, env={**stacks.env, "KUBECONFIG": stacks.env["KUBECONFIG"]}, stdout=out, stderr=out)
    try:
        peers: set[str] = set()
        names = {"install": (MONITORING_NS, f"{RELEASE}-prometheus"), "default": (SHARED_NS, "kps-default"),
                 "other": (SHARED_NS, "kps-other")}
        configs: dict[str, Any] = {}
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(configs) < len(names):
            peers |= _peers(process.pid)
            for key, (namespace, name) in names.items():
                secret = stacks.kubectl("-n", namespace, "get", "secret", f"prometheus-{name}", "-o", "json", check=False)
                if secret.returncode == 0 and _has_our_jobs(config := _config(json.loads(secret.stdout)), key):
                    configs[key] = config
            time.sleep(3)
        peers |= _peers(process.pid)
        assert process.poll() is None, log.read_text()[-3000:]
        assert len(configs) == len(names), f"no configuration for {set(names) - set(configs)}:\n{log.read_text()[-3000:]}"
        yield {"configs": configs, "peers": peers, "log": log, "names": names}
    finally:
        process.terminate()
        process.wait(timeout=30)


def default_prometheus(name: str, selector: dict[str, str]) -> dict[str, Any]:
    """A Prometheus as kube-prometheus-stack's values make it by default (templates/prometheus/
    prometheus.yaml with *SelectorNilUsesHelmValues true): objects of any namespace that carry
    the release label."""
    labelled = {"matchLabels": selector}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": {"name": name, "namespace": SHARED_NS},
        "spec": {
            "serviceMonitorSelector": labelled, "serviceMonitorNamespaceSelector": {},
            "podMonitorSelector": labelled, "podMonitorNamespaceSelector": {},
            "ruleSelector": labelled, "ruleNamespaceSelector": {},
            "probeSelector": labelled, "probeNamespaceSelector": {},
        },
    }


def _config(secret: dict[str, Any]) -> dict[str, Any]:
    return yaml.safe_load(gzip.decompress(base64.b64decode(secret["data"]["prometheus.yaml.gz"])))


def _has_our_jobs(config: dict[str, Any], key: str) -> bool:
    jobs = {j["job_name"] for j in config.get("scrape_configs") or []}
    if key == "other":
        return config is not None  # it selects nothing of ours: any generated config will do
    return all(f"serviceMonitor/{INSTALL}/{t}/0" in jobs for t in TARGETS)


def _peers(pid: int) -> set[str]:
    """The remote ends of the operator's TCP connections right now."""
    out = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True, check=False).stdout
    return {line.split()[4] for line in out.splitlines() if f"pid={pid}," in line}


def _cluster(ws: Workspace, namespace: str) -> dict[str, list[dict[str, Any]]]:
    kinds = {
        "services": "services", "pods": "pods", "endpoints": "endpoints", "endpointslices": "endpointslices.discovery.k8s.io"
    }
    return {key: _json(ws, "-n", namespace, "get", kind)["items"] for key, kind in kinds.items()}


def test_the_operator_talks_to_the_api_server_only(stacks: Workspace, operator: dict[str, Any]) -> None:
    server = re.search(r"server: https://(127\.0\.0\.1:\d+)", Path(stacks.env["KUBECONFIG"]).read_text())
    assert server and operator["peers"] and operator["peers"] <= {server.group(1)}, operator["peers"]
    dials = re.findall(r"dial tcp ([\d.:\[\]a-f]+)", operator["log"].read_text())
    assert all(d.startswith("127.0.0.1") for d in dials), dials


def _jobs(config: dict[str, Any], namespace: str) -> dict[str, dict[str, Any]]:
    prefix = f"serviceMonitor/{namespace}/"
    return {j["job_name"].removeprefix(prefix): j for j in config["scrape_configs"] if j["job_name"].startswith(prefix)}


@pytest.mark.parametrize(("prometheus", "stack"), [("install", INSTALL), ("install", EXISTING), ("default", EXISTING)])
def test_each_monitor_becomes_a_job_scraping_its_own_service(
    stacks: Workspace, operator: dict[str, Any], prometheus: str, stack: str
) -> None:
    config = operator["configs"][prometheus]
    jobs = _jobs(config, stack)
    assert sorted(jobs) == sorted(f"{t}/0" for t in TARGETS), sorted(jobs)
    cluster = {stack: _cluster(stacks, stack)}
    for target, (service, port_name, container_port) in TARGETS.items():
        job = jobs[f"{target}/0"]
        assert [sd["namespaces"]["names"] for sd in job["kubernetes_sd_configs"]] == [[stack]], target
        assert job.get("metrics_path", "/metrics") == "/metrics"
        scraped = scrape.scraped(job, cluster)
        assert scraped, f"{target}: the job keeps no endpoint of {stack}"
        for labels in scraped:
            assert labels["service"] == service and labels["namespace"] == stack, (target, labels)
            assert labels["endpoint"] == port_name and labels["__address__"].endswith(f":{container_port}"), (target, labels)
            assert labels["job"] == target, "the rules select by the instance name"


def test_no_job_of_any_prometheus_scrapes_another_instance_s_objects(stacks: Workspace, operator: dict[str, Any]) -> None:
    """Over every generated job (the chart's own monitors included), the stacks' endpoints are kept
    only by the job meant for them."""
    clusters = {ns: _cluster(stacks, ns) for ns in (INSTALL, EXISTING)}
    for key, config in operator["configs"].items():
        for job in config["scrape_configs"]:
            for labels in scrape.scraped(job, clusters):
                own = f"serviceMonitor/{labels['namespace']}/{labels['job']}/0"
                assert job["job_name"] == own, (key, job["job_name"], labels.get("service"))


def _rule_files(ws: Workspace, namespace: str, prometheus: str) -> dict[str, Any]:
    maps = _json(ws, "-n", namespace, "get", "configmaps", "-l", f"prometheus-name={prometheus}")["items"]
    return {name: yaml.safe_load(text) for m in maps for name, text in (m.get("data") or {}).items()}


@pytest.mark.parametrize(("prometheus", "stack"), [("install", INSTALL), ("default", EXISTING)])
def test_every_rule_reaches_the_generated_rule_files(
    stacks: Workspace, operator: dict[str, Any], prometheus: str, stack: str
) -> None:
    namespace, name = operator["names"][prometheus]
    files = _rule_files(stacks, namespace, name)
    rule = _json(stacks, "-n", stack, "get", "prometheusrule", "monitoring-alerts")
    ours = [text for file, text in files.items() if file.startswith(f"{stack}-monitoring-alerts-")]
    assert len(ours) == 1, sorted(files)
    assert ours[0]["groups"] == rule["spec"]["groups"]
    assert any("/etc/prometheus/rules/" in pattern for pattern in operator["configs"][prometheus]["rule_files"])


def test_a_prometheus_of_another_release_selects_nothing_of_the_stack(stacks: Workspace, operator: dict[str, Any]) -> None:
    """The selector trap, from the other side: labels decide, and ours say kube-prometheus-stack."""
    config = operator["configs"]["other"]
    assert not _jobs(config, EXISTING) and not _jobs(config, INSTALL)
    namespace, name = operator["names"]["other"]
    assert not [f for f in _rule_files(stacks, namespace, name) if "monitoring-alerts" in f]
    labels = _json(stacks, "-n", EXISTING, "get", "servicemonitor", "api")["metadata"]["labels"]
    assert labels.items() >= KPS_SELECTOR.items()


def test_a_wrong_port_label_or_namespace_is_caught(stacks: Workspace, operator: dict[str, Any]) -> None:
    """The check above can fail: a ServiceMonitor with the API's port name, a selector label or its
    namespace selector wrong keeps no endpoint (the operator regenerates the configuration)."""
    original = _json(stacks, "-n", EXISTING, "get", "servicemonitor", "api")
    spec = original["spec"]
    mutants = {
        "port": {**spec, "endpoints": [{**spec["endpoints"][0], "port": "http-typo"}]},
        "label": {**spec, "selector": {"matchLabels": {**spec["selector"]["matchLabels"], "app.kubernetes.io/name": "apii"}}},
        "namespace": {**spec, "namespaceSelector": {"matchNames": [INSTALL]}},
    }
    labels = original["metadata"]["labels"]
    for name, mutant in mutants.items():
        body = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                "metadata": {"name": f"mutant-{name}", "namespace": EXISTING, "labels": labels}, "spec": mutant}
        stacks.kubectl("apply", "-f", "-", stdin=json.dumps(body))
    try:
        namespace, prometheus = operator["names"]["default"]
        deadline, jobs = time.monotonic() + 120, dict[str, Any]()
        while time.monotonic() < deadline and len(jobs) < len(mutants):
            secret = _json(stacks, "-n", namespace, "get", "secret", f"prometheus-{prometheus}")
            jobs = {k: j for k, j in _jobs(_config(secret), EXISTING).items() if k.startswith("mutant-")}
            time.sleep(3)
        assert len(jobs) == len(mutants), sorted(jobs)
        clusters = {ns: _cluster(stacks, ns) for ns in (INSTALL, EXISTING)}
        for key, job in jobs.items():
            kept = [t for t in scrape.scraped(job, clusters) if t.get("service") == "api" and t["namespace"] == EXISTING]
            assert kept == [], f"{key} still keeps the API of {EXISTING}: the check would not catch it"
    finally:
        for name in mutants:
            stacks.kubectl("-n", EXISTING, "delete", "servicemonitor", f"mutant-{name}", "--ignore-not-found", check=False)


def test_operator_binary_is_the_chart_s_version() -> None:
    chart = yaml.safe_load((fetched("charts") / "kube-prometheus-stack" / "Chart.yaml").read_text())
    out = subprocess.run([str(OPERATOR), "--version"], capture_output=True, text=True, check=False)
    assert f"version {chart['appVersion'].removeprefix('v')}" in out.stdout + out.stderr, out
    assert os.access(OPERATOR, os.X_OK)
