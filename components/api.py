"""The web API: its Deployment, Service, autoscaler, disruption budget, config and network policies.

The seed's contract (port 8080, /health, /ready, /metrics, env + /app/config/config.ini) is
configured entirely by ``ApiConfig``; the database and cache arrive as connection objects,
whose passwords reach the pods only as ``secretKeyRef``s to the Secrets those components made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from . import datastore
from .connections import Credentials, MetricsTarget, PostgresConnection, RedisConnection, SecretKeyRef, StoreConnection
from .contracts import label_set, of_type, raise_if, require, scraper_problems, sequence_of
from .environment import Where, namespace_of, options_in
from .labels import API_COMPONENT, SKIP_SERVICE_AWAIT, identity_labels, labels, metadata, selector_labels
from .namespace import PODS, NamespaceRef
from .settings import ApiConfig, IngressConfig, IngressController, Probe
from .settings.base import settings_problems

COMPONENT = API_COMPONENT  # the component label and the rules/dashboard template
SERVICE_PORT = 80
METRICS_PORT_NAME = "metrics"  # the app's private metrics port: no public route points at it
CONFIG_DIR = "/app/config"
TMP_VOLUME = {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}
DATA_DIR = "/app/data"
BINDING_ROOT = "/bindings"  # $SERVICE_BINDING_ROOT with bindings: files (servicebinding.io)
# A justified, per-object Checkov exception (not a global skip): the seed's API reads its
# passwords from DB_PASSWORD/REDIS_PASSWORD; they arrive by secretKeyRef, never as literals.
CHECKOV_EXCEPTIONS = {"checkov.io/skip1": "CKV_K8S_35=the API contract reads passwords from env, set by secretKeyRef"}


@dataclass(frozen=True, kw_only=True)
class _Wiring:
    """What a service uses and who reaches it: shared by its Args and its resolved spec."""

    settings: ApiConfig
    database: PostgresConnection | None = None
    cache: RedisConnection | None = None
    extra_databases: Sequence[PostgresConnection] = ()
    extra_caches: Sequence[RedisConnection] = ()
    route: IngressConfig | None = None
    monitoring_namespace: str | None = None
    monitoring_pod_labels: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class ApiServiceArgs(_Wiring):
    """One HTTP service: its settings, the stores it uses, its public route and who may scrape it.

    Attributes:
        environment: the ``Environment`` (or ``NamespaceRef``) it deploys into.
        settings: image, ports, probes, scaling (``ApiConfig.for_environment``).
        database: the Postgres behind the seed's DB_* variables (None: no database).
        cache: the Redis behind the seed's REDIS_* variables (None: no cache).
        extra_databases: more Postgres instances, each as ``<INSTANCE>_HOST/_PORT/_NAME/_USER/_PASSWORD``.
        extra_caches: more Redis instances, each as ``<INSTANCE>_HOST/_PORT/_PASSWORD``.
        route: how the service is exposed (``IngressConfig``; None: not exposed). Its controller's pods
            are admitted on the app port; pass the service to ``Ingress`` to create the route itself.
        monitoring_namespace: the namespace whose Prometheus may scrape the metrics port (None: nobody).
        monitoring_pod_labels: the Prometheus pods' labels there (None: every pod of that namespace).
    Every store must run in the same namespace and list this service among its ``clients``.
    """

    environment: Where


@dataclass(frozen=True, kw_only=True)
class ApiSpec(_Wiring):
    """The resolved facts the pure spec builders read: the instance, where it runs, what it uses."""

    name: str
    namespace: str
    environment: str

    @property
    def ingress_controller(self) -> IngressController | None:
        """Who forwards public traffic to the service (None: nothing is exposed)."""
        return self.route.traffic_source if self.route else None


def pod_selector(args: ApiSpec) -> dict[str, str]:
    return selector_labels(args.name, args.namespace)


def pod_identity(name: str, namespace: str) -> dict[str, str]:
    """The labels a data store's ``clients`` entry for this service must match (see ``clients``)."""
    return identity_labels(name, namespace, COMPONENT)


