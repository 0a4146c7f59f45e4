"""Issue 15, from an outside review: private metrics, data pods that are not evicted first,
bounded scratch space, and monitoring outputs that claim only what the stack knows.

Each test reads the whole program's objects under the mock engine (or the config rules), so
it fails on the manifests as they were before the fix.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.errors import ConfigError
from components.validation import parse_quantity
from environments import load_config
from tests.harness import Run, run_program

GATEWAY = {"name": "public", "namespace": "gateways", "sectionName": "https"}


def gateway_ingress(stack: str) -> dict[str, Any]:
    """The stack's own ingress settings, as kind 'gateway' (an override replaces the whole group)."""
    host = load_config(stack, {}).ingress.host
    return {"kind": "gateway", "host": host, "tls": {"enabled": True, "clusterIssuer": "letsencrypt"}, "gateway": GATEWAY}


@pytest.fixture(scope="module")
def gateway_runs() -> dict[str, Run]:
    """Gateway mode, for an app with a metrics port (the default) and one without."""
    runs = {
        stack: run_program(stack, {"ingress": gateway_ingress(stack)}) for stack in ("staging", "production")
    }
    runs["no-metrics-port"] = run_program(
        "production", {"ingress": gateway_ingress("production"), "api": {"metricsPort": None}}
    )
    for name, run in runs.items():
        assert run.error is None, f"{name}: {run.error}"
    return runs


# ---------------------------------------------------------------- 1. metrics stay private


def _objects(run: Run, kind: str) -> list[Any]:
    """Kubernetes objects only (the component ``platform:index:Ingress`` has the same last word)."""
    return [r for r in run.kubernetes() if r.kind == kind]


def _api_service_port(run: Run, number: int | None = None, name: str | None = None) -> dict[str, Any]:
    (service,) = [s for s in run.of_kind("Service") if s.metadata.get("name") == "api"]
    return next(p for p in service.spec["ports"] if p["port"] == number or p["name"] == name)


def _container_port(run: Run, target: str | int) -> int:
    """A Service targetPort (a name or a number) as the API container's port number."""
    (deployment,) = run.of_kind("Deployment")
    (api,) = deployment.spec["template"]["spec"]["containers"]
    return next(int(p["containerPort"]) for p in api["ports"] if target in (p["name"], p["containerPort"]))


def _scraped(run: Run) -> tuple[int, str]:
    """(container port, path) the API's ServiceMonitor scrapes."""
    (endpoint,) = next(m for m in run.of_kind("ServiceMonitor") if m.metadata["name"] == "api").spec["endpoints"]
    return _container_port(run, _api_service_port(run, name=endpoint["port"])["targetPort"]), endpoint["path"]


def _public_routes(run: Run) -> list[tuple[str, str, int | None]]:
    """(match type, path, container port or None for 'no backend') of every public route to the API."""
    routes: list[tuple[str, str, int | None]] = []
    for ingress in _objects(run, "Ingress"):
        for rule in ingress.spec["rules"]:
            for path in rule["http"]["paths"]:
                port = int(path["backend"]["service"]["port"]["number"])
                target = _api_service_port(run, number=port)["targetPort"]
                routes.append((path["pathType"], path["path"], _container_port(run, target)))
    for route in _objects(run, "HTTPRoute"):
        for rule in route.spec["rules"]:
            refs = rule.get("backendRefs") or []
            ports = [_container_port(run, _api_service_port(run, number=int(r["port"]))["targetPort"]) for r in refs]
            for match in rule["matches"]:
                routes.append((match["path"]["type"], match["path"]["value"], ports[0] if ports else None))
    return routes


def _publicly_reaches(run: Run, port: int, path: str) -> bool:
    """Whether a request for ``path`` through a public route lands on container ``port``. An Exact
    match wins; else the longest matching prefix (Ingress Prefix and HTTPRoute PathPrefix both match
    whole path elements). A match type this helper does not model fails the test, never passes it."""
    routes = _public_routes(run)
    unknown = {kind for kind, _, _ in routes} - {"Exact", "Prefix", "PathPrefix"}
    assert not unknown, f"route match types the test cannot judge: {unknown}"
    exact = [target for kind, value, target in routes if kind == "Exact" and path == value]
    prefixes = [(value, target) for kind, value, target in routes
                if kind != "Exact" and (path == value or path.startswith(value.rstrip("/") + "/"))]
    if exact:
        return exact[0] == port
    if not prefixes:
        return False
    _, target = max(prefixes, key=lambda route: len(route[0]))
    return target == port


@pytest.mark.parametrize("stack", ["staging"])
def test_metrics_are_not_routed_publicly_by_the_ingress(runs: dict[str, Run], stack: str) -> None:
    run = runs[stack]
    assert _objects(run, "Ingress"), "the test needs a public route to look at"
    port, path = _scraped(run)
    assert _publicly_reaches(run, _container_port(run, "http"), "/"), "the public route must still reach the API"
    assert not _publicly_reaches(run, port, path), f"https://<host>{path} reaches the port Prometheus scrapes ({port})"


