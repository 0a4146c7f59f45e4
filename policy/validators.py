"""The platform's invariants as plain functions over resource inputs (no pulumi_policy import).

``rules.py`` wraps them as CrossGuard policies; the tests call them directly with the
resources the mock engine captured. Inputs are the camelCase wire form; under the policy
SDK they arrive as read-only Mapping/Sequence proxies and numbers may be floats, so the
code only uses ``Mapping``/``Sequence`` protocols and compares numbers numerically.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

ENVIRONMENT_LABEL = "platform.example.com/environment"
ENVIRONMENTS = ("dev", "staging", "production", "ephemeral")
# Tags that move (mirrors components/settings/base.py FLOATING_TAGS; a test keeps them equal).
FLOATING_TAGS = frozenset({"latest", "stable", "main", "master", "edge", "dev", "nightly"})
VERSION_LABEL = "app.kubernetes.io/version"
# Kinds that live outside namespaces; every other Kubernetes object needs metadata.namespace.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "APIService",
        "ClusterIssuer",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "GatewayClass",
    }
)
# Data lives in these: production must protect them from a routine delete or destroy.
# Cluster: a CloudNativePG Cluster (postgres mode cloudnativepg): deleting it deletes its volumes.
DATA_KINDS = frozenset({"Namespace", "PersistentVolumeClaim", "PersistentVolume", "StatefulSet", "Cluster"})
# Workloads whose pod template a Service may select.
SELECTABLE_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
SECRET_NAME = re.compile(r"(password|passwd|secret|token|api_?key|private_?key|credential)", re.IGNORECASE)
# An image tag (distribution/reference), matched whole: "1.0\n" is no pin.
IMAGE_TAG = re.compile(r"[\w][\w.-]{0,127}")
SECRET_VALUE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|://[^/\s:@]+:[^/\s@]+@")
DEFAULTS: dict[str, Any] = {
    # Service types allowed; LoadBalancer/NodePort only when the stack's policy config says so.
    "allowedServiceTypes": ["ClusterIP"],
    # Workloads (by app.kubernetes.io/component) that production runs with at least 2 pods.
    "replicatedComponents": ["api"],
    "minProductionReplicas": 2,
}


class Subject(NamedTuple):
    """What a validator sees of one resource: the policy SDK's args or a harness capture."""

    type: str
    props: Mapping[str, Any]
    urn: str = ""
    protect: bool = False

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @property
    def kubernetes(self) -> bool:
        """A Kubernetes object (not Helm/YAML wrappers, not the provider)."""
        group = self.type.split(":")[1] if self.type.count(":") == 2 else ""
        return self.type.startswith("kubernetes:") and not group.startswith(("helm.sh/", "yaml/", "kustomize/"))

    @property
    def metadata(self) -> Mapping[str, Any]:
        return _map(self.props.get("metadata"))

    @property
    def labels(self) -> Mapping[str, Any]:
        return _map(self.metadata.get("labels"))

    @property
    def environment(self) -> str:
        return str(self.labels.get(ENVIRONMENT_LABEL, ""))

    @property
    def title(self) -> str:
        return f"{self.kind} {self.metadata.get('name') or self.urn.rsplit('::', 1)[-1] or '?'}"


ResourceCheck = Callable[[Subject, Mapping[str, Any]], list[str]]
StackCheck = Callable[[Sequence[Subject], Mapping[str, Any]], list[tuple[str, str]]]


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


def setting(config: Mapping[str, Any], key: str) -> Any:
    return config.get(key, DEFAULTS[key])


# ---------------------------------------------------------------- pods and containers


def pod_spec(subject: Subject) -> Mapping[str, Any] | None:
    """The pod template's spec of a workload (or the Pod's own spec); None for other kinds."""
    spec = _map(subject.props.get("spec"))
    if subject.kind == "Pod":
        return spec
    if subject.kind == "CronJob":
        spec = _map(_map(spec.get("jobTemplate")).get("spec"))
    if subject.kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"):
        return _map(_map(spec.get("template")).get("spec"))
    return None


def containers(pod: Mapping[str, Any], init: bool = True) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers") if init else ("containers",):
        yield from (_map(c) for c in _seq(pod.get(key)))


def _per_container(
    subject: Subject, check: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None], init: bool = True
) -> list[str]:
    pod = pod_spec(subject)
    if pod is None:
        return []
    found = []
    for container in containers(pod, init):
        problem = check(container, pod)
        if problem:
            found.append(f"{subject.title}: container {container.get('name', '?')!r} {problem}")
    return found