def api_labels(args: ApiSpec) -> dict[str, str]:
    return labels(args.name, args.namespace, COMPONENT, args.environment, version=args.settings.image.tag)


def env_prefix(host: str) -> str:
    """``analytics-db`` -> ``ANALYTICS_DB``: the variable prefix of an extra store."""
    return host.upper().replace("-", "_").replace(".", "_")


def stores(args: ApiSpec) -> tuple[StoreConnection, ...]:
    """Every store the service uses: the seed's database and cache first, then the extras."""
    primary = tuple(c for c in (args.database, args.cache) if c is not None)
    return (*primary, *args.extra_databases, *args.extra_caches)


Value = str | SecretKeyRef


def login(args: ApiSpec, conn: StoreConnection) -> Credentials | None:
    """The service's own login to ``conn`` (None: the store shares one password, ``conn.password``)."""
    return conn.credentials_for(args.name)


def store_variables(args: ApiSpec, conn: StoreConnection, prefix: str) -> tuple[list[tuple[str, Value]], list[tuple[str, Value]]]:
    """(plain, secret) variables of one store under ``prefix`` (``DB``/``REDIS`` for the seed's two, else the
    instance's): address in the ConfigMap; user, password and URI from the service's binding Secret, or none
    of them with ``bindings: files`` (the Secret is mounted instead)."""
    own = login(args, conn)
    postgres = isinstance(conn, PostgresConnection)
    plain: list[tuple[str, Value]] = [(f"{prefix}_HOST", conn.host), (f"{prefix}_PORT", str(conn.port))]
    if isinstance(conn, PostgresConnection):
        plain.append((f"{prefix}_NAME", conn.database))
    if own is None:  # a store without per-client logins: its shared password, as before
        if postgres and isinstance(conn, PostgresConnection) and conn.user:
            plain.append((f"{prefix}_USER", conn.user))
        return plain, [(f"{prefix}_PASSWORD", conn.password)] if conn.password is not None else []
    if args.settings.bindings == "files":
        return plain, []
    url = {"DB": "DATABASE_URL", "REDIS": "REDIS_URL"}.get(prefix, f"{prefix}_URL")
    return plain, [(f"{prefix}_USER", own.key("username")), (f"{prefix}_PASSWORD", own.key("password")), (url, own.key("uri"))]


def variables(args: ApiSpec) -> list[tuple[str, Value, str]]:
    """Every environment variable the service gets, once, as (name, value or Secret key, source):
    the service's own, the seed's DB_* and REDIS_* for the primary stores, ``<INSTANCE>_*`` for the
    extras, then ``settings.env``. A name set by two sources raises, naming both."""
    s, db, cache = args.settings, args.database, args.cache
    own = [("APP_NAME", app_name(args)), ("APP_VERSION", app_version(s)), ("LOG_LEVEL", s.log_level)]
    if s.bindings == "files" and any(login(args, c) for c in stores(args)):
        own.append(("SERVICE_BINDING_ROOT", BINDING_ROOT))
    entries: list[tuple[str, Value, str]] = [(n, v, f"ApiService {args.name!r}") for n, v in own]
    sources: list[tuple[StoreConnection, str, str]] = []
    if db is not None:
        source = f"database {db.instance!r}"
        entries += [("DATABASE_HOST", db.host, source), ("DATABASE_PORT", str(db.port), source)]
        sources.append((db, "DB", source))
    if cache is not None:
        sources.append((cache, "REDIS", f"cache {cache.instance!r}"))
    sources += [(d, env_prefix(d.host), f"extra_databases {d.instance!r}") for d in args.extra_databases]
    sources += [(c, env_prefix(c.host), f"extra_caches {c.instance!r}") for c in args.extra_caches]
    secrets: list[tuple[str, Value, str]] = []
    for conn, prefix, source in sources:
        plain, secret = store_variables(args, conn, prefix)
        entries += [(n, v, source) for n, v in plain]
        secrets += [(n, v, source) for n, v in secret]
    entries += [(n, v, "settings.env") for n, v in s.env.items()]
    # Credentials last, in the order of the stores: the seed's two, then the extras'.
    entries += secrets
    seen: dict[str, str] = {}
    problems = []
    for name, _, source in entries:
        if name in seen:
            problems.append(f"ApiService {args.name!r}: variable {name} is set by {seen[name]} and by {source}; rename one")
        seen.setdefault(name, source)
    raise_if(problems)
    return entries


