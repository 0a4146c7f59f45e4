"""The per-environment namespace, its guard rails, and program-wide conventions."""

from __future__ import annotations

from environments import load_config
from tests.harness import Run

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
}


def expected_namespace(run: Run) -> str:
    return load_config(run.stack, {}).namespace.name


def test_namespace_with_pod_security_restricted(run: Run) -> None:
    namespace = run.one("Namespace", "env-namespace")
    labels = namespace.metadata["labels"]
    assert namespace.metadata["name"] == expected_namespace(run)
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    assert labels["platform.example.com/environment"] == load_config(run.stack, {}).environment
    assert labels["app.kubernetes.io/managed-by"] == "pulumi"


def test_quota_and_limit_range(run: Run) -> None:
    hard = run.one("ResourceQuota", "env-quota").spec["hard"]
    quota = load_config(run.stack, {}).namespace.quota
    assert hard["requests.cpu"] == quota.requests_cpu and hard["requests.memory"] == quota.requests_memory
    assert hard["pods"] == str(quota.pods) and hard["persistentvolumeclaims"] == str(quota.persistent_volume_claims)
    assert hard["services.loadbalancers"] == "0"
    limits = run.one("LimitRange", "env-limits").spec["limits"][0]
    assert limits["type"] == "Container" and set(limits) >= {"default", "defaultRequest", "max"}


def test_seed_quota_in_dev(runs: dict[str, Run]) -> None:
    hard = runs["dev"].one("ResourceQuota", "env-quota").spec["hard"]
    seen = (hard["requests.cpu"], hard["requests.memory"], hard["persistentvolumeclaims"], hard["pods"])
    assert seen == ("4", "8Gi", "10", "20")


def test_default_deny_and_dns_egress(run: Run) -> None:
    deny = run.one("NetworkPolicy", "env-default-deny").spec
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = run.one("NetworkPolicy", "env-allow-dns").spec
    assert dns["policyTypes"] == ["Egress"] and "ingress" not in dns
    (rule,) = dns["egress"]
    assert {(p["protocol"], int(p["port"])) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}
    assert rule["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


def test_every_namespaced_object_names_its_namespace(run: Run) -> None:
    config = load_config(run.stack, {})
    allowed = {config.namespace.name, config.monitoring.namespace}
    checked = 0
    for resource in run.kubernetes():
        if resource.kind in CLUSTER_SCOPED or resource.kind == "Release":
            continue
        assert resource.metadata.get("namespace") in allowed, f"{resource.kind} {resource.name}: {resource.metadata}"
        checked += 1
    assert checked >= 4


def test_every_kubernetes_object_uses_the_explicit_provider(run: Run) -> None:
    (provider,) = [r for r in run.resources if r.type == "pulumi:providers:kubernetes"]
    assert provider.inputs["enableServerSideApply"] in (True, "true")
    for resource in run.kubernetes():
        assert resource.provider.startswith(provider.urn + "::"), f"{resource.type} {resource.name} uses {resource.provider!r}"


def test_delete_unreachable_only_for_review_environments(runs: dict[str, Run]) -> None:
    def flag(stack: str) -> object:
        (provider,) = [r for r in runs[stack].resources if r.type == "pulumi:providers:kubernetes"]
        return provider.inputs.get("deleteUnreachable")

    assert flag("pr-123") in (True, "true")
    assert all(flag(s) in (False, "false", None) for s in ("dev", "staging", "production"))


def test_production_namespace_is_protected(runs: dict[str, Run]) -> None:
    assert runs["production"].one("Namespace", "env-namespace").protect
    assert runs["staging"].one("Namespace", "env-namespace").retain_on_delete
    for stack in ("dev", "pr-123"):
        namespace = runs[stack].one("Namespace", "env-namespace")
        assert not namespace.protect and not namespace.retain_on_delete


def test_components_are_parents_of_their_objects(run: Run) -> None:
    components = {r.urn: r for r in run.resources if not r.custom}
    assert components, "no component resources registered"
    for resource in run.kubernetes():
        assert resource.parent in components, f"{resource.kind} {resource.name} has no component parent"
    for component in components.values():
        assert component.type.startswith("platform:index:"), component.type


def test_namespace_output(run: Run) -> None:
    assert run.outputs["namespace"] == expected_namespace(run)


def test_the_quota_is_exactly_the_configured_one(run: Run) -> None:
    """A misspelt key is not an error to the API server (any resource name may be quota'd): it just limits nothing."""
    quota = load_config(run.stack, {}).namespace.quota
    assert run.one("ResourceQuota", "env-quota").spec["hard"] == {
        "requests.cpu": quota.requests_cpu, "requests.memory": quota.requests_memory,
        "limits.cpu": quota.limits_cpu, "limits.memory": quota.limits_memory,
        "requests.storage": quota.requests_storage, "persistentvolumeclaims": str(quota.persistent_volume_claims),
        "pods": str(quota.pods), "services": str(quota.services),
        "services.loadbalancers": "0", "services.nodeports": "0",
    }
