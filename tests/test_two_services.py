"""examples/two-services under the mock engine, importing the installed wheel: two ApiServices,
one shared Postgres and a Redis each in one namespace, with no collisions and exact policies."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tools.engine import ROOT, Registered, Run, run_program
from tools.library import install

EXAMPLE = ROOT / "examples" / "two-services"
NAMESPACE = "two-services"  # Pulumi.dev.yaml
WORKLOADS = {"api", "worker", "db", "api-cache", "worker-cache"}
# Every in-namespace connection the example intends: (client, server, port).
INTENDED = {("api", "db", 5432), ("worker", "db", 5432), ("api", "api-cache", 6379), ("worker", "worker-cache", 6379)}
# Prometheus (the monitoring namespace) scrapes each workload's private metrics port, nothing else.
SCRAPED = {("api", 9797), ("worker", 9798), ("db", 9187), ("api-cache", 9121), ("worker-cache", 9121)}


def run_installed(tmp_path_factory: pytest.TempPathFactory, example: Path, stack: str) -> Run:
    """An example program under the mock engine, importing the wheel as a user's program would."""
    target = str(install(tmp_path_factory.mktemp("library")))
    sys.path.insert(0, target)
    try:
        run = run_program(stack, root=example)
    finally:
        sys.path.remove(target)
    assert run.error is None, run.error
    return run


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_installed(tmp_path_factory, EXAMPLE, "dev")


def _int(value: Any) -> Any:
    return int(value) if isinstance(value, float) else value  # mocked numbers arrive as floats


def pod_templates(run: Run) -> dict[str, tuple[dict[str, str], set[int]]]:
    """{workload name: (pod labels, container ports)} of the Deployments and StatefulSets."""
    result = {}
    for r in run.of_kind("Deployment") + run.of_kind("StatefulSet"):
        template = r.spec["template"]
        ports = {_int(p["containerPort"]) for c in template["spec"]["containers"] for p in c.get("ports", [])}
        result[r.metadata["name"]] = (template["metadata"]["labels"], ports)
    return result


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def admits(rules: list[dict[str, Any]], peer_key: str, labels: dict[str, str], port: int) -> bool:
    """Does one of the rules let a pod of this namespace with ``labels`` through on ``port``?"""
    for rule in rules:
        ports = {_int(p["port"]) for p in rule.get("ports", [])}
        if ports and port not in ports:
            continue
        peers = rule.get(peer_key)
        if peers is None or any("namespaceSelector" not in p and selects(p.get("podSelector", {}), labels) for p in peers):
            return True
    return False


def allowed(run: Run, src: dict[str, str], dst: dict[str, str], port: int) -> bool:
    """Kubernetes' semantics: a direction is open when no policy of its type selects the pod,
    or when one that does admits the peer."""
    policies = [p.spec for p in run.of_kind("NetworkPolicy")]

    def direction(kind: str, pod: dict[str, str], peer: dict[str, str], key: str, rules: str) -> bool:
        applying = [p for p in policies if kind in p["policyTypes"] and selects(p["podSelector"], pod)]
        return not applying or any(admits(p.get(rules, []), key, peer, port) for p in applying)

    return direction("Ingress", dst, src, "from", "ingress") and direction("Egress", src, dst, "to", "egress")


def test_every_workload_is_there_once(example: Run) -> None:
    assert set(pod_templates(example)) == WORKLOADS
    assert len(example.of_kind("Deployment")) == 2 and len(example.of_kind("StatefulSet")) == 3


def test_object_names_are_unique_per_kind_and_namespace(example: Run) -> None:
    named = [(r.kind, r.metadata.get("namespace"), r.metadata["name"]) for r in example.kubernetes() if r.metadata.get("name")]
    assert [key for key, count in Counter(named).items() if count > 1] == []
    # Selectors too: no two workloads' pods share one.
    selectors = [tuple(sorted(r.spec["selector"]["matchLabels"].items())) for r in example.of_kind("StatefulSet")]
    selectors += [tuple(sorted(r.spec["selector"]["matchLabels"].items())) for r in example.of_kind("Deployment")]
    assert len(set(selectors)) == len(WORKLOADS)


