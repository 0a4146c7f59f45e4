"""The web API: its Deployment, Service, autoscaler, disruption budget, config and network policies.

The seed's contract (port 8080, /health, /ready, /metrics, env + /app/config/config.ini) is
configured entirely by ``ApiConfig``; the database and cache arrive as connection objects,
whose passwords reach the pods only as ``secretKeyRef``s to the Secrets those components made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .config import ApiConfig, IngressController, Probe
from .connections import MetricsTarget, PostgresConnection, RedisConnection, SecretKeyRef
from .labels import SKIP_SERVICE_AWAIT, labels, metadata, selector_labels, with_name

NAME = "api"  # the default instance name: its Deployment, Service and friends, and the app label
COMPONENT = "api"  # the app.kubernetes.io/component label and the rules/dashboard template
SERVICE_PORT = 80
METRICS_PORT_NAME = "metrics"  # the app's private metrics port: no public route points at it
CONFIG_DIR = "/app/config"
DATA_DIR = "/app/data"
# A justified, per-object Checkov exception (not a global skip): the seed's API reads its
# passwords from DB_PASSWORD/REDIS_PASSWORD; they arrive by secretKeyRef, never as literals.
CHECKOV_EXCEPTIONS = {"checkov.io/skip1": "CKV_K8S_35=the API contract reads passwords from env, set by secretKeyRef"}


@dataclass(frozen=True)
class ApiServiceArgs:
    """One HTTP service: its settings, the stores it uses, and who may call and scrape it.

    ``database`` and ``cache`` fill the seed's DB_*/REDIS_* variables; each extra store adds
    ``<INSTANCE>_HOST``-style variables and an egress rule of its own.
    """

    namespace: str
    environment: str
    settings: ApiConfig
    database: PostgresConnection
    cache: RedisConnection
    # Who forwards public traffic to the API (None: nothing is exposed, e.g. dev's port-forward).
    ingress_controller: IngressController | None
    monitoring_namespace: str | None  # None when monitoring is off: nobody scrapes
    extra_databases: Sequence[PostgresConnection] = ()
    extra_caches: Sequence[RedisConnection] = ()
    # The instance name every Kubernetes name derives from; None: the component's resource name.
    name: str | None = None


def instance(args: ApiServiceArgs) -> str:
    return args.name or NAME


def pod_selector(args: ApiServiceArgs) -> dict[str, str]:
    return selector_labels(instance(args), args.namespace)


def api_labels(args: ApiServiceArgs) -> dict[str, str]:
    return labels(instance(args), args.namespace, COMPONENT, args.environment, version=args.settings.image.tag)


def env_prefix(host: str) -> str:
    """``analytics-db`` -> ``ANALYTICS_DB``: the variable prefix of an extra store."""
    return host.upper().replace("-", "_").replace(".", "_")


def extra_store_settings(args: ApiServiceArgs) -> dict[str, str]:
    """Host, port (and database, user) of each extra store, by its instance name."""
    result: dict[str, str] = {}
    for db in args.extra_databases:
        p = env_prefix(db.host)
        result |= {f"{p}_HOST": db.host, f"{p}_PORT": str(db.port), f"{p}_NAME": db.database, f"{p}_USER": db.user}
    for cache in args.extra_caches:
        p = env_prefix(cache.host)
        result |= {f"{p}_HOST": cache.host, f"{p}_PORT": str(cache.port)}
    return result


def stores(args: ApiServiceArgs) -> tuple[PostgresConnection | RedisConnection, ...]:
    """Every store the service uses: the seed's database and cache first, then the extras."""
    return (args.database, args.cache, *args.extra_databases, *args.extra_caches)


def password_refs(args: ApiServiceArgs) -> list[tuple[str, SecretKeyRef]]:
    """(variable, Secret key) of every store's password: the seed's two, then the extras'."""
    extras: list[PostgresConnection | RedisConnection] = [*args.extra_databases, *args.extra_caches]
    names = ["DB_PASSWORD", "REDIS_PASSWORD", *(f"{env_prefix(conn.host)}_PASSWORD" for conn in extras)]
    return [(env, conn.password) for env, conn in zip(names, stores(args), strict=True)]


def app_version(settings: ApiConfig) -> str:
    return settings.image.tag or settings.image.digest or ""


def config_ini(args: ApiServiceArgs) -> str:
    """The seed's config.ini, with config's ``configIni`` sections merged over the generated ones."""
    s, db, cache = args.settings, args.database, args.cache
    sections: dict[str, dict[str, str]] = {
        "Application": {"Name": s.app_name, "Version": app_version(s), "LogLevel": s.log_level},
        "Database": {"Host": db.host, "Port": str(db.port), "Name": db.database, "User": db.user},
        "Redis": {"Host": cache.host, "Port": str(cache.port)},
    }
    for section, values in s.config_ini.items():
        sections[section] = {**sections.get(section, {}), **values}
    return "\n".join(
        f"[{section}]\n" + "".join(f"{key}={value}\n" for key, value in values.items()) for section, values in sections.items()
    )