def _security(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(container.get("securityContext"))


def pinned_image(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    def check(container: Mapping[str, Any], _: Mapping[str, Any]) -> str | None:
        image = str(container.get("image") or "")
        if "@sha256:" in image:
            return None
        name = image.rsplit("/", 1)[-1]
        tag = name.split(":", 1)[1] if ":" in name else ""
        if not image or tag in FLOATING_TAGS or not IMAGE_TAG.fullmatch(tag):
            return f"runs image {image!r}: pin a version tag or a digest (no 'latest' or untagged images)"
        return None

    return _per_container(subject, check)


def resources_set(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    def check(container: Mapping[str, Any], _: Mapping[str, Any]) -> str | None:
        res = _map(container.get("resources"))
        missing = [f"{kind}.{r}" for kind in ("requests", "limits") for r in ("cpu", "memory") if not _map(res.get(kind)).get(r)]
        return f"has no resources {', '.join(missing)}" if missing else None

    return _per_container(subject, check)


def non_root(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    def check(container: Mapping[str, Any], pod: Mapping[str, Any]) -> str | None:
        pod_sc, sc = _map(pod.get("securityContext")), _security(container)
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        user = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if non_root is not True or user is None or float(user) == 0:
            return "must run as non-root: runAsNonRoot true with an explicit non-zero runAsUser"
        return None

    return _per_container(subject, check)


def no_privilege_escalation(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    def check(container: Mapping[str, Any], _: Mapping[str, Any]) -> str | None:
        sc = _security(container)
        if sc.get("allowPrivilegeEscalation") is not False or sc.get("privileged") is True:
            return "must set securityContext.allowPrivilegeEscalation false (and never privileged)"
        drop = [str(c) for c in _seq(_map(sc.get("capabilities")).get("drop"))]
        if "ALL" not in drop:
            return "must drop ALL capabilities"
        return None

    return _per_container(subject, check)


def seccomp_runtime_default(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    def check(container: Mapping[str, Any], pod: Mapping[str, Any]) -> str | None:
        profile = _map(_security(container).get("seccompProfile")) or _map(_map(pod.get("securityContext")).get("seccompProfile"))
        if profile.get("type") not in ("RuntimeDefault", "Localhost"):
            return "needs seccompProfile RuntimeDefault (pod or container securityContext)"
        return None

    return _per_container(subject, check)


def read_only_root(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    def check(container: Mapping[str, Any], _: Mapping[str, Any]) -> str | None:
        if _security(container).get("readOnlyRootFilesystem") is not True:
            return "must set readOnlyRootFilesystem true (mount an emptyDir where it writes)"
        return None

    return _per_container(subject, check)


def probes_set(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    if subject.kind not in ("Deployment", "StatefulSet", "DaemonSet"):
        return []  # Jobs finish; probes are for long-running containers

    def check(container: Mapping[str, Any], _: Mapping[str, Any]) -> str | None:
        missing = [p for p in ("livenessProbe", "readinessProbe") if not container.get(p)]
        return f"is long-running but has no {' or '.join(missing)}" if missing else None

    # Init containers run to completion before the pod starts: they take no probes.
    return _per_container(subject, check, init=False)


def no_service_account_token(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    pod = pod_spec(subject)
    if pod is None or pod.get("automountServiceAccountToken") is False:
        return []
    # Only a pod that calls the Kubernetes API gets a token, and then from its own account.
    if pod.get("serviceAccountName") not in (None, "", "default") and pod.get("automountServiceAccountToken") is True:
        return []
    return [f"{subject.title}: set automountServiceAccountToken false (or true with a dedicated serviceAccountName)"]


def no_literal_secret_env(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    def check(container: Mapping[str, Any], _: Mapping[str, Any]) -> str | None:
        for env in (_map(e) for e in _seq(container.get("env"))):
            name = str(env.get("name", ""))
            if SECRET_NAME.search(name) and not name.endswith("_FILE") and env.get("value") not in (None, ""):
                return f"sets {name} as a literal value: use valueFrom.secretKeyRef or a mounted Secret file"
        return None

    return _per_container(subject, check)


# ---------------------------------------------------------------- objects


def explicit_namespace(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    if subject.type.startswith("kubernetes:helm.sh/"):
        namespace = subject.props.get("namespace")
    elif subject.kubernetes and subject.kind not in CLUSTER_SCOPED and "metadata" in subject.props:
        namespace = subject.metadata.get("namespace")
    else:
        return []
    if not namespace or namespace == "default":
        return [f"{subject.title}: set an explicit metadata.namespace (never empty or 'default')"]
    return []


def environment_label(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    # The production-only rules find production by this label: without it they could not see it.
    if not subject.kubernetes or "metadata" not in subject.props:
        return []
    if subject.environment not in ENVIRONMENTS:
        return [f"{subject.title}: label {ENVIRONMENT_LABEL} must be one of {', '.join(ENVIRONMENTS)} (components/labels.py)"]
    return []


def stable_selectors(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    spec = _map(subject.props.get("spec"))
    selector = _map(spec.get("selector"))
    labels = _map(selector.get("matchLabels")) if subject.kind != "Service" else selector
    if VERSION_LABEL in labels:
        return [f"{subject.title}: selectors are immutable; never select on {VERSION_LABEL}"]
    return []


def service_type(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    if subject.kind != "Service" or not subject.kubernetes:
        return []
    kind = str(_map(subject.props.get("spec")).get("type") or "ClusterIP")
    allowed = [str(t) for t in _seq(setting(config, "allowedServiceTypes"))]
    if kind not in allowed:
        allowed_text = ", ".join(allowed)
        return [f"{subject.title}: type {kind} is not allowed ({allowed_text}); set allowedServiceTypes in the policy config"]
    return []


def no_secrets_in_configmaps(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    if subject.kind != "ConfigMap" or not subject.kubernetes:
        return []
    found = []
    for key, value in _map(subject.props.get("data")).items():
        if SECRET_NAME.search(str(key)) or SECRET_VALUE.search(str(value)) or _secret_ini_line(str(value)):
            found.append(f"{subject.title}: key {key!r} looks like a secret; keep secrets in a Secret")
    return found


def _secret_ini_line(text: str) -> bool:
    """``password = x`` inside a mounted config file (the seed's config.ini had one)."""
    return any(
        SECRET_NAME.search(key) and value.strip()
        for key, sep, value in (line.partition("=") for line in text.splitlines())
        if sep and not key.strip().startswith(("#", ";"))
    )


def protected_data(subject: Subject, config: Mapping[str, Any]) -> list[str]:
    if subject.environment != "production" or subject.kind not in DATA_KINDS or not subject.kubernetes:
        return []
    if not subject.protect:
        return [f"{subject.title}: holds production data; register it with protect=True"]
    return []


# ---------------------------------------------------------------- whole stack


def _scaled_targets(subjects: Sequence[Subject]) -> dict[tuple[str, str, str], Subject]:
    """(namespace, kind, name) of each HPA's scaleTargetRef -> the HPA."""
    targets = {}
    for hpa in (s for s in subjects if s.kind == "HorizontalPodAutoscaler"):
        ref = _map(_map(hpa.props.get("spec")).get("scaleTargetRef"))
        targets[(str(hpa.metadata.get("namespace", "")), str(ref.get("kind", "")), str(ref.get("name", "")))] = hpa
    return targets


def _key(subject: Subject) -> tuple[str, str, str]:
    return (str(subject.metadata.get("namespace", "")), subject.kind, str(subject.metadata.get("name", "")))


def hpa_owns_replicas(subjects: Sequence[Subject], config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An HPA-managed workload must not set spec.replicas (pulumi-kubernetes #2491, #2569)."""
    scaled = _scaled_targets(subjects)
    return [
        (f"{s.title}: is scaled by an HorizontalPodAutoscaler, so it must not set spec.replicas", s.urn)
        for s in subjects
        if _key(s) in scaled and _map(s.props.get("spec")).get("replicas") is not None
    ]


def production_replicas(subjects: Sequence[Subject], config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Production's replicated workloads run at least N pods: HPA minReplicas, else spec.replicas."""
    minimum = float(setting(config, "minProductionReplicas"))
    components = {str(c) for c in _seq(setting(config, "replicatedComponents"))}
    scaled = _scaled_targets(subjects)
    found = []
    for s in subjects:
        if s.environment != "production" or s.kind not in ("Deployment", "StatefulSet"):
            continue
        if s.labels.get("app.kubernetes.io/component") not in components:
            continue
        hpa = scaled.get(_key(s))
        spec = _map((hpa or s).props.get("spec"))
        count = spec.get("minReplicas", 1) if hpa else spec.get("replicas", 1)
        if float(count) < minimum:
            field = "HPA minReplicas" if hpa else "spec.replicas"
            found.append((f"{s.title}: production needs at least {minimum:g} pods ({field} is {float(count):g})", s.urn))
    return found


def _selected_pods(service: Subject, subjects: Sequence[Subject]) -> list[Mapping[str, Any]]:
    """Pod templates, in the Service's namespace, whose labels include its whole selector."""
    selector = _map(_map(service.props.get("spec")).get("selector"))
    namespace = service.metadata.get("namespace")
    found = []
    for workload in subjects:
        if workload.kind not in SELECTABLE_WORKLOADS or not workload.kubernetes:
            continue
        template = _map(_map(workload.props.get("spec")).get("template"))
        labels = _map(_map(template.get("metadata")).get("labels"))
        if workload.metadata.get("namespace") == namespace and all(labels.get(k) == v for k, v in selector.items()):
            found.append(template)
    return found


def services_select_workloads(subjects: Sequence[Subject], config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A Service with a selector selects the pods of a workload of this stack, by port names they declare.

    The provider's Service await does not prove it (it passes a Service with no endpoints after
    10 s) and the platform's Services skip that await (components/labels.py); the workload's
    own await proves those pods ready.
    """
    found = []
    for service in subjects:
        spec = _map(service.props.get("spec"))
        selector = _map(spec.get("selector"))
        if service.kind != "Service" or not service.kubernetes or not selector:
            continue
        templates = _selected_pods(service, subjects)
        if not templates:
            wanted = ", ".join(f"{k}={v}" for k, v in selector.items())
            where = f"no {'/'.join(SELECTABLE_WORKLOADS)} in namespace {service.metadata.get('namespace')}"
            found.append((f"{service.title}: selector {wanted} matches the pods of {where}", service.urn))
            continue
        pods = [_map(t.get("spec")) for t in templates]
        names = {str(_map(p).get("name")) for pod in pods for c in containers(pod) for p in _seq(c.get("ports"))}
        for port in (_map(p) for p in _seq(spec.get("ports"))):
            target = port.get("targetPort")
            if isinstance(target, str) and target not in names:
                declared = ", ".join(sorted(names)) or "none"
                message = f"{service.title}: targetPort {target!r} is no port the selected pods declare ({declared})"
                found.append((message, service.urn))
    return found


RESOURCE_CHECKS: dict[str, tuple[str, ResourceCheck]] = {
    "pinned-images": ("Images name a version tag or digest, never 'latest' or nothing.", pinned_image),
    "container-resources": ("Every container sets cpu and memory requests and limits.", resources_set),
    "non-root": ("Containers run as a non-root user with an explicit UID.", non_root),
    "no-privilege-escalation": ("No privilege escalation, not privileged, all capabilities dropped.", no_privilege_escalation),
    "seccomp-runtime-default": ("Pods use the RuntimeDefault seccomp profile.", seccomp_runtime_default),
    "read-only-root-filesystem": ("Containers have a read-only root filesystem.", read_only_root),
    "container-probes": ("Long-running containers have liveness and readiness probes.", probes_set),
    "no-service-account-token": ("Pods do not mount a service account token unless they call the API.", no_service_account_token),
    "no-literal-secret-env": ("Secret-looking environment variables come from Secrets, not literals.", no_literal_secret_env),
    "explicit-namespace": ("Every namespaced object names its namespace (never 'default').", explicit_namespace),
    "environment-label": ("Every object carries the environment label the production rules rely on.", environment_label),
    "stable-selectors": ("Selectors never use the version label (selectors are immutable).", stable_selectors),
    "service-type": ("Services are ClusterIP unless the policy config allows LoadBalancer/NodePort.", service_type),
    "no-secrets-in-configmaps": ("ConfigMaps hold no passwords, tokens, keys or credentialed URLs.", no_secrets_in_configmaps),
    "protected-production-data": ("Production namespaces, volumes and StatefulSets are protected.", protected_data),
}
STACK_CHECKS: dict[str, tuple[str, StackCheck]] = {
    "hpa-owns-replicas": ("A workload scaled by an HPA does not also set spec.replicas.", hpa_owns_replicas),
    "production-replicas": ("Production's API runs at least 2 pods (HPA minReplicas or replicas).", production_replicas),
    "services-select-workloads": (
        "A Service's selector and port names match the pods of a workload of the stack.",
        services_select_workloads,
    ),
}


def violations(subjects: Sequence[Subject], config: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
    """Every policy's messages for a whole stack: what a preview with this pack would report."""
    config = config or {}
    found: dict[str, list[str]] = {}
    for name, (_, check) in RESOURCE_CHECKS.items():
        found[name] = [m for s in subjects for m in check(s, config)]
    for name, (_, stack_check) in STACK_CHECKS.items():
        found[name] = [m for m, _ in stack_check(subjects, config)]
    return {name: messages for name, messages in found.items() if messages}
