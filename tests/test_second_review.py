"""Issue 23, a second outside review: certificates that can be issued, a Gateway that can reach the API,
Guaranteed data pods, digests, and the smaller items of point 9.

The backup items (off-cluster copies, egress, credentials, pruning) are in tests/test_backup_object_store.py,
the API server egress in tests/test_api.py. Each test here reads the whole program under the mock engine or
the config rules, so it fails on the manifests as they were before (main at 1d3dfb9).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.config import config_warnings
from components.environment import MINIMUM_KUBERNETES
from components.errors import ConfigError
from components.validation import parse_quantity
from environments import load_config
from tests.harness import ROOT, Run, run_program
from tools.gates import KUBERNETES_VERSIONS

GATEWAY = {"name": "public", "namespace": "gateways", "sectionName": "https"}


def policy(run: Run, name: str) -> dict[str, Any]:
    (found,) = [p for p in run.of_kind("NetworkPolicy") if p.metadata["name"] == name]
    return found.spec


def pod(run: Run, kind: str, name: str) -> dict[str, Any]:
    obj = next(o for o in run.of_kind(kind) if o.metadata.get("name") == name)
    template = obj.spec["jobTemplate"]["spec"]["template"] if kind == "CronJob" else obj.spec["template"]
    return template["spec"]


PROMETHEUS_PODS = {"app.kubernetes.io/name": "prometheus"}


def admitted_to_api(run: Run) -> list[dict[str, Any]]:
    """The peers the API's ingress policy admits on its app port, Prometheus aside (the seed's app
    serves its metrics there too, issue 19)."""
    spec = policy(run, "api-ingress")
    port = int(load_config(run.stack, {}).api.container_port)
    return [
        peer for rule in spec["ingress"] if {int(p["port"]) for p in rule["ports"]} == {port} for peer in rule["from"]
        if peer.get("podSelector", {}).get("matchLabels") != PROMETHEUS_PODS
    ]


# ---------------------------------------------------------------- 1. HTTP-01 through the default deny


def test_the_controller_reaches_cert_managers_http01_solver_pods(runs: dict[str, Run]) -> None:
    """The Ingress asks a ClusterIssuer for its certificate; cert-manager's solver pods answer on 8089 in this
    namespace, which the default deny closes: the controller must be let in, and only it."""
    run = runs["staging"]
    spec = policy(run, "api-acme-solver")
    assert spec["podSelector"] == {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}}
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8089}]
    assert rule["from"] == admitted_to_api(run)  # the same controller pods the API admits
    # Nothing to solve where no Ingress asks cert-manager (dev, review apps, the Gateway holds the certificate).
    for stack in ("dev", "pr-123"):
        assert not [p for p in runs[stack].of_kind("NetworkPolicy") if p.metadata["name"].endswith("acme-solver")], stack


def test_a_dns01_issuer_opens_nothing() -> None:
    run = run_program("staging", {"ingress": {"tls": {"acmeHttp01": False}}})
    assert run.error is None, run.error
    assert not [p for p in run.of_kind("NetworkPolicy") if p.metadata["name"].endswith("acme-solver")]


# ---------------------------------------------------------------- 2. the Gateway's data plane is admitted


def test_switching_to_a_gateway_admits_its_data_plane_not_the_old_controller() -> None:
    """The README's switch (kind gateway and the Gateway) used to keep admitting only ingress-nginx: an outage."""
    run = run_program("staging", {"ingress": {"kind": "gateway", "gateway": GATEWAY}})
    assert run.error is None, run.error
    assert admitted_to_api(run) == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateways"}},
        "podSelector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "public"}},
    }]
    (route,) = run.of_kind("HTTPRoute")
    assert route.spec["parentRefs"][0]["name"] == "public" and route.spec["parentRefs"][0]["namespace"] == "gateways"


def test_an_implementation_that_runs_its_data_plane_elsewhere_names_it() -> None:
    controller = {"namespace": "envoy-gateway-system", "podLabels": {"gateway.envoyproxy.io/owning-gateway-name": "public"}}
    run = run_program("staging", {"ingress": {"kind": "gateway", "gateway": GATEWAY, "controller": controller}})
    assert run.error is None, run.error
    assert admitted_to_api(run) == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}},
        "podSelector": {"matchLabels": controller["podLabels"]},
    }]


# ---------------------------------------------------------------- 8. production's entry is the Gateway