def flows(run: Run) -> set[tuple[str, str, int]]:
    """(client, server, port) of every connection between two workloads that the policies let through."""
    pods = pod_templates(run)
    return {
        (client, server, port)
        for client, (client_labels, _) in pods.items()
        for server, (server_labels, ports) in pods.items()
        for port in ports
        if client != server and allowed(run, client_labels, server_labels, port)
    }


def test_policies_admit_exactly_the_intended_flows(example: Run) -> None:
    assert flows(example) == INTENDED


def test_only_the_monitoring_namespace_scrapes_and_only_metrics(example: Run) -> None:
    pods = pod_templates(example)
    scraped = set()
    for policy in example.of_kind("NetworkPolicy"):
        for rule in policy.spec.get("ingress", []):
            if any("namespaceSelector" in peer for peer in rule["from"]):
                targets = [name for name, (labels, _) in pods.items() if selects(policy.spec["podSelector"], labels)]
                scraped |= {(name, _int(p["port"])) for name in targets for p in rule["ports"]}
    assert scraped == SCRAPED


def _services(run: Run) -> list[Registered]:
    return [s for s in run.of_kind("Service") if s.metadata["namespace"] == NAMESPACE]


def test_each_service_monitor_selects_exactly_its_own_service(example: Run) -> None:
    monitors = example.of_kind("ServiceMonitor")
    own = {"api": "api", "worker": "worker", "db": "db-metrics", "api-cache": "api-cache-metrics",
           "worker-cache": "worker-cache-metrics"}
    assert {m.metadata["name"] for m in monitors} == set(own)
    for monitor in monitors:
        name = monitor.metadata["name"]
        matched = [s.metadata["name"] for s in _services(example) if selects(monitor.spec["selector"], s.metadata["labels"])]
        assert matched == [own[name]], name
        # Its job label is the instance name: the rules and dashboards below select by it.
        assert monitor.spec["endpoints"][0]["relabelings"][0]["replacement"] == name


def test_rules_and_dashboards_follow_each_instance(example: Run) -> None:
    groups = example.one("PrometheusRule").spec["groups"]
    names = [g["name"] for g in groups]
    assert len(names) == len(set(names)), names  # Prometheus rejects duplicate groups
    text = str(groups)
    jobs = {job for job in WORKLOADS if f'job="{job}"' in text}
    assert jobs == WORKLOADS
    assert 'job="postgres"' not in text and 'job="redis"' not in text
    boards = {c.metadata["name"]: c for c in example.of_kind("ConfigMap") if c.metadata["labels"].get("grafana_dashboard")}
    assert set(boards) == {f"monitoring-dashboard-{w}" for w in WORKLOADS}, "named after the Monitoring instance"
    board = boards["monitoring-dashboard-worker-cache"].inputs["data"]["worker-cache.json"]
    assert 'job=\\"worker-cache\\"' in board and 'job=\\"redis\\"' not in board


def test_a_consumers_components_go_with_the_namespace(example: Run) -> None:
    """Dev: every component in the namespace is deletedWith it (destroy deletes one object, as fast as
    `kubectl delete namespace`), runs after it and with the Environment's provider, without the
    consumer passing any option."""
    namespace = example.one("Namespace").urn
    provider = next(r for r in example.resources if r.type == "pulumi:providers:kubernetes")
    placed = [r for r in example.resources if r.type in ("platform:index:Postgres", "platform:index:Redis",
                                                           "platform:index:ApiService")]
    assert len(placed) == 5
    for component in placed:
        assert component.deleted_with == namespace, component.name
        assert any("platform:index:Environment$" in d for d in component.depends_on), component.name
    for obj in example.kubernetes():
        assert obj.provider.startswith(provider.urn), obj.name