def env_settings(args: ApiServiceArgs) -> dict[str, str]:
    """Every non-secret environment variable, as ConfigMap keys (the seed's names plus config's ``env``)."""
    s, db, cache = args.settings, args.database, args.cache
    return {
        "APP_NAME": s.app_name,
        "APP_VERSION": app_version(s),
        "LOG_LEVEL": s.log_level,
        "DATABASE_HOST": db.host,
        "DATABASE_PORT": str(db.port),
        "DB_HOST": db.host,
        "DB_PORT": str(db.port),
        "DB_NAME": db.database,
        "DB_USER": db.user,
        "REDIS_HOST": cache.host,
        "REDIS_PORT": str(cache.port),
        **extra_store_settings(args),
        **s.env,
    }


def config_map_data(args: ApiServiceArgs) -> dict[str, str]:
    return {**env_settings(args), "config.ini": config_ini(args), **args.settings.files}


def env_vars(args: ApiServiceArgs, config_map: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Settings by reference to the ConfigMap, passwords by reference to the generated Secrets."""
    from_config = [
        {"name": key, "valueFrom": {"configMapKeyRef": {"name": config_map, "key": key}}} for key in env_settings(args)
    ]
    secrets = [
        {"name": env, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}} for env, ref in password_refs(args)
    ]
    return from_config + secrets


def probe(settings: Probe) -> dict[str, Any]:
    return {
        "httpGet": {"path": settings.path, "port": settings.port or "http"},
        "initialDelaySeconds": settings.initial_delay_seconds,
        "periodSeconds": settings.period_seconds,
        "timeoutSeconds": settings.timeout_seconds,
        "successThreshold": settings.success_threshold,
        "failureThreshold": settings.failure_threshold,
    }


def container_ports(s: ApiConfig) -> list[dict[str, Any]]:
    ports = [{"name": "http", "containerPort": s.container_port, "protocol": "TCP"}]
    if s.metrics_port is not None:
        ports.append({"name": METRICS_PORT_NAME, "containerPort": s.metrics_port, "protocol": "TCP"})
    return ports


def container(args: ApiServiceArgs, config_map: pulumi.Input[str]) -> dict[str, Any]:
    s = args.settings
    mounts = [{"name": "tmp", "mountPath": "/tmp"}, {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}]  # noqa: S108
    if s.persistence.enabled:
        mounts.append({"name": "data", "mountPath": DATA_DIR})
    spec: dict[str, Any] = {
        "name": instance(args),
        "image": s.image.ref,
        "imagePullPolicy": s.image.pull_policy,
        "ports": container_ports(s),
        "env": env_vars(args, config_map),
        "resources": {
            "requests": {"cpu": s.resources.requests.cpu, "memory": s.resources.requests.memory},
            "limits": {"cpu": s.resources.limits.cpu, "memory": s.resources.limits.memory},
        },
        "startupProbe": probe(s.probes.startup),
        "livenessProbe": probe(s.probes.liveness),
        "readinessProbe": probe(s.probes.readiness),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": s.security.run_as_user,
            "runAsGroup": s.security.run_as_group,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": mounts,
    }
    if s.pre_stop_sleep_seconds:
        # Keep serving while the endpoint removal reaches every proxy, then take SIGTERM.
        # The kubelet's own sleep (Kubernetes >= 1.30): the image needs no `sleep` binary.
        spec["lifecycle"] = {"preStop": {"sleep": {"seconds": s.pre_stop_sleep_seconds}}}
    return spec


def pod_spec(args: ApiServiceArgs, config_map: pulumi.Input[str]) -> dict[str, Any]:
    s = args.settings
    files = ["config.ini", *s.files]
    volumes: list[dict[str, Any]] = [
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        {"name": "config", "configMap": {"name": config_map, "items": [{"key": f, "path": f} for f in files]}},
    ]
    if s.persistence.enabled:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": f"{instance(args)}-data"}})
    spec: dict[str, Any] = {
        "serviceAccountName": instance(args),
        # Only a pod that calls the Kubernetes API gets a token.
        "automountServiceAccountToken": s.kubernetes_api_access,
        # Service links would inject REDIS_PORT=tcp://... style variables next to ours.
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": s.termination_grace_period_seconds,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": s.security.run_as_user,
            "runAsGroup": s.security.run_as_group,
            "fsGroup": s.security.run_as_group,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container(args, config_map)],
        "volumes": volumes,
    }
    if s.priority_class_name:
        spec["priorityClassName"] = s.priority_class_name  # the cluster's own class, referenced
    if s.max_pods > 1:
        # Soft spreading: a one-node laptop cluster or a cluster without zones still schedules.
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": pod_selector(args)},
                "matchLabelKeys": ["pod-template-hash"],
            }
            for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
        ]
    return spec


def deployment_spec(args: ApiServiceArgs, config_map: pulumi.Input[str]) -> dict[str, Any]:
    s = args.settings
    if s.persistence.enabled and s.persistence.access_mode == "ReadWriteOnce":
        # A surge pod on another node could never attach the volume: stop the old pod first.
        strategy: dict[str, Any] = {"type": "Recreate"}
    else:
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": pod_selector(args)},
        "strategy": strategy,
        "template": {"metadata": {"labels": api_labels(args)}, "spec": pod_spec(args, config_map)},
    }
    if not s.autoscaling.enabled:
        # With an HPA the autoscaler owns the count; setting it here would fight it on every
        # `pulumi up` under server-side apply (pulumi-kubernetes #2491, #2569).
        spec["replicas"] = s.replicas
    return spec


def service_spec(args: ApiServiceArgs) -> dict[str, Any]:
    """Port 80 for clients and the public route; the metrics port (if any) for Prometheus only."""
    ports = [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}]
    if args.settings.metrics_port is not None:
        metrics = args.settings.metrics_port
        ports.append({"name": METRICS_PORT_NAME, "port": metrics, "targetPort": METRICS_PORT_NAME, "protocol": "TCP"})
    return {"type": "ClusterIP", "selector": pod_selector(args), "ports": ports}


def hpa_spec(args: ApiServiceArgs, deployment: pulumi.Input[str]) -> dict[str, Any]:
    scaling = args.settings.autoscaling
    targets = {"cpu": scaling.target_cpu_utilization, "memory": scaling.target_memory_utilization}
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "metrics": [
            {"type": "Resource", "resource": {"name": name, "target": {"type": "Utilization", "averageUtilization": value}}}
            for name, value in targets.items()
            if value is not None
        ],
        # Scale down only after load stayed low for the whole window, one pod a minute.
        "behavior": {
            "scaleDown": {
                "stabilizationWindowSeconds": scaling.scale_down_stabilization_seconds,
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
            }
        },
    }


def pdb_spec(args: ApiServiceArgs) -> dict[str, Any]:
    return {
        "maxUnavailable": 1,
        "selector": {"matchLabels": pod_selector(args)},
        # A crash-looping pod must not block a node drain.
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


def _namespace_selector(namespace: str) -> dict[str, Any]:
    return {"matchLabels": {"kubernetes.io/metadata.name": namespace}}


def ingress_policy_spec(args: ApiServiceArgs) -> dict[str, Any] | None:
    """Who may call the API: the ingress controller's pods on the app port, Prometheus on the metrics port."""
    s = args.settings
    ports = [{"protocol": "TCP", "port": s.container_port}]
    metrics_ports = [{"protocol": "TCP", "port": s.metrics_port or s.container_port}]
    rules = []
    if args.ingress_controller is not None:
        peer = {
            "namespaceSelector": _namespace_selector(args.ingress_controller.namespace),
            "podSelector": {"matchLabels": dict(args.ingress_controller.pod_labels)},
        }
        rules.append({"from": [peer], "ports": ports})
    if args.monitoring_namespace:
        rules.append({"from": [{"namespaceSelector": _namespace_selector(args.monitoring_namespace)}], "ports": metrics_ports})
    if not rules:
        return None  # the namespace's default deny already says "nobody"
    return {"podSelector": {"matchLabels": pod_selector(args)}, "policyTypes": ["Ingress"], "ingress": rules}


def egress_policy_spec(args: ApiServiceArgs) -> dict[str, Any]:
    """The API may reach Postgres and Redis only (DNS is allowed namespace-wide by the Environment)."""
    return {
        "podSelector": {"matchLabels": pod_selector(args)},
        "policyTypes": ["Egress"],
        "egress": [
            {"to": [{"podSelector": {"matchLabels": dict(conn.pod_labels)}}], "ports": [{"protocol": "TCP", "port": conn.port}]}
            for conn in stores(args)
        ],
    }


def role_rules(args: ApiServiceArgs, config_map: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Read its own ConfigMap and the Secrets it is given, by name: no `list`, nothing else."""
    return [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": [config_map]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
         "resourceNames": [ref.name for _, ref in password_refs(args)]},
    ]


def in_cluster_url(service: str, namespace: str) -> str:
    return f"http://{service}.{namespace}.svc.cluster.local"


def kubectl_hints(namespace: str, name: str = NAME) -> dict[str, str]:
    return {
        "logs": f"kubectl -n {namespace} logs deployment/{name} --all-containers --follow",
        "portForward": f"kubectl -n {namespace} port-forward service/{name} 8080:{SERVICE_PORT}",
        "rolloutStatus": f"kubectl -n {namespace} rollout status deployment/{name}",
    }


def metrics_target(args: ApiServiceArgs) -> MetricsTarget:
    """The scrape target, with the alerts its metrics contract allows (monitoring/rules/api-*.yaml)."""
    s = args.settings
    port = "http" if s.metrics_port is None else METRICS_PORT_NAME
    rules = ("api", *(("api-errors",) if s.metrics_status_label else ()), f"api-latency-{s.metrics_latency_form}")
    contract = {
        "requests": s.metrics_requests, "status_label": s.metrics_status_label or "",
        "latency": s.metrics_latency, "latency_form": s.metrics_latency_form,
    }
    return MetricsTarget(
        name=instance(args), service_labels=pod_selector(args), port=port, path=s.metrics_path, kind=COMPONENT,
        rules=rules, values=contract,
    )


class ApiService(pulumi.ComponentResource):
    """The API workload; created only after the database and the cache report ready."""

    service_name: pulumi.Output[str]
    in_cluster_url: pulumi.Output[str]
    metrics_target: MetricsTarget
    kubectl_hints: dict[str, str]

    def __init__(self, name: str, args: ApiServiceArgs, opts: pulumi.ResourceOptions | None = None):
        args = with_name(args, name)  # validates the instance name before anything is registered
        super().__init__("platform:index:ApiService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns, s, own = args.namespace, args.settings, instance(args)
        meta_labels = api_labels(args)

        def meta(object_name: str | None = None) -> dict[str, Any]:
            return metadata(ns, meta_labels, object_name)

        account = k8s.core.v1.ServiceAccount(
            f"{name}-account", metadata=meta(own), automount_service_account_token=False, opts=child
        )
        # Auto-named: new content, new name, so the Deployment's pod template changes and pods roll.
        config_map = k8s.core.v1.ConfigMap(f"{name}-config", metadata=meta(), data=config_map_data(args), opts=child)
        config_name = config_map.metadata.apply(lambda m: m["name"])
        if s.kubernetes_api_access:
            k8s.rbac.v1.Role(f"{name}-role", metadata=meta(own), rules=role_rules(args, config_name), opts=child)
            k8s.rbac.v1.RoleBinding(
                f"{name}-role-binding",
                metadata=meta(own),
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": own},
                subjects=[{"kind": "ServiceAccount", "name": own, "namespace": ns}],
                opts=child,
            )
        if s.persistence.enabled:
            volume: dict[str, Any] = {
                "accessModes": [s.persistence.access_mode],
                "resources": {"requests": {"storage": s.persistence.size}},
            }
            if s.persistence.storage_class:
                volume["storageClassName"] = s.persistence.storage_class
            # Data outlives a replaced or removed claim; it goes with the namespace where that is deleted.
            k8s.core.v1.PersistentVolumeClaim(
                f"{name}-data", metadata=meta(f"{own}-data"), spec=volume,
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
        # The seed's `kubectl wait` for Postgres, as a dependency: pods start once the data layer is ready.
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={**meta(own), "annotations": CHECKOV_EXCEPTIONS},
            spec=deployment_spec(args, config_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, *(r for c in stores(args) for r in c.ready)]),
        )
        # After its pods are ready (the Deployment's await): the Service carries no await of its own.
        service = k8s.core.v1.Service(
            f"{name}-service", metadata={**meta(own), "annotations": SKIP_SERVICE_AWAIT}, spec=service_spec(args),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[deployment])),
        )
        if s.autoscaling.enabled:
            spec = hpa_spec(args, deployment.metadata.apply(lambda m: m["name"]))
            k8s.autoscaling.v2.HorizontalPodAutoscaler(f"{name}-hpa", metadata=meta(own), spec=spec, opts=child)
        if s.max_pods > 1:
            k8s.policy.v1.PodDisruptionBudget(f"{name}-pdb", metadata=meta(own), spec=pdb_spec(args), opts=child)
        ingress = ingress_policy_spec(args)
        if ingress is not None:
            k8s.networking.v1.NetworkPolicy(f"{name}-allow-ingress", metadata=meta(f"{own}-ingress"), spec=ingress, opts=child)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-egress", metadata=meta(f"{own}-egress"), spec=egress_policy_spec(args), opts=child
        )

        self.service_name = service.metadata.apply(lambda m: m["name"])
        self.in_cluster_url = self.service_name.apply(lambda service: in_cluster_url(service, ns))
        self.metrics_target = metrics_target(args)
        self.kubectl_hints = kubectl_hints(ns, own)
        self.register_outputs({"service_name": self.service_name, "in_cluster_url": self.in_cluster_url})
