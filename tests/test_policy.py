"""The CrossGuard pack: every stack the harness renders passes it; each broken variant fails.

Only policy/validators.py (plain functions) is imported here; policy/__main__.py constructs the
PolicyPack (a blocking gRPC server) and policy/rules.py needs pulumi-policy, which lives in the
pack's own venv (protobuf 5.x): it is exercised through that venv's interpreter in a subprocess.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from components.labels import labels
from components.settings.base import FLOATING_TAGS
from policy import validators as v
from policy.validators import Subject
from tests.harness import Run

ROOT = Path(__file__).resolve().parent.parent
POLICY_PYTHON = Path(os.environ.get("PLATFORM_POLICY_PYTHON", ROOT / "policy" / "venv" / "bin" / "python"))
POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")


def frozen(value: Any) -> Any:
    """Read-only Mapping/tuple copies, like the policy SDK's proxies: validators must not need dict/list."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: frozen(x) for k, x in value.items()})
    if isinstance(value, list):
        return tuple(frozen(x) for x in value)
    return value


def subject(kind_type: str, props: dict[str, Any], protect: bool = False, urn: str = "") -> Subject:
    return Subject(kind_type, frozen(props), urn or f"urn:pulumi:test::platform::{kind_type}::x", protect)


def subjects(run: Run) -> list[Subject]:
    return [subject(r.type, r.inputs, r.protect, r.urn) for r in run.resources]


# ---------------------------------------------------------------- a compliant reference set

NS = "production"


def meta(name: str, component: str = "api", environment: str = "production") -> dict[str, Any]:
    return {"name": name, "namespace": NS, "labels": labels("api-fpc", "api", component, environment, "1.0.0")}


def reference_deployment(environment: str = "production") -> dict[str, Any]:
    locked = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    container = {
        "name": "api",
        "image": "registry.example.com/platform/api-fpc:1.0.0",
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        "securityContext": locked,
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080.0}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080.0}},
        "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
    }
    return {
        "metadata": meta("api", environment=environment),
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "api-fpc", "app.kubernetes.io/instance": "api"}},
            "template": {
                "metadata": {"labels": labels("api-fpc", "api", "api", environment)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000.0,
                        "runAsGroup": 1000.0,
                        "fsGroup": 1000.0,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                },
            },
        },
    }


def reference_hpa(min_replicas: float = 3.0) -> dict[str, Any]:
    return {
        "metadata": meta("api"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "minReplicas": min_replicas,
            "maxReplicas": 10.0,
        },
    }


def reference_stack() -> list[Subject]:
    return [
        subject("kubernetes:apps/v1:Deployment", reference_deployment()),
        subject("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", reference_hpa()),
        subject(
            "kubernetes:core/v1:Service", {"metadata": meta("api"), "spec": {"selector": {"app.kubernetes.io/name": "api-fpc"}}}
        ),
        subject(
            "kubernetes:core/v1:ConfigMap",
            {"metadata": meta("cfg"), "data": {"LOG_LEVEL": "INFO", "config.ini": "[app]\nname = api\n"}},
        ),
        subject("kubernetes:core/v1:PersistentVolumeClaim", {"metadata": meta("data", "database")}, protect=True),
    ]