def test_production_moves_to_the_gateway_by_its_stack_config_only(runs: dict[str, Run]) -> None:
    """Production keeps its Ingress until its stack file says otherwise (no surprise rerouting of a
    running stack); with kind gateway and no controller named, the API admits the Gateway's own pods."""
    assert [r.metadata["name"] for r in runs["production"].of_kind("Ingress") if r.custom] == ["api"]
    gateway = {"name": "public", "namespace": "gateway-system", "sectionName": "https"}
    run = run_program("production", {"ingress": {"kind": "gateway", "gateway": gateway}})
    assert run.error is None, run.error
    (route,) = run.of_kind("HTTPRoute")
    assert route.spec["hostnames"] == ["api.example.com"] and route.spec["parentRefs"][0]["sectionName"] == "https"
    assert admitted_to_api(run) == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway-system"}},
        "podSelector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "public"}},
    }]
    assert not [p for p in admitted_to_api(run) if "ingress-nginx" in str(p)]
    assert run.outputs["publicUrl"] == "https://api.example.com/"


# ---------------------------------------------------------------- 5. Guaranteed data pods


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_data_pods_are_guaranteed(runs: dict[str, Run], stack: str) -> None:
    for store, count in (("postgres", 3), ("redis", 3)):
        containers = pod(runs[stack], "StatefulSet", store)["containers"]
        assert len(containers) == count, "the server, its exporter and its sidecar (Postgres roles, Redis acl-sync)"
        for c in containers:
            requests, limits = c["resources"]["requests"], c["resources"]["limits"]
            for kind in ("cpu", "memory"):
                assert parse_quantity(requests[kind]) == parse_quantity(limits[kind]), f"{store}/{c['name']} {kind}"


@pytest.mark.parametrize(
    "key", ["postgres.resources", "postgres.metrics.resources", "redis.resources", "redis.metrics.resources"]
)
def test_config_refuses_burstable_data_cpu_naming_the_key(key: str) -> None:
    group, *rest = key.split(".")
    burstable: dict[str, Any] = {"requests": {"cpu": "50m"}, "limits": {"cpu": "100m"}}
    for part in reversed(rest):
        burstable = {part: burstable}
    with pytest.raises(ConfigError) as error:
        load_config("production", {group: burstable})
    assert f"platform:{key}.requests.cpu: 50m must equal {key}.limits.cpu 100m in production" in str(error.value)
    load_config("dev", {group: burstable})  # dev may burst


# ---------------------------------------------------------------- 7. digests


def test_a_digest_is_pulled_if_not_present_a_tag_always() -> None:
    digest = "sha256:" + "b" * 64
    run = run_program("production", {"redis": {"image": {"digest": digest}}})
    assert run.error is None, run.error
    containers = {c["name"]: c for c in pod(run, "StatefulSet", "redis")["containers"]}
    redis, exporter = containers["redis"], containers["metrics"]
    assert redis["image"].endswith(f"@{digest}") and redis["imagePullPolicy"] == "IfNotPresent"
    assert exporter["imagePullPolicy"] == "Always"  # a tag alone: a re-pushed tag is pulled everywhere alike


def test_production_names_every_image_without_a_digest() -> None:
    (warning,) = [w for w in config_warnings(load_config("production", {})) if "runs images by tag only" in w]
    for key in ("api.image", "postgres.image", "postgres.metrics.image", "redis.image", "redis.metrics.image",
                "postgres.backup.objectStore.image"):
        assert f"{key}.digest" in warning
    assert not [w for w in config_warnings(load_config("staging", {})) if "runs images by tag only" in w]


# ---------------------------------------------------------------- 9. the smaller items


def test_metrics_ports_admit_the_prometheus_pods_only(runs: dict[str, Run]) -> None:
    """Not the monitoring namespace as a whole (Grafana, Alertmanager, a log shipper)."""
    run = runs["staging"]
    prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": PROMETHEUS_PODS},
    }
    # The seed's app serves its metrics on 8080 (issue 19).
    for name, port in (("api-ingress", 8080), ("postgres", 9187), ("redis", 9121)):
        rules = [r for r in policy(run, name)["ingress"] if {int(p["port"]) for p in r["ports"]} == {port}]
        from_monitoring = [peer for r in rules for peer in r["from"] if '"monitoring"' in json.dumps(peer)]
        assert from_monitoring == [prometheus], name
    custom = run_program("staging", {"monitoring": {"prometheusPodLabels": {"prometheus": "shared"}}})
    assert custom.error is None, custom.error
    (rule,) = [r for r in policy(custom, "redis")["ingress"] if {int(p["port"]) for p in r["ports"]} == {9121}]
    assert rule["from"][0]["podSelector"] == {"matchLabels": {"prometheus": "shared"}}