def bindings(args: ApiSpec) -> list[tuple[str, Credentials]]:
    """(store instance, the service's login) of every store that made it one: mounted with ``bindings: files``."""
    return [(conn.instance, own) for conn in stores(args) if (own := login(args, conn)) is not None]


def binding_volumes(args: ApiSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts) of the binding Secrets at $SERVICE_BINDING_ROOT/<store> (files only)."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if args.settings.bindings == "files":
        for i, (store, credentials) in enumerate(bindings(args)):
            volumes.append({"name": f"binding-{i}", "secret": {"secretName": credentials.secret, "defaultMode": 0o440}})
            mounts.append({"name": f"binding-{i}", "mountPath": f"{BINDING_ROOT}/{store}", "readOnly": True})
    return volumes, mounts


def env_settings(args: ApiSpec) -> dict[str, str]:
    """Every non-secret environment variable, as ConfigMap keys."""
    return {name: value for name, value, _ in variables(args) if isinstance(value, str)}


def password_refs(args: ApiSpec) -> list[tuple[str, SecretKeyRef]]:
    """(variable, Secret key) of every store's password."""
    return [(name, value) for name, value, _ in variables(args) if isinstance(value, SecretKeyRef)]


def app_name(args: ApiSpec) -> str:
    return args.settings.app_name or args.name


def app_version(settings: ApiConfig) -> str:
    return settings.image.tag or settings.image.digest or ""


def config_ini(args: ApiSpec) -> str:
    """The seed's config.ini, with config's ``configIni`` sections merged over the generated ones."""
    s, db, cache = args.settings, args.database, args.cache
    sections: dict[str, dict[str, str]] = {
        "Application": {"Name": app_name(args), "Version": app_version(s), "LogLevel": s.log_level},
    }
    if db is not None:
        own = login(args, db)
        sections["Database"] = {"Host": db.host, "Port": str(db.port), "Name": db.database, "User": own.user if own else db.user}
    if cache is not None:
        sections["Redis"] = {"Host": cache.host, "Port": str(cache.port)}
    for section, values in s.config_ini.items():
        sections[section] = {**sections.get(section, {}), **values}
    return "\n".join(
        f"[{section}]\n" + "".join(f"{key}={value}\n" for key, value in values.items()) for section, values in sections.items()
    )


def config_map_data(args: ApiSpec) -> dict[str, str]:
    return {**env_settings(args), "config.ini": config_ini(args), **args.settings.files}


def env_vars(args: ApiSpec, config_map: pulumi.Input[str]) -> list[dict[str, Any]]:
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