@pytest.mark.parametrize("variant", ["staging", "production", "no-metrics-port"])
def test_metrics_are_not_routed_publicly_by_the_http_route(gateway_runs: dict[str, Run], variant: str) -> None:
    run = gateway_runs[variant]
    port, path = _scraped(run)
    assert _publicly_reaches(run, _container_port(run, "http"), "/")
    assert not _publicly_reaches(run, port, path)
    # Denied outright too (apps such as podinfo serve metrics on the app port as well).
    assert not _publicly_reaches(run, _container_port(run, "http"), path)
    assert not _publicly_reaches(run, _container_port(run, "http"), path + "/extra")


def test_an_ingress_cannot_hide_metrics_served_on_the_app_port() -> None:
    with pytest.raises(ConfigError, match=r"platform:api.metricsPort: null serves /metrics on the port the Ingress exposes"):
        load_config("staging", {"api": {"metricsPort": None}})
    with pytest.raises(ConfigError, match=r"platform:api: metricsPort 8080 must differ from containerPort"):
        load_config("production", {"api": {"metricsPort": 8080}})
    assert load_config("dev", {"api": {"metricsPort": None}}).api.metrics_port is None  # nothing exposed in dev


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_prometheus_reaches_the_metrics_port_and_the_controller_does_not(runs: dict[str, Run], stack: str) -> None:
    run = runs[stack]
    port, _ = _scraped(run)
    assert port != _container_port(run, "http")
    policy = next(p for p in run.of_kind("NetworkPolicy") if p.metadata["name"] == "api-ingress")
    admitted: dict[str, set[int]] = {}
    for rule in policy.spec["ingress"]:
        for peer in rule["from"]:
            namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            admitted.setdefault(namespace, set()).update(int(p["port"]) for p in rule["ports"])
    assert admitted["monitoring"] == {port}
    controller = {"staging": "ingress-nginx", "production": "ingress-nginx"}.get(stack)
    if controller:
        assert admitted[controller] == {_container_port(run, "http")}


def test_dev_podinfo_opens_its_metrics_port() -> None:
    """podinfo (6.7.1) serves /metrics on --port-metrics, read from PODINFO_PORT_METRICS (viper)."""
    api = load_config("dev", {}).api
    assert api.image.repository == "ghcr.io/stefanprodan/podinfo"
    assert api.env["PODINFO_PORT_METRICS"] == str(api.metrics_port)


# ---------------------------------------------------------------- 2. data pods are not evicted first


def _pod(run: Run, kind: str, name: str) -> dict[str, Any]:
    obj = next(o for o in run.of_kind(kind) if o.metadata.get("name") == name)
    template = obj.spec["jobTemplate"]["spec"]["template"] if kind == "CronJob" else obj.spec["template"]
    return template["spec"]


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_data_pods_request_all_the_memory_they_may_use(runs: dict[str, Run], stack: str) -> None:
    for store in ("postgres", "redis"):
        for c in _pod(runs[stack], "StatefulSet", store)["containers"]:
            requests, limits = c["resources"]["requests"], c["resources"]["limits"]
            assert parse_quantity(requests["memory"]) == parse_quantity(limits["memory"]), f"{store}/{c['name']}"


@pytest.mark.parametrize("stack", ["dev", "pr-123"])
def test_dev_data_pods_stay_small_and_burstable(runs: dict[str, Run], stack: str) -> None:
    for store in ("postgres", "redis"):
        (main, *_) = _pod(runs[stack], "StatefulSet", store)["containers"]
        requests, limits = main["resources"]["requests"], main["resources"]["limits"]
        assert parse_quantity(requests["memory"]) < parse_quantity(limits["memory"]) <= 512 * 2**20, store