@pytest.fixture(scope="module")
def workloads(runs: dict[str, Run]) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, type, inputs) of every pod-bearing object the harness captured, plus the reference."""
    found = [(f"{stack}:{r.name}", r.type, r.inputs) for stack, run in runs.items() for r in run.resources if r.kind in POD_KINDS]
    return [*found, ("reference", "kubernetes:apps/v1:Deployment", reference_deployment())]


# ---------------------------------------------------------------- the real stacks pass


def test_every_stack_passes_every_policy(run: Run) -> None:
    assert v.violations(subjects(run)) == {}


def test_reference_set_passes_every_policy() -> None:
    assert v.violations(reference_stack()) == {}


def test_floating_tags_match_the_config_model() -> None:
    assert set(FLOATING_TAGS) == v.FLOATING_TAGS


def test_production_data_really_is_protected_in_the_harness(runs: dict[str, Run]) -> None:
    """Guards the protect rule against passing vacuously: production registers protected data."""
    data = [s for s in subjects(runs["production"]) if s.kind in v.DATA_KINDS and s.environment == "production"]
    assert data and all(s.protect for s in data)


# ---------------------------------------------------------------- broken variants are rejected


def _first_container(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["containers"][0]


def _sc(pod: dict[str, Any]) -> dict[str, Any]:
    return _first_container(pod).setdefault("securityContext", {})


POD_BREAKERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "pinned-images": lambda pod: _first_container(pod).update(image="docker.io/library/redis:latest"),
    "container-resources": lambda pod: _first_container(pod).setdefault("resources", {}).pop("limits", None),
    "non-root": lambda pod: _sc(pod).update(runAsUser=0.0),
    "no-privilege-escalation": lambda pod: _sc(pod).update(allowPrivilegeEscalation=True),
    "seccomp-runtime-default": lambda pod: _sc(pod).update(seccompProfile={"type": "Unconfined"}),
    "read-only-root-filesystem": lambda pod: _sc(pod).update(readOnlyRootFilesystem=False),
    "container-probes": lambda pod: _first_container(pod).pop("livenessProbe", None),
    "no-service-account-token": lambda pod: pod.pop("automountServiceAccountToken", None),
    "no-literal-secret-env": lambda pod: (
        _first_container(pod).setdefault("env", []).append({"name": "DB_PASSWORD", "value": "supersecret123"})
    ),
}


def _check(name: str) -> v.ResourceCheck:
    return v.RESOURCE_CHECKS[name][1]


@pytest.mark.parametrize("policy", sorted(POD_BREAKERS))
def test_pod_policies_reject_broken_workloads(policy: str, workloads: list[tuple[str, str, dict[str, Any]]]) -> None:
    checked = 0
    for label, kind_type, inputs in workloads:
        if policy == "container-probes" and kind_type.rsplit(":", 1)[-1] not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        assert _check(policy)(subject(kind_type, inputs), {}) == [], f"{label} should pass {policy} before it is broken"
        broken = copy.deepcopy(inputs)
        pod = v.pod_spec(Subject(kind_type, broken))
        assert isinstance(pod, dict) and pod.get("containers"), label
        POD_BREAKERS[policy](pod)
        assert _check(policy)(subject(kind_type, broken), {}), f"{policy} accepted a broken {label}"
        checked += 1
    assert checked >= 1


def test_untagged_and_digest_images() -> None:
    for image, ok in (
        ("redis", False),
        ("registry:5000/redis", False),
        ("redis:7.4.2", True),
        ("redis@sha256:" + "a" * 64, True),
    ):
        deployment = reference_deployment()
        _first_container(deployment["spec"]["template"]["spec"]).update(image=image)
        assert (_check("pinned-images")(subject("kubernetes:apps/v1:Deployment", deployment), {}) == []) is ok, image


def test_service_account_token_needs_a_dedicated_account() -> None:
    deployment = reference_deployment()
    pod = deployment["spec"]["template"]["spec"]
    pod["automountServiceAccountToken"] = True
    assert _check("no-service-account-token")(subject("kubernetes:apps/v1:Deployment", deployment), {})
    pod["serviceAccountName"] = "api"
    assert _check("no-service-account-token")(subject("kubernetes:apps/v1:Deployment", deployment), {}) == []


def test_secret_file_paths_are_not_literal_secrets() -> None:
    deployment = reference_deployment()
    _first_container(deployment["spec"]["template"]["spec"])["env"].append(
        {"name": "POSTGRES_PASSWORD_FILE", "value": "/run/secrets/pw"}
    )
    assert _check("no-literal-secret-env")(subject("kubernetes:apps/v1:Deployment", deployment), {}) == []


def _namespaced(runs: dict[str, Run]) -> list[tuple[str, dict[str, Any]]]:
    objects = [
        (r.type, r.inputs)
        for run in runs.values()
        for r in run.resources
        if r.type.startswith("kubernetes:") and r.kind not in v.CLUSTER_SCOPED and "metadata" in r.inputs
    ]
    assert objects
    return objects


@pytest.mark.parametrize("namespace", [None, "", "default"])
def test_objects_without_an_explicit_namespace_are_rejected(runs: dict[str, Run], namespace: str | None) -> None:
    for kind_type, inputs in _namespaced(runs):
        broken = copy.deepcopy(inputs)
        broken["metadata"]["namespace"] = namespace
        assert _check("explicit-namespace")(subject(kind_type, broken), {}), kind_type
    release = {"name": "kube-prometheus-stack", "chart": "kube-prometheus-stack"}
    assert _check("explicit-namespace")(subject("kubernetes:helm.sh/v3:Release", release), {})
    assert (
        _check("explicit-namespace")(subject("kubernetes:helm.sh/v3:Release", {**release, "namespace": "monitoring"}), {}) == []
    )


def test_objects_without_the_environment_label_are_rejected(runs: dict[str, Run]) -> None:
    for kind_type, inputs in _namespaced(runs):
        broken = copy.deepcopy(inputs)
        broken["metadata"]["labels"].pop(v.ENVIRONMENT_LABEL)
        assert _check("environment-label")(subject(kind_type, broken), {}), kind_type


def test_version_labels_in_selectors_are_rejected() -> None:
    deployment = reference_deployment()
    deployment["spec"]["selector"]["matchLabels"][v.VERSION_LABEL] = "1.0.0"
    assert _check("stable-selectors")(subject("kubernetes:apps/v1:Deployment", deployment), {})
    service = {"metadata": meta("api"), "spec": {"selector": {v.VERSION_LABEL: "1.0.0"}}}
    assert _check("stable-selectors")(subject("kubernetes:core/v1:Service", service), {})


@pytest.mark.parametrize("service_type", ["LoadBalancer", "NodePort"])
def test_exposed_services_need_the_policy_config(service_type: str) -> None:
    service = subject("kubernetes:core/v1:Service", {"metadata": meta("api"), "spec": {"type": service_type}})
    assert _check("service-type")(service, {})
    assert _check("service-type")(service, {"allowedServiceTypes": ["ClusterIP", service_type]}) == []


@pytest.mark.parametrize(
    "data",
    [
        {"DB_PASSWORD": "x"},
        {"url": "postgres://app:hunter2@db:5432/app"},
        {"config.ini": "[db]\npassword = supersecret123\n"},
        {"tls.key": "-----BEGIN RSA PRIVATE KEY-----\nMII...\n"},
    ],
)
def test_secrets_in_configmaps_are_rejected(data: dict[str, str]) -> None:
    assert _check("no-secrets-in-configmaps")(
        subject("kubernetes:core/v1:ConfigMap", {"metadata": meta("cfg"), "data": data}), {}
    )


def test_unprotected_production_data_is_rejected(runs: dict[str, Run]) -> None:
    for s in subjects(runs["production"]):
        if s.kind in v.DATA_KINDS:
            assert _check("protected-production-data")(s._replace(protect=False), {}), s.title
    # Elsewhere data is deliberately unprotected, so review environments can be destroyed.
    for stack in ("dev", "pr-123"):
        assert not any(s.protect for s in subjects(runs[stack]) if s.kind in v.DATA_KINDS)
        assert v.violations(subjects(runs[stack])).get("protected-production-data") is None


def _replace(stack: list[Subject], kind: str, change: Callable[[dict[str, Any]], Any]) -> list[Subject]:
    """The stack with every ``kind`` object changed by ``change`` (on a plain copy of its inputs)."""
    out = []
    for s in stack:
        if s.kind == kind:
            props = json.loads(json.dumps(s.props, default=dict))
            change(props)
            s = subject(s.type, props, s.protect, s.urn)
        out.append(s)
    return out


@pytest.fixture(params=["harness", "reference"])
def production_stack(request: pytest.FixtureRequest, runs: dict[str, Run]) -> list[Subject]:
    """Production as the harness captured it, and the reference set: both have an HPA-scaled API."""
    stack = subjects(runs["production"]) if request.param == "harness" else reference_stack()
    assert [s.labels.get("app.kubernetes.io/component") for s in stack if s.kind == "HorizontalPodAutoscaler"] == ["api"]
    return stack


def test_hpa_managed_workload_must_not_set_replicas(production_stack: list[Subject]) -> None:
    assert v.hpa_owns_replicas(production_stack, {}) == []
    broken = _replace(production_stack, "Deployment", lambda d: d["spec"].update(replicas=3.0))
    assert v.hpa_owns_replicas(broken, {})


def test_production_api_needs_two_pods(production_stack: list[Subject]) -> None:
    assert v.production_replicas(production_stack, {}) == []
    one_pod_hpa = _replace(production_stack, "HorizontalPodAutoscaler", lambda h: h["spec"].update(minReplicas=1.0))
    assert v.production_replicas(one_pod_hpa, {})
    no_hpa = [
        s
        for s in _replace(production_stack, "Deployment", lambda d: d["spec"].update(replicas=1.0))
        if s.kind != "HorizontalPodAutoscaler"
    ]
    assert v.production_replicas(no_hpa, {})
    assert v.production_replicas(no_hpa, {"minProductionReplicas": 1}) == []
    two = [
        s
        for s in _replace(production_stack, "Deployment", lambda d: d["spec"].update(replicas=2.0))
        if s.kind != "HorizontalPodAutoscaler"
    ]
    assert v.production_replicas(two, {}) == []


def test_dev_may_run_one_api_pod(runs: dict[str, Run]) -> None:
    dev = subjects(runs["dev"])
    assert [
        s.props["spec"]["replicas"]
        for s in dev
        if s.labels.get("app.kubernetes.io/component") == "api" and s.kind == "Deployment"
    ] == [1.0]
    assert v.production_replicas(dev, {}) == []


def _services(stack: list[Subject]) -> list[Subject]:
    """Services with a selector (the Ingress's `<api>-denied` has none by design: the policy skips it)."""
    return [s for s in stack if s.kind == "Service" and s.props["spec"].get("selector")]


@pytest.mark.parametrize(
    "break_it",
    [
        lambda svc: svc["spec"]["selector"].update({"app.kubernetes.io/instance": "elsewhere"}),  # a typo'd label
        lambda svc: svc["metadata"].update(namespace="other"),  # the pods live in another namespace
        lambda svc: svc["spec"]["ports"][0].update(targetPort="htpp"),  # a port name no container declares
    ],
    ids=["selector", "namespace", "target-port"],
)
def test_services_that_select_no_pod_of_the_stack_are_rejected(runs: dict[str, Run], break_it: Callable[..., Any]) -> None:
    for stack in ("dev", "production"):
        clean = subjects(runs[stack])
        assert len(_services(clean)) >= 5 and v.services_select_workloads(clean, {}) == []
        selecting = [s for s in clean if s.kind != "Service" or s in _services(clean)]
        broken = _replace(selecting, "Service", break_it)
        flagged = {urn for _, urn in v.services_select_workloads(broken, {})}
        # Every Service of the stack has a selector and a named port: each one is caught.
        assert flagged == {s.urn for s in _services(clean)}, stack


def test_services_may_select_pods_by_port_number_or_not_at_all() -> None:
    stack = reference_stack()
    api = next(s for s in stack if s.kind == "Service")
    by_number = [{"port": 80.0, "targetPort": 8080.0}]
    numbered = {"metadata": meta("api"), "spec": {"selector": dict(api.props["spec"]["selector"]), "ports": by_number}}
    no_selector = {"metadata": meta("external"), "spec": {"ports": [{"port": 5432.0}]}}
    extra = [subject("kubernetes:core/v1:Service", numbered), subject("kubernetes:core/v1:Service", no_selector)]
    assert v.services_select_workloads([*stack, *extra], {}) == []
    without_workload = [s for s in stack if s.kind != "Deployment"]
    assert [urn for _, urn in v.services_select_workloads(without_workload, {})] == [api.urn]


def test_every_policy_has_a_broken_variant() -> None:
    covered = {
        *POD_BREAKERS,
        "explicit-namespace",
        "environment-label",
        "stable-selectors",
        "service-type",
        "no-secrets-in-configmaps",
        "protected-production-data",
        "hpa-owns-replicas",
        "production-replicas",
        "services-select-workloads",
    }
    assert covered == {*v.RESOURCE_CHECKS, *v.STACK_CHECKS}


# ---------------------------------------------------------------- the real pack, in its own venv

SMOKE = """
import json, sys
from pulumi_policy import PolicyResourceOptions, ResourceValidationArgs, StackValidationArgs, PolicyResource
from pulumi_policy.proxy import unknown_checking_proxy
import rules

cases = json.load(sys.stdin)
opts = PolicyResourceOptions(False, [], None, [], None, [], None)
result = {}
for policy in rules.POLICIES:
    found = []
    report = lambda message, urn=None: found.append(message)
    for case in cases:
        props = unknown_checking_proxy(case["props"])
        if hasattr(policy, "validate") and type(policy).__name__ == "ResourceValidationPolicy":
            policy.validate(ResourceValidationArgs(case["type"], props, "urn:x", "x", opts, None, {}), report)
    if type(policy).__name__ == "StackValidationPolicy":
        resources = [
            PolicyResource(c["type"], unknown_checking_proxy(c["props"]), "urn:x", "x", opts, None, None, [], {})
            for c in cases
        ]
        policy.validate(StackValidationArgs(resources, {}), report)
    result[policy.name] = len(found)
print(json.dumps(result))
"""


def test_rules_wire_every_validator_through_pulumi_policy() -> None:
    if not POLICY_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(
                f"{POLICY_PYTHON} missing: python -m venv policy/venv && policy/venv/bin/pip install -r policy/requirements.txt"
            )
        pytest.skip(f"{POLICY_PYTHON} missing (set PLATFORM_POLICY_PYTHON)")
    deployment = reference_deployment()
    deployment["spec"]["replicas"] = 1.0  # breaks hpa-owns-replicas (and nothing else)
    _first_container(deployment["spec"]["template"]["spec"]).update(image="redis:latest")  # breaks pinned-images
    cases = [
        {"type": "kubernetes:apps/v1:Deployment", "props": deployment},
        {"type": "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "props": reference_hpa()},
        # breaks services-select-workloads: its selector matches no pod template
        {"type": "kubernetes:core/v1:Service", "props": {"metadata": meta("api"), "spec": {"selector": {"app": "nothing"}}}},
    ]
    out = subprocess.run(
        [str(POLICY_PYTHON), "-c", SMOKE],
        cwd=ROOT / "policy",
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    counts = json.loads(out.stdout)
    assert set(counts) == {*v.RESOURCE_CHECKS, *v.STACK_CHECKS}
    broken = {"pinned-images", "hpa-owns-replicas", "services-select-workloads"}
    assert {name for name, n in counts.items() if n} == broken, counts
    assert sys.executable != str(POLICY_PYTHON)  # the pack never shares the program's interpreter


# ---------------------------------------------------------------- what mutation testing found unchecked (issue 25)


@pytest.mark.parametrize(("pod_value", "container_value", "allowed"), [
    (True, None, True),  # the pod's setting applies to the container
    (None, True, True),  # the container's own setting is enough
    (True, False, False),  # the container's own setting wins over the pod's
    (None, None, False),
])
def test_run_as_non_root_is_read_from_the_container_first(pod_value: bool | None, container_value: bool | None,
                                                          allowed: bool) -> None:
    deployment = reference_deployment()
    pod = deployment["spec"]["template"]["spec"]
    pod["securityContext"].pop("runAsNonRoot")
    if pod_value is not None:
        pod["securityContext"]["runAsNonRoot"] = pod_value
    if container_value is not None:
        _sc(pod)["runAsNonRoot"] = container_value
    found = v.non_root(subject("kubernetes:apps/v1:Deployment", deployment), {})
    assert (found == []) is allowed, found