def container(args: ApiSpec, config_map: pulumi.Input[str]) -> dict[str, Any]:
    s = args.settings
    mounts = [{"name": "tmp", "mountPath": "/tmp"}, {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}]  # noqa: S108
    if s.persistence.enabled:
        mounts.append({"name": "data", "mountPath": DATA_DIR})
    mounts += binding_volumes(args)[1]
    spec: dict[str, Any] = {
        "name": args.name,
        "image": s.image.ref,
        "imagePullPolicy": s.image.effective_pull_policy,
        "ports": container_ports(s),
        "env": env_vars(args, config_map),
        # Its /tmp and its logs: the scheduler reserves that disk, the kubelet evicts past it, not the node.
        "resources": datastore.resources(s.resources, datastore.ephemeral_storage([TMP_VOLUME])),
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


def pod_spec(args: ApiSpec, config_map: pulumi.Input[str]) -> dict[str, Any]:
    s = args.settings
    files = ["config.ini", *s.files]
    volumes: list[dict[str, Any]] = [
        TMP_VOLUME,
        {"name": "config", "configMap": {"name": config_map, "items": [{"key": f, "path": f} for f in files]}},
    ]
    if s.persistence.enabled:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": f"{args.name}-data"}})
    volumes += binding_volumes(args)[0]
    spec: dict[str, Any] = {
        "serviceAccountName": args.name,
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


def deployment_spec(args: ApiSpec, config_map: pulumi.Input[str]) -> dict[str, Any]:
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


def service_spec(args: ApiSpec) -> dict[str, Any]:
    """Port 80 for clients and the public route; the metrics port (if any) for Prometheus only."""
    ports = [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}]
    if args.settings.metrics_port is not None:
        metrics = args.settings.metrics_port
        ports.append({"name": METRICS_PORT_NAME, "port": metrics, "targetPort": METRICS_PORT_NAME, "protocol": "TCP"})
    return {"type": "ClusterIP", "selector": pod_selector(args), "ports": ports}


def hpa_spec(args: ApiSpec, deployment: pulumi.Input[str]) -> dict[str, Any]:
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


def pdb_spec(args: ApiSpec) -> dict[str, Any]:
    return {
        "maxUnavailable": 1,
        "selector": {"matchLabels": pod_selector(args)},
        # A crash-looping pod must not block a node drain.
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


def _namespace_selector(namespace: str) -> dict[str, Any]:
    return {"matchLabels": {"kubernetes.io/metadata.name": namespace}}


def ingress_policy_spec(args: ApiSpec) -> dict[str, Any] | None:
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
        scraper = datastore.scraper_peer(args.monitoring_namespace, args.monitoring_pod_labels)
        rules.append({"from": [scraper], "ports": metrics_ports})
    if not rules:
        return None  # the namespace's default deny already says "nobody"
    return {"podSelector": {"matchLabels": pod_selector(args)}, "policyTypes": ["Ingress"], "ingress": rules}


def egress_policy_spec(args: ApiSpec) -> dict[str, Any]:
    """The API may reach its stores, and the API server if it calls it (DNS: allowed namespace-wide by the Environment)."""
    s = args.settings
    egress = [
        {"to": [{"podSelector": {"matchLabels": dict(conn.pod_labels)}}], "ports": [{"protocol": "TCP", "port": conn.port}]}
        for conn in stores(args)
    ]
    if s.kubernetes_api_access:
        egress.append({
            "to": [{"ipBlock": {"cidr": cidr}} for cidr in s.kubernetes_api_endpoints],
            "ports": [{"protocol": "TCP", "port": s.kubernetes_api_port}],
        })
    return {"podSelector": {"matchLabels": pod_selector(args)}, "policyTypes": ["Egress"], "egress": egress}


def role_rules(args: ApiSpec, config_map: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Read its own ConfigMap and the Secrets it is given, by name: no `list`, nothing else."""
    return [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": [config_map]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
         "resourceNames": list(dict.fromkeys([
             *(ref.name for _, ref in password_refs(args)), *(v["secret"]["secretName"] for v in binding_volumes(args)[0])
         ]))},
    ]


def in_cluster_url(service: str, namespace: str) -> str:
    return f"http://{service}.{namespace}.svc.cluster.local"


def kubectl_hints(namespace: str, name: str) -> dict[str, str]:
    return {
        "logs": f"kubectl -n {namespace} logs deployment/{name} --all-containers --follow",
        "portForward": f"kubectl -n {namespace} port-forward service/{name} 8080:{SERVICE_PORT}",
        "rolloutStatus": f"kubectl -n {namespace} rollout status deployment/{name}",
    }


def metrics_target(args: ApiSpec) -> MetricsTarget:
    """The scrape target, with the alerts its metrics contract allows (monitoring/rules/api-*.yaml)."""
    s = args.settings
    port = "http" if s.metrics_port is None else METRICS_PORT_NAME
    rules = ("api", *(("api-errors",) if s.metrics_status_label else ()), f"api-latency-{s.metrics_latency_form}")
    contract = {
        "requests": s.metrics_requests, "status_label": s.metrics_status_label or "",
        "latency": s.metrics_latency, "latency_form": s.metrics_latency_form,
    }
    return MetricsTarget(
        name=args.name, service_labels=pod_selector(args), port=port, path=s.metrics_path, kind=COMPONENT,
        namespace=args.namespace, scraper=args.monitoring_namespace, rules=rules, values=contract,
    )


def names(args: ApiSpec) -> list[tuple[str, str]]:
    """Every Kubernetes name the service creates (the ConfigMap is auto-named)."""
    s, own = args.settings, args.name
    result = [(PODS, own), ("ServiceAccount", own), ("Deployment", own), ("Service", own), ("NetworkPolicy", f"{own}-egress")]
    if s.kubernetes_api_access:
        result += [("Role", own), ("RoleBinding", own)]
    if s.persistence.enabled:
        result.append(("PersistentVolumeClaim", f"{own}-data"))
    if s.autoscaling.enabled:
        result.append(("HorizontalPodAutoscaler", own))
    if s.max_pods > 1:
        result.append(("PodDisruptionBudget", own))
    if ingress_policy_spec(args) is not None:
        result.append(("NetworkPolicy", f"{own}-ingress"))
    return result


def resolve(name: str, args: ApiServiceArgs) -> tuple[ApiSpec, NamespaceRef]:
    """Check every argument before anything registers; raise one ConfigError naming each problem."""
    require(args, ApiServiceArgs, "ApiService", name)
    where = namespace_of(args.environment, "ApiServiceArgs.environment")
    at = "ApiServiceArgs"
    problems = settings_problems(args.settings, ApiConfig, where.profile, f"{at}.settings")
    problems += of_type(args.database, (PostgresConnection, type(None)), f"{at}.database", "a Postgres connection or None")
    problems += of_type(args.cache, (RedisConnection, type(None)), f"{at}.cache", "a Redis connection or None")
    problems += sequence_of(args.extra_databases, PostgresConnection, f"{at}.extra_databases", "Postgres connections")
    problems += sequence_of(args.extra_caches, RedisConnection, f"{at}.extra_caches", "Redis connections")
    if args.route is not None:
        problems += settings_problems(args.route, IngressConfig, where.profile, f"{at}.route")
    problems += scraper_problems(args.monitoring_namespace, where.name, f"{at}.monitoring_namespace")
    if args.monitoring_pod_labels is not None:
        problems += label_set(args.monitoring_pod_labels, f"{at}.monitoring_pod_labels")
    raise_if(problems)
    spec = ApiSpec(
        name=name, namespace=where.name, environment=where.environment, settings=args.settings,
        database=args.database, cache=args.cache, extra_databases=tuple(args.extra_databases),
        extra_caches=tuple(args.extra_caches), route=args.route, monitoring_namespace=args.monitoring_namespace,
        monitoring_pod_labels=args.monitoring_pod_labels,
    )
    identity = pod_identity(name, where.name)
    used: dict[str, str] = {}
    for conn in stores(spec):
        kind = conn.KIND
        record = where.store(conn.instance)
        if conn.namespace != where.name:
            problems.append(
                f"{at}: {kind} {conn.instance!r} runs in namespace {conn.namespace!r}, the service in {where.name!r}; a "
                "service and its stores share a namespace (a Secret cannot be referenced across namespaces)"
            )
        elif record is None or record.kind != conn.KIND:
            problems.append(
                f"{at}: {kind} {conn.instance!r} is not a {type(conn).__name__.removesuffix('Connection')} of namespace "
                f"{where.name!r}: pass the connection of the store component (its .connection)"
            )
        elif dict(record.pod_labels) != dict(conn.pod_labels) or list(record.clients) != list(conn.clients):
            problems.append(f"{at}: {kind} {conn.instance!r}: the connection was altered after the store made it")
        elif not conn.admits(identity):
            problems.append(f"{at}: {kind} {conn.instance!r} does not admit ApiService {name!r}: add {name!r} to its clients")
        if used.get(conn.instance) == kind:
            problems.append(f"{at}: {kind} {conn.instance!r} is given twice")
        used[conn.instance] = kind
    raise_if(problems)
    variables(spec)  # raises on a variable set twice
    return spec, where


class ApiService(pulumi.ComponentResource):
    """The API workload; created only after its database and cache report ready.

    Outputs:
        service_name: the Service clients and the route call (port 80).
        in_cluster_url: http://<service>.<namespace>.svc.cluster.local
        metrics_target: what ``Monitoring`` scrapes.
        kubectl_hints: logs, port-forward and rollout commands.
        spec: the resolved arguments (``route``, namespace, instance) a route builds on.
    """

    service_name: pulumi.Output[str]
    in_cluster_url: pulumi.Output[str]
    metrics_target: MetricsTarget
    kubectl_hints: dict[str, str]
    spec: ApiSpec
    namespace_ref: NamespaceRef
    placement: pulumi.ResourceOptions

    def __init__(self, name: str, args: ApiServiceArgs, opts: pulumi.ResourceOptions | None = None):
        spec, where = resolve(name, args)
        where.claim(f"ApiService {name!r}", names(spec), spec.settings.footprint())
        # The Environment's options (provider, after the namespace, deleted with it): a route reuses them.
        self.placement = options_in(args.environment, None, data=False)
        super().__init__("platform:index:ApiService", name, None, pulumi.ResourceOptions.merge(self.placement, opts))
        self.spec, self.namespace_ref = spec, where
        child = pulumi.ResourceOptions(parent=self)
        ns, s, own = spec.namespace, spec.settings, spec.name
        meta_labels = api_labels(spec)

        def meta(object_name: str | None = None) -> dict[str, Any]:
            return metadata(ns, meta_labels, object_name)

        account = k8s.core.v1.ServiceAccount(
            f"{name}-account", metadata=meta(own), automount_service_account_token=False, opts=child
        )
        # Auto-named: new content, new name, so the Deployment's pod template changes and pods roll.
        config_map = k8s.core.v1.ConfigMap(f"{name}-config", metadata=meta(), data=config_map_data(spec), opts=child)
        config_name = config_map.metadata.apply(lambda m: m["name"])
        if s.kubernetes_api_access:
            k8s.rbac.v1.Role(f"{name}-role", metadata=meta(own), rules=role_rules(spec, config_name), opts=child)
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
            spec=deployment_spec(spec, config_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, *(r for c in stores(spec) for r in c.ready)]),
        )
        # Once its pods run the current credential generation (the Deployment's await), it says so: each store
        # revokes the previous generation only then. A failed rollout never gets here.
        for store, credentials in bindings(spec):
            if credentials.acknowledge:
                k8s.core.v1.ConfigMap(
                    # "/" is in no instance name: no other (service, store) pair makes this resource name
                    f"{name}/{store}-ack", metadata=meta(credentials.acknowledge),
                    data={"generation": str(credentials.generation)},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
                )
        # After its pods are ready (the Deployment's await): the Service carries no await of its own.
        service = k8s.core.v1.Service(
            f"{name}-service", metadata={**meta(own), "annotations": SKIP_SERVICE_AWAIT}, spec=service_spec(spec),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[deployment])),
        )
        if s.autoscaling.enabled:
            hpa = hpa_spec(spec, deployment.metadata.apply(lambda m: m["name"]))
            k8s.autoscaling.v2.HorizontalPodAutoscaler(f"{name}-hpa", metadata=meta(own), spec=hpa, opts=child)
        if s.max_pods > 1:
            k8s.policy.v1.PodDisruptionBudget(f"{name}-pdb", metadata=meta(own), spec=pdb_spec(spec), opts=child)
        ingress = ingress_policy_spec(spec)
        if ingress is not None:
            k8s.networking.v1.NetworkPolicy(f"{name}-allow-ingress", metadata=meta(f"{own}-ingress"), spec=ingress, opts=child)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-egress", metadata=meta(f"{own}-egress"), spec=egress_policy_spec(spec), opts=child
        )

        self.service_name = service.metadata.apply(lambda m: m["name"])
        self.in_cluster_url = self.service_name.apply(lambda service: in_cluster_url(service, ns))
        self.metrics_target = metrics_target(spec)
        self.kubectl_hints = kubectl_hints(ns, own)
        self.register_outputs({"service_name": self.service_name, "in_cluster_url": self.in_cluster_url})