def test_data_and_backup_pods_have_their_own_service_accounts(runs: dict[str, Run]) -> None:
    run = runs["staging"]
    accounts = {a.metadata["name"]: a for a in run.of_kind("ServiceAccount")}
    for kind, name in (("StatefulSet", "postgres"), ("StatefulSet", "redis"), ("CronJob", "postgres-backup")):
        spec = pod(run, kind, name)
        assert spec["serviceAccountName"] == name and spec["automountServiceAccountToken"] is False, name
        assert accounts[name].inputs["automountServiceAccountToken"] is False, name


def test_dns_egress_also_reaches_the_node_local_cache(runs: dict[str, Run]) -> None:
    (rule,) = policy(runs["production"], "allow-dns-egress")["egress"]
    assert {"ipBlock": {"cidr": "169.254.20.10/32"}} in rule["to"]
    assert any("podSelector" in peer for peer in rule["to"])  # CoreDNS itself still
    run = run_program("staging", {"namespace": {"dnsAddresses": ["169.254.20.10/32", "10.96.0.10/32"]}})
    assert run.error is None, run.error
    (rule,) = policy(run, "allow-dns-egress")["egress"]
    assert {"ipBlock": {"cidr": "10.96.0.10/32"}} in rule["to"]
    with pytest.raises(ConfigError, match=r"platform:namespace.dnsAddresses.0: .*CIDR"):
        load_config("staging", {"namespace": {"dnsAddresses": ["kube-dns"]}})


def test_pod_security_enforce_is_pinned_to_the_oldest_supported_kubernetes(runs: dict[str, Run]) -> None:
    (namespace,) = runs["production"].of_kind("Namespace")
    labels = namespace.metadata["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == f"v{MINIMUM_KUBERNETES}"
    assert labels["pod-security.kubernetes.io/warn-version"] == "latest"  # a tightening shows up as a warning first


def test_the_minimum_kubernetes_is_stated_and_the_schema_gate_checks_it() -> None:
    oldest = min(KUBERNETES_VERSIONS, key=lambda v: tuple(int(p) for p in v.split(".")))
    assert oldest.startswith(f"{MINIMUM_KUBERNETES}.")
    assert f"Kubernetes ≥ {MINIMUM_KUBERNETES}" in (ROOT / "README.md").read_text()


def test_redis_takes_no_rdb_snapshots_and_keeps_room_for_the_aof_fork() -> None:
    with pytest.raises(ConfigError, match=r"platform:redis.maxmemory: 384Mi must be at most half of"):
        load_config("staging", {"redis": {"maxmemory": "384Mi"}})
    load_config("staging", {"redis": {"maxmemory": "256Mi"}})


def test_a_postgres_major_bump_is_refused_unless_declared() -> None:
    with pytest.raises(ConfigError, match=r"platform:postgres.image.tag: '18.1-alpine' is major version 18, but "
                                          r"postgres.majorVersion is 17"):
        load_config("production", {"postgres": {"image": {"tag": "18.1-alpine"}}})
    declared = load_config("production", {"postgres": {"image": {"tag": "18.1-alpine"}, "majorVersion": 18}})
    assert declared.postgres.major_version == 18
    load_config("production", {"postgres": {"image": {"tag": "17.12-alpine"}}})  # a minor update needs nothing


def test_turning_autoscaling_on_hands_the_replica_count_over_first() -> None:
    """Server-side apply drops `replicas` when the program stops setting it, and the API server resets it to 1
    until the HPA acts. The README's procedure gives the field to another manager before that `up`."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- autoscaling-handover -->\n```sh\n(.*?)```", readme, re.DOTALL)
    assert found, "README.md has no block marked autoscaling-handover"
    block = found.group(1)
    assert "--server-side" in block and "--field-manager=" in block and "kind: Deployment" in block
    assert re.search(r"replicas: \$REPLICAS", block) and "name: api" in block


def test_a_missing_object_store_secret_fails_the_upload_at_once() -> None:
    store = {"endpoint": "s3.example.com", "bucket": "backups", "existingSecret": "backup-s3"}
    run = run_program("staging", {"postgres": {"backup": {"objectStore": store}}})
    assert run.error is None, run.error
    spec = pod(run, "CronJob", "postgres-backup")
    (volume,) = [v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == "backup-s3"]
    assert volume["secret"]["optional"] is True  # the pod starts; without the Secret it would wait 6 h
    script = spec["containers"][0]["command"][-1]
    assert "postgres.backup.objectStore.existingSecret: the Secret is missing" in script and "exit 1" in script