@pytest.mark.parametrize(
    ("stack", "key", "raw"),
    [
        ("staging", "postgres.resources", {"postgres": {"resources": {"requests": {"cpu": "250m", "memory": "512Mi"},
                                                                      "limits": {"cpu": "1", "memory": "1Gi"}}}}),
        ("production", "redis.resources", {"redis": {"resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                                                                   "limits": {"cpu": "500m", "memory": "384Mi"}}}}),
        ("production", "redis.metrics.resources", {"redis": {"metrics": {"resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}}}}),
        # The exporter sidecar counts too: one burstable container makes the whole pod Burstable.
        ("staging", "postgres.metrics.resources", {"postgres": {"metrics": {"resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}}}}),
    ],
)
def test_config_refuses_burstable_data_memory_in_staging_and_production(stack: str, key: str, raw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(stack, raw)
    assert f"platform:{key}.requests.memory:" in str(error.value) and f"must equal {key}.limits.memory" in str(error.value)
    load_config("dev", raw)  # dev may burst


@pytest.mark.parametrize("store", ["postgres", "redis"])
def test_a_disabled_exporter_is_not_held_to_the_rule(store: str) -> None:
    burstable = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
    config = load_config("production", {store: {"metrics": {"enabled": False, "resources": burstable}}})
    assert not getattr(config, store).metrics.enabled


def test_priority_classes_are_referenced_never_created() -> None:
    raw = {
        "api": {"priorityClassName": "platform-api"},
        "postgres": {"priorityClassName": "platform-data", "backup": {"priorityClassName": "platform-batch"}},
        "redis": {"priorityClassName": "platform-data"},
    }
    run = run_program("staging", raw)
    assert run.error is None, run.error
    assert _pod(run, "Deployment", "api")["priorityClassName"] == "platform-api"
    assert _pod(run, "StatefulSet", "postgres")["priorityClassName"] == "platform-data"
    assert _pod(run, "StatefulSet", "redis")["priorityClassName"] == "platform-data"
    assert _pod(run, "CronJob", "postgres-backup")["priorityClassName"] == "platform-batch"
    assert not run.of_kind("PriorityClass")


def test_no_priority_class_by_default(runs: dict[str, Run]) -> None:
    pods = [_pod(runs["production"], kind, name) for kind, name in
            (("Deployment", "api"), ("StatefulSet", "postgres"), ("StatefulSet", "redis"), ("CronJob", "postgres-backup"))]
    assert all("priorityClassName" not in pod for pod in pods)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # Every system-* name is reserved (the API server admits them in kube-system only), not just one.
        ("system-cluster-critical", "reserved for kube-system"),
        ("system-node-critical", "reserved for kube-system"),
        ("system-platform", "reserved for kube-system"),
        ("Data_Critical", "is not a PriorityClass name"),
    ],
)
def test_priority_class_names_are_checked(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"platform:postgres.priorityClassName: .*{message}"):
        load_config("production", {"postgres": {"priorityClassName": value}})


@pytest.mark.parametrize("value", ["systemd-batch", "system", "platform-system-data", "platform.data"])
def test_names_that_only_resemble_the_reserved_prefix_are_accepted(value: str) -> None:
    assert load_config("production", {"postgres": {"priorityClassName": value}}).postgres.priority_class_name == value


# ---------------------------------------------------------------- 3. bounded scratch space


def _data_pods(run: Run) -> list[tuple[str, dict[str, Any]]]:
    pods = [(store, _pod(run, "StatefulSet", store)) for store in ("postgres", "redis")]
    if run.of_kind("CronJob"):
        pods.append(("postgres-backup", _pod(run, "CronJob", "postgres-backup")))
    return pods


def test_every_data_empty_dir_is_bounded_and_counted(run: Run) -> None:
    for owner, pod in _data_pods(run):
        sizes = {v["name"]: parse_quantity(v["emptyDir"]["sizeLimit"]) for v in pod["volumes"] if "emptyDir" in v}
        assert sizes, f"{owner}: the test needs emptyDirs to look at"
        for c in pod["containers"]:
            mounted = [sizes[m["name"]] for m in c.get("volumeMounts", []) if m["name"] in sizes]
            if not mounted:
                continue
            requests, limits = c["resources"]["requests"], c["resources"]["limits"]
            # The scheduler reserves the disk the container may fill, and the kubelet bounds it.
            assert parse_quantity(requests["ephemeral-storage"]) == parse_quantity(limits["ephemeral-storage"]) >= sum(mounted), (
                f"{owner}/{c['name']}"
            )


def test_an_emptydir_data_volume_is_bounded_by_the_configured_size() -> None:
    run = run_program("pr-7", {"redis": {"persistence": {"enabled": False, "size": "2Gi"}}})
    assert run.error is None, run.error
    volumes = {v["name"]: v for v in _pod(run, "StatefulSet", "redis")["volumes"]}
    assert volumes["data"]["emptyDir"] == {"sizeLimit": "2Gi"}


# ---------------------------------------------------------------- monitoring outputs, mode existing


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_existing_monitoring_outputs_claim_only_what_the_stack_knows(runs: dict[str, Run], stack: str) -> None:
    hints = runs[stack].outputs["monitoring"]
    assert not [value for value in hints.values() if "kube-prometheus-stack-" in value], hints  # names it cannot know
    assert not [key for key in hints if key.endswith(("Url", "PortForward"))], hints
    assert hints["mode"] == "existing" and hints["selectorLabels"] == "release=kube-prometheus-stack"
    assert "the cluster's monitoring stack" in hints["note"]
    assert hints["prometheusLookup"] == "kubectl get prometheuses.monitoring.coreos.com --all-namespaces"
    assert hints["platformObjects"].endswith("-l release=kube-prometheus-stack")
