"""The platform's configuration: the only module that reads ``pulumi.Config``.

Stack config is grouped the way mature Helm charts group values (``platform:api``,
``platform:postgres``, ...). ``load_config`` merges the stack's values over the defaults of
its environment, validates everything with pydantic (unknown keys are errors), checks the
relations between groups, and raises one ``ConfigError`` listing every problem, each with
its full key path, before a single resource is registered.

Environment policy (what dev / staging / production / ephemeral mean) lives here and only
here: in ``environment_defaults`` and in ``_environment_rules``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal, Self, TypeVar

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from .validation import (
    CpuQuantity,
    CronSchedule,
    DnsLabel,
    Duration,
    EnvName,
    Hostname,
    HttpPath,
    ImageDigest,
    ImageRepository,
    ImageTag,
    LabelKey,
    LabelValue,
    MemoryQuantity,
    Percent,
    Port,
    PriorityClassName,
    SqlIdentifier,
    StorageQuantity,
    parse_quantity,
)

PROJECT = "platform"
NAMED_ENVIRONMENTS = ("dev", "staging", "production")
ENVIRONMENTS = (*NAMED_ENVIRONMENTS, "ephemeral")
Environment = Literal["dev", "staging", "production", "ephemeral"]
# Tags that move: a production rollout must name what it runs.
FLOATING_TAGS = {"latest", "stable", "main", "master", "edge", "dev", "nightly"}
# Config keys that would hold a secret; this project generates its secrets instead.
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_?key|private_?key|credential)", re.IGNORECASE)
_SECRET_REFERENCE_KEYS = {"secretName", "existingSecret", "tlsSecretName"}


class ConfigError(pulumi.RunError):
    """Every config problem at once; ``pulumi`` prints it without a traceback."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration ({len(problems)} problem(s)):\n{listing}")


class Model(BaseModel):
    """Frozen, strict, camelCase-keyed base: unknown keys are errors, not silent defaults."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, alias_generator=to_camel, validate_by_name=False
    )

    @classmethod
    def for_environment(cls, environment: str, overrides: Mapping[str, Any] | None = None) -> Self:
        """This settings group in code: see ``settings``."""
        return settings(cls, environment, overrides)


# ---------------------------------------------------------------- shared blocks


class ResourceList(Model):
    cpu: CpuQuantity
    memory: MemoryQuantity


class Resources(Model):
    """Requests and limits of one container; both are required (no unbounded pods)."""

    requests: ResourceList
    limits: ResourceList

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for kind in ("cpu", "memory"):
            request, limit = getattr(self.requests, kind), getattr(self.limits, kind)
            if parse_quantity(request) > parse_quantity(limit):
                raise ValueError(f"requests.{kind} {request} is more than limits.{kind} {limit}")
        return self


class Image(Model):
    repository: ImageRepository
    tag: ImageTag | None = None
    digest: ImageDigest | None = None
    pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"

    @model_validator(mode="after")
    def _pinned_somehow(self) -> Image:
        if not self.tag and not self.digest:
            raise ValueError("set 'tag' or 'digest' (an image without either means 'latest')")
        return self

    @property
    def ref(self) -> str:
        ref = self.repository + (f":{self.tag}" if self.tag else "")
        return ref + (f"@{self.digest}" if self.digest else "")

    @property
    def floating(self) -> bool:
        return not self.digest and (self.tag or "latest") in FLOATING_TAGS


class Persistence(Model):
    enabled: bool
    size: StorageQuantity
    storage_class: DnsLabel | None = None


class Probe(Model):
    path: HttpPath
    port: Port | None = None  # None: the container's named port `http`
    initial_delay_seconds: int = Field(ge=0, le=600)
    period_seconds: int = Field(ge=1, le=300)
    timeout_seconds: int = Field(ge=1, le=60)
    success_threshold: int = Field(default=1, ge=1, le=10)
    failure_threshold: int = Field(ge=1, le=60)


# ---------------------------------------------------------------- groups


class ClusterConfig(Model):
    """How to reach the cluster. Both empty: the ambient kubeconfig and its current context."""

    kubeconfig: str | None = None
    context: str | None = None
    delete_unreachable: bool


class Quota(Model):
    requests_cpu: CpuQuantity
    requests_memory: MemoryQuantity
    limits_cpu: CpuQuantity
    limits_memory: MemoryQuantity
    requests_storage: StorageQuantity
    persistent_volume_claims: int = Field(ge=0, le=1000)
    pods: int = Field(ge=1, le=10000)
    services: int = Field(ge=1, le=1000)


class LimitRangeConfig(Model):
    """Defaults for containers that set nothing, and a per-container ceiling."""

    default_request: ResourceList
    default_limit: ResourceList
    max: ResourceList


class NamespaceConfig(Model):
    """The environment's namespace, its quota and limit range (``platform:namespace``)."""

    name: DnsLabel
    quota: Quota
    limit_range: LimitRangeConfig


class Autoscaling(Model):
    enabled: bool
    min_replicas: int = Field(ge=1, le=100)
    max_replicas: int = Field(ge=1, le=100)
    target_cpu_utilization: Percent
    target_memory_utilization: Percent | None = None
    scale_down_stabilization_seconds: int = Field(ge=0, le=3600)

    @model_validator(mode="after")
    def _min_le_max(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas {self.min_replicas} is more than maxReplicas {self.max_replicas}")
        return self


class Probes(Model):
    startup: Probe
    liveness: Probe
    readiness: Probe


# Set by the ApiService itself from the database and cache connections.
API_RESERVED_ENV = frozenset({
    "APP_NAME", "APP_VERSION", "LOG_LEVEL", "DATABASE_HOST", "DATABASE_PORT", "DB_HOST", "DB_PORT", "DB_NAME",
    "DB_USER", "DB_PASSWORD", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD",
})
_CONFIG_FILE_NAME = re.compile(r"[-._a-zA-Z0-9]{1,253}")  # fullmatch: "$" passes "a.yaml\n"
_INI_NAME = re.compile(r"[^\s\[\]=;#][^\n\[\]=]*")


class ApiPersistence(Persistence):
    """The seed's app-data volume, mounted at /app/data."""

    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = "ReadWriteOnce"


class ApiConfig(Model):
    """Settings of one ApiService (``platform:api``); build in code with ``ApiConfig.for_environment``."""

    image: Image
    replicas: int = Field(ge=1, le=100)
    container_port: Port
    metrics_path: HttpPath
    # The port the app serves metrics_path on, apart from the public one. None: only on
    # container_port, which the public route reaches (only kind 'gateway' can deny the path there).
    metrics_port: Port | None = None
    resources: Resources
    autoscaling: Autoscaling
    probes: Probes
    app_name: str = Field(min_length=1, max_length=100)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]
    env: dict[EnvName, str] = Field(default_factory=dict)
    config_ini: dict[str, dict[str, str]] = Field(default_factory=dict)
    persistence: ApiPersistence
    files: dict[str, str] = Field(default_factory=dict)  # extra files next to config.ini in /app/config
    security: SecurityIds
    kubernetes_api_access: bool = False
    termination_grace_period_seconds: int = Field(ge=1, le=600)
    pre_stop_sleep_seconds: int = Field(ge=0, le=120)
    priority_class_name: PriorityClassName | None = None

    @field_validator("env")
    @classmethod
    def _not_reserved(cls, env: dict[str, str]) -> dict[str, str]:
        if reserved := sorted(API_RESERVED_ENV & set(env)):
            raise ValueError(f"{', '.join(reserved)}: set by the platform from the database and cache connections")
        return env

    @field_validator("files")
    @classmethod
    def _file_names(cls, files: dict[str, str]) -> dict[str, str]:
        if bad := [n for n in files if not _CONFIG_FILE_NAME.fullmatch(n) or n in ("config.ini", ".", "..")]:
            raise ValueError(f"{bad}: file names are letters, digits, '-', '_', '.'; config.ini is generated")
        return files

    @field_validator("config_ini")
    @classmethod
    def _ini_safe(cls, sections: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        names = [n for section, values in sections.items() for n in (section, *values) if not _INI_NAME.fullmatch(n)]
        values = [v for section in sections.values() for v in section.values() if "\n" in v]
        if names or values:
            raise ValueError(f"{names + values}: section and key names without '[]=' or line breaks, values on one line")
        return sections

    @model_validator(mode="after")
    def _metrics_port_is_its_own(self) -> ApiConfig:
        probe_ports = {p.port for p in (self.probes.startup, self.probes.liveness, self.probes.readiness)}
        if self.metrics_port is not None and self.metrics_port in {self.container_port, *probe_ports}:
            raise ValueError(
                f"metricsPort {self.metrics_port} must differ from containerPort and the probe ports "
                "(the public route reaches those); or set metricsPort to null if the app has no separate metrics port"
            )
        return self

    @model_validator(mode="after")
    def _drain_fits_grace(self) -> ApiConfig:
        if self.pre_stop_sleep_seconds >= self.termination_grace_period_seconds:
            raise ValueError(
                f"preStopSleepSeconds {self.pre_stop_sleep_seconds} must be less than "
                f"terminationGracePeriodSeconds {self.termination_grace_period_seconds}"
            )
        return self

    @property
    def max_pods(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling.enabled else self.replicas

    @property
    def min_pods(self) -> int:
        return self.autoscaling.min_replicas if self.autoscaling.enabled else self.replicas


class Exporter(Model):
    enabled: bool
    image: Image
    resources: Resources


# S3 bucket naming rules (3-63 lowercase letters, digits, dots, hyphens) and a key prefix.
BucketName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
KeyPrefix = Annotated[str, Field(pattern=r"^([A-Za-z0-9._-]+/)*$", max_length=200)]
Region = Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")]


class ObjectStore(Model):
    """An S3-compatible bucket that receives every dump: backups that survive the cluster.

    Credentials never enter config: ``existingSecret`` names a Secret in the namespace with the
    keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
    """

    endpoint: Hostname  # s3.eu-central-1.amazonaws.com, minio.storage.svc.cluster.local, ...
    port: Port | None = None  # None: 443 with TLS, 80 without
    tls: bool = True
    region: Region = "us-east-1"
    bucket: BucketName
    prefix: KeyPrefix = ""  # "" or ending in "/": platform/production/
    existing_secret: DnsLabel
    # The AWS CLI's own image: well kept, speaks every S3-compatible store, pinned like the rest.
    image: Image = Field(
        default_factory=lambda: Image.model_validate(
            {"repository": "docker.io/amazon/aws-cli", "tag": "2.33.2", "pullPolicy": "Always"}
        )
    )
    resources: Resources = Field(default_factory=lambda: Resources.model_validate(_resources("50m", "64Mi", "500m", "256Mi")))

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.endpoint}" + (f":{self.port}" if self.port else "")

    @property
    def effective_port(self) -> int:
        return self.port or (443 if self.tls else 80)


class Backup(Model):
    enabled: bool
    schedule: CronSchedule
    keep: int = Field(ge=1, le=365)
    size: StorageQuantity
    storage_class: DnsLabel | None = None
    resources: Resources
    object_store: ObjectStore | None = None  # None: dumps stay on the backup volume only
    priority_class_name: PriorityClassName | None = None


class SecurityIds(Model):
    """The UID/GID the official image's user really has (postgres alpine: 70, debian: 999)."""

    run_as_user: int = Field(ge=1, le=2**31 - 1)
    run_as_group: int = Field(ge=1, le=2**31 - 1)


class PostgresConfig(Model):
    """Settings of one Postgres instance (``platform:postgres``): image, auth, persistence, backups."""

    image: Image
    database: SqlIdentifier
    user: SqlIdentifier
    resources: Resources
    persistence: Persistence
    security: SecurityIds
    max_connections: int = Field(ge=10, le=10000)
    termination_grace_period_seconds: int = Field(ge=30, le=3600)
    backup: Backup
    metrics: Exporter
    priority_class_name: PriorityClassName | None = None


class RedisConfig(Model):
    """Settings of one Redis instance (``platform:redis``): image, memory policy, persistence."""

    image: Image
    resources: Resources
    persistence: Persistence
    security: SecurityIds
    maxmemory: MemoryQuantity
    maxmemory_policy: Literal[
        "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
        "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
    ]
    disable_dangerous_commands: bool
    termination_grace_period_seconds: int = Field(ge=10, le=600)
    metrics: Exporter
    priority_class_name: PriorityClassName | None = None


class Tls(Model):
    enabled: bool
    cluster_issuer: DnsLabel | None = None
    secret_name: DnsLabel | None = None


class IngressController(Model):
    """Where the ingress controller (or gateway) pods run: the API only accepts them."""

    namespace: DnsLabel
    pod_labels: dict[LabelKey, LabelValue]


class GatewayRef(Model):
    name: DnsLabel
    namespace: DnsLabel
    section_name: DnsLabel | None = None


class IngressConfig(Model):
    """How the API is exposed (``platform:ingress``): an Ingress, a Gateway API route, or nothing."""

    kind: Literal["ingress", "gateway", "none"]
    class_name: DnsLabel
    host: Hostname | None = None
    tls: Tls
    # Controller-specific extras (rate limits, body size, timeouts) on the Ingress/HTTPRoute.
    annotations: dict[LabelKey, str] = Field(default_factory=dict)
    controller: IngressController
    gateway: GatewayRef | None = None

    @model_validator(mode="after")
    def _coherent(self) -> IngressConfig:
        problems = []
        if self.tls.enabled and not self.host:
            problems.append("tls.enabled needs a 'host' to issue the certificate for")
        if self.tls.enabled and self.kind == "ingress" and not self.tls.cluster_issuer:
            problems.append("tls.enabled needs tls.clusterIssuer (the cert-manager ClusterIssuer)")
        if self.kind == "gateway" and self.gateway is None:
            problems.append("kind 'gateway' needs 'gateway: {name, namespace}' of an existing Gateway")
        elif self.kind == "gateway" and self.gateway and self.tls.enabled and not self.gateway.section_name:
            problems.append("tls.enabled with kind 'gateway' needs gateway.sectionName (the HTTPS listener with the certificate)")
        # ingress-nginx snippets run arbitrary config in the controller (CVE-2025-1974, Checkov CKV_K8S_153).
        problems += [f"annotations.{k}: snippet annotations are not allowed" for k in self.annotations if k.endswith("-snippet")]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def traffic_source(self) -> IngressController | None:
        """The pods that forward public traffic to the API, or None when nothing is exposed."""
        return None if self.kind == "none" else self.controller


ChartVersion = Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")]
Severity = Literal["critical", "warning", "info"]


class AlertReceiver(Model):
    """An Alertmanager webhook receiver. The URL carries a token, so config only names the Secret
    (in the monitoring namespace, made by whoever owns the webhook) and the key that holds it."""

    name: DnsLabel
    webhook_url_secret: DnsLabel
    webhook_url_key: str = Field(default="url", pattern=r"^[-._a-zA-Z0-9]{1,253}$")
    severities: tuple[Severity, ...] = Field(default=(), strict=False)  # empty: every severity


class MonitoringResources(Model):
    """Requests and limits of each kube-prometheus-stack workload (install mode)."""

    prometheus: Resources
    alertmanager: Resources
    grafana: Resources
    operator: Resources
    kube_state_metrics: Resources
    node_exporter: Resources


class LoggingConfig(Model):
    """Fluent Bit (a DaemonSet: one per cluster, like the stack) shipping container logs.

    The backend takes no credentials here: point it at an in-cluster collector or aggregator.
    """

    enabled: bool
    chart_version: ChartVersion
    output: Literal["es", "forward", "loki"]
    host: Hostname | None = None
    port: Port | None = None  # None: the output's usual port (9200, 24224, 3100)
    tls: bool
    resources: Resources

    @model_validator(mode="after")
    def _has_backend(self) -> LoggingConfig:
        if self.enabled and not self.host:
            raise ValueError("enabled needs 'host' of the log backend (for example elasticsearch.logging.svc)")
        return self


class MonitoringConfig(Model):
    """Scraping, alerting and dashboards (``platform:monitoring``): install, existing or off."""

    mode: Literal["install", "existing", "off"]
    namespace: DnsLabel
    release_name: DnsLabel
    chart_version: ChartVersion
    selector_labels: dict[LabelKey, LabelValue]
    scrape_interval: Duration
    retention: Duration
    storage: Persistence
    resources: MonitoringResources
    grafana: bool
    receivers: tuple[AlertReceiver, ...] = Field(default=(), strict=False)
    logging: LoggingConfig

    @model_validator(mode="after")
    def _coherent(self) -> MonitoringConfig:
        problems = []
        if self.receivers and self.mode != "install":
            problems.append(
                "receivers: only mode 'install' runs an Alertmanager; a shared one (mode 'existing') routes by its owners' config"
            )
        if self.logging.enabled and self.mode == "off":
            problems.append("logging.enabled: the log shipper runs in the monitoring namespace; set mode 'install' or 'existing'")
        names = [r.name for r in self.receivers]
        problems += [f"receivers: {n!r} is listed twice" for n in sorted({n for n in names if names.count(n) > 1})]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class PlatformConfig(Model):
    """The whole, validated configuration of one stack."""

    stack: str
    environment: Environment
    cluster: ClusterConfig
    namespace: NamespaceConfig
    api: ApiConfig
    postgres: PostgresConfig
    redis: RedisConfig
    ingress: IngressConfig
    monitoring: MonitoringConfig

    @property
    def ephemeral(self) -> bool:
        return self.environment == "ephemeral"

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def protect_data(self) -> bool:
        """Production data survives a routine ``pulumi destroy``: the engine refuses."""
        return self.production

    @property
    def retain_data(self) -> bool:
        """Staging and production keep volumes (and the namespace) when objects go away."""
        return self.environment in ("staging", "production")


GROUPS: dict[str, type[Model]] = {
    "cluster": ClusterConfig,
    "namespace": NamespaceConfig,
    "api": ApiConfig,
    "postgres": PostgresConfig,
    "redis": RedisConfig,
    "ingress": IngressConfig,
    "monitoring": MonitoringConfig,
}
M = TypeVar("M", bound=Model)
# Scalar keys, declared with types in Pulumi.yaml (Pulumi's project schema has no objects).
SCALARS = {"environment": ""}

# ---------------------------------------------------------------- environment defaults


def _resources(req_cpu: str, req_mem: str, lim_cpu: str, lim_mem: str) -> dict[str, Any]:
    return {"requests": {"cpu": req_cpu, "memory": req_mem}, "limits": {"cpu": lim_cpu, "memory": lim_mem}}


def _probe(path: str, delay: int, period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {"path": path, "initialDelaySeconds": delay, "periodSeconds": period,
            "timeoutSeconds": timeout, "failureThreshold": failures}


def environment_defaults(environment: str, stack: str) -> dict[str, Any]:
    """The defaults of one environment, as stack config would spell them (camelCase)."""
    production = environment == "production"
    durable = environment in ("staging", "production")
    replicas = {"dev": 1, "staging": 2, "production": 3}.get(environment, 1)
    size = {"production": ("20Gi", "5Gi"), "staging": ("10Gi", "2Gi")}.get(environment, ("1Gi", "1Gi"))
    # Staging and production data pods request all the memory they may use: a pod above its
    # requests is the first the kubelet evicts under node memory pressure (sidecars count too).
    exporter_resources = _resources("10m", "64Mi" if durable else "32Mi", "100m", "64Mi")
    return {
        "cluster": {"deleteUnreachable": environment == "ephemeral"},
        "namespace": {
            "name": stack,
            "quota": {
                "requestsCpu": "8" if production else "4",
                "requestsMemory": "16Gi" if production else "8Gi",
                "limitsCpu": "16" if production else "8",
                "limitsMemory": "32Gi" if production else "16Gi",
                "requestsStorage": "200Gi" if production else "50Gi",
                "persistentVolumeClaims": 10,
                "pods": 40 if production else 20,
                "services": 10,
            },
            "limitRange": {
                "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
                "defaultLimit": {"cpu": "500m", "memory": "512Mi"},
                "max": {"cpu": "4", "memory": "8Gi"},
            },
        },
        "api": {
            # Dev and review apps run a public demo image that serves probes and metrics;
            # staging and production run the seed's API (port 8080, /health, /ready, /metrics).
            # pullPolicy Always: a re-pushed tag never runs stale on some nodes (CKV_K8S_15); pin a digest to be exact.
            "image": {"repository": "registry.example.com/platform/api-fpc", "tag": "1.0.0", "pullPolicy": "Always"}
            if durable
            else {"repository": "ghcr.io/stefanprodan/podinfo", "tag": "6.7.1", "pullPolicy": "Always"},
            "replicas": replicas,
            # Not the seed's 1000: above 10000 it never matches a host user (CKV_K8S_40); the images only read their files.
            "security": {"runAsUser": 10001, "runAsGroup": 10001},
            "containerPort": 8080 if durable else 9898,
            "metricsPath": "/metrics",
            # Metrics on their own port, which only the monitoring namespace reaches and no public
            # route points at. podinfo opens it when PODINFO_PORT_METRICS is set (its --port-metrics).
            "metricsPort": 9090 if durable else 9797,
            "resources": _resources("100m", "256Mi", "500m", "512Mi"),
            "autoscaling": {
                "enabled": production,
                "minReplicas": 3 if production else 2,
                "maxReplicas": 10,
                "targetCpuUtilization": 50,
                "targetMemoryUtilization": 70,
                "scaleDownStabilizationSeconds": 300,
            },
            "probes": {
                "startup": _probe("/health" if durable else "/healthz", 0, 5, 5, 30),
                "liveness": _probe("/health" if durable else "/healthz", 30 if durable else 0, 10, 5, 3),
                "readiness": _probe("/ready" if durable else "/readyz", 5, 5, 5, 3),
            },
            **({} if durable else {"env": {"PODINFO_PORT_METRICS": "9797"}}),
            "appName": "api-fpc",
            "logLevel": "DEBUG" if environment == "dev" else "INFO",
            "persistence": {"enabled": False, "size": "10Gi", "accessMode": "ReadWriteOnce"},
            "terminationGracePeriodSeconds": 30,
            "preStopSleepSeconds": 5,
        },
        "postgres": {
            # pullPolicy Always (CKV_K8S_15) on all data images too: a re-pushed tag never runs stale.
            "image": {"repository": "docker.io/library/postgres", "tag": "17.11-alpine", "pullPolicy": "Always"},
            "database": "myapp",
            "user": "app",
            "resources": _resources("250m", "1Gi", "1", "1Gi") if durable else _resources("100m", "256Mi", "500m", "512Mi"),
            "persistence": {"enabled": True, "size": size[0]},
            "security": {"runAsUser": 70, "runAsGroup": 70},
            "maxConnections": 100,
            "terminationGracePeriodSeconds": 120,
            "backup": {
                "enabled": durable,
                "schedule": "0 3 * * *",
                "keep": 14 if production else 7,
                "size": size[0],
                "resources": _resources("50m", "128Mi", "500m", "512Mi"),
            },
            "metrics": {
                "enabled": True,
                "image": {
                    "repository": "quay.io/prometheuscommunity/postgres-exporter", "tag": "v0.20.0", "pullPolicy": "Always"
                },
                "resources": exporter_resources,
            },
        },
        "redis": {
            "image": {"repository": "docker.io/library/redis", "tag": "7.4.10-alpine", "pullPolicy": "Always"},
            "resources": _resources("50m", "384Mi", "500m", "384Mi") if durable else _resources("50m", "64Mi", "250m", "192Mi"),
            "persistence": {"enabled": durable, "size": size[1]},
            "security": {"runAsUser": 999, "runAsGroup": 1000},
            # A cache: evict least-recently-used keys; maxmemory leaves room under the limit.
            "maxmemory": "256Mi" if durable else "128Mi",
            "maxmemoryPolicy": "allkeys-lru",
            "disableDangerousCommands": production,
            "terminationGracePeriodSeconds": 30,
            "metrics": {
                "enabled": True,
                "image": {"repository": "docker.io/oliver006/redis_exporter", "tag": "v1.90.0", "pullPolicy": "Always"},
                "resources": exporter_resources,
            },
        },
        "ingress": {
            "kind": "none" if environment in ("dev", "ephemeral") else "ingress",
            "className": "nginx",
            "host": {"staging": "api.staging.example.com", "production": "api.example.com"}.get(environment),
            "tls": {"enabled": durable, "clusterIssuer": "letsencrypt" if durable else None},
            "controller": {"namespace": "ingress-nginx", "podLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
        },
        "monitoring": {
            # kube-prometheus-stack is cluster-wide (CRDs, ClusterRoles): one install per
            # cluster. Dev installs it on a local cluster; the others use the shared one.
            "mode": "install" if environment == "dev" else ("existing" if durable else "off"),
            "namespace": "monitoring",
            "releaseName": "kube-prometheus-stack",
            "chartVersion": "88.3.0",
            # The labels the (shared) Prometheus selects ServiceMonitors/PrometheusRules by; an
            # install selects every object anyway (see components/monitoring.py).
            "selectorLabels": {"release": "kube-prometheus-stack"},
            "scrapeInterval": "30s",
            "retention": "15d" if production else "7d",
            "storage": {"enabled": True, "size": "50Gi" if production else "10Gi"},
            "resources": {
                "prometheus": _resources("200m", "1Gi", "1", "2Gi"),
                "alertmanager": _resources("10m", "64Mi", "100m", "128Mi"),
                "grafana": _resources("50m", "128Mi", "500m", "256Mi"),
                "operator": _resources("50m", "64Mi", "200m", "256Mi"),
                "kubeStateMetrics": _resources("10m", "64Mi", "100m", "256Mi"),
                "nodeExporter": _resources("10m", "32Mi", "100m", "64Mi"),
            },
            "grafana": True,
            "logging": {
                "enabled": False,
                "chartVersion": "0.57.9",
                "output": "es",
                "tls": False,
                "resources": _resources("20m", "64Mi", "200m", "128Mi"),
            },
        },
    }


# ---------------------------------------------------------------- loading


def deep_merge(model: type[BaseModel], base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, guided by ``model``: a nested settings group merges key by key;
    any other value, maps of data such as label sets included, replaces the default whole (a
    selector that merged in the default's labels would match other pods than the ones meant)."""
    merged = copy.deepcopy(base)
    groups = {field.alias or name: field.annotation for name, field in model.model_fields.items()}
    for key, value in override.items():
        group = groups.get(key)
        is_group = isinstance(value, Mapping) and isinstance(merged.get(key), dict)
        if is_group and isinstance(group, type) and issubclass(group, BaseModel):
            merged[key] = deep_merge(group, merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def environment_for(stack: str, override: str = "") -> str:
    """dev, staging and production are themselves; any other stack is a review environment."""
    if override:
        return override
    return stack if stack in NAMED_ENVIRONMENTS else "ephemeral"


def _secret_keys(value: Any, path: str) -> list[str]:
    found = []
    if isinstance(value, Mapping):
        for key, child in value.items():
            child_path = f"{path}.{key}"
            if _SECRET_KEY.search(str(key)) and key not in _SECRET_REFERENCE_KEYS and not str(key).endswith("Secret"):
                found.append(
                    f"{child_path}: plaintext secrets are not accepted in config; "
                    "passwords are generated with pulumi-random and kept in Kubernetes Secrets"
                )
            found += _secret_keys(child, child_path)
    return found


def _format_error(group: str, error: Mapping[str, Any]) -> str:
    where = ".".join(str(p) for p in (group, *error["loc"]) if p != "")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see the config reference in README.md)"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif "input" in error and error["type"] not in ("value_error", "assertion_error"):
        message += f" (got {error['input']!r})"
    return f"{PROJECT}:{where}: {message}"


def load_config(stack: str, raw: Mapping[str, Any]) -> PlatformConfig:
    """Validate one stack's raw config (keys without the ``platform:`` prefix).

    Pure: no Pulumi runtime needed, so every rule is testable directly.
    """
    problems: list[str] = []
    unknown = sorted(set(raw) - set(GROUPS) - set(SCALARS))
    problems += [
        f"{PROJECT}:{key}: unknown key; allowed top-level keys are {', '.join(sorted({*GROUPS, *SCALARS}))}"
        for key in unknown
    ]
    environment = raw.get("environment") or ""
    if environment and environment not in ENVIRONMENTS:
        problems.append(f"{PROJECT}:environment: {environment!r} is not one of {', '.join(ENVIRONMENTS)}")
        environment = ""
    environment = environment_for(stack, environment)
    defaults = environment_defaults(environment, stack)

    groups: dict[str, Model] = {}
    for name, model in GROUPS.items():
        value = raw.get(name, {})
        if not isinstance(value, Mapping):
            problems.append(f"{PROJECT}:{name}: must be an object of settings (got {value!r})")
            continue
        secrets = _secret_keys(value, f"{PROJECT}:{name}")
        problems += secrets
        try:
            groups[name] = model.model_validate(deep_merge(model, defaults[name], value))
        except ValidationError as exc:
            # A secret-looking key is already reported as such; not again as "unknown".
            said = {p.split(": ", 1)[0] for p in secrets}
            problems += [m for m in (_format_error(name, e) for e in exc.errors()) if m.split(": ", 1)[0] not in said]
    if problems:
        raise ConfigError(problems)
    config = PlatformConfig.model_validate({"stack": stack, "environment": environment, **groups})
    problems = _relations(config) + _environment_rules(config)
    if problems:
        raise ConfigError(problems)
    return config


def _relations(config: PlatformConfig) -> list[str]:
    """Rules that span groups: each one would otherwise fail later, inside the cluster."""
    problems = []
    api, pg, redis, ns = config.api, config.postgres, config.redis, config.namespace
    if api.persistence.enabled and api.persistence.access_mode == "ReadWriteOnce" and api.max_pods > 1:
        problems.append(
            f"{PROJECT}:api.persistence: a ReadWriteOnce volume cannot be shared by {api.max_pods} API pods; "
            "use accessMode ReadWriteMany, or one replica without autoscaling"
        )
    if parse_quantity(redis.maxmemory) >= parse_quantity(redis.resources.limits.memory):
        problems.append(
            f"{PROJECT}:redis.maxmemory: {redis.maxmemory} must stay below redis.resources.limits.memory "
            f"{redis.resources.limits.memory}, or the kernel kills Redis before it evicts"
        )
    if ns.quota.persistent_volume_claims < len(volume_claims(config)):
        problems.append(
            f"{PROJECT}:namespace.quota.persistentVolumeClaims: {ns.quota.persistent_volume_claims} is fewer "
            f"than the {len(volume_claims(config))} volumes this environment claims"
        )
    pods = sum(count for count, _ in workload_footprint(config))
    if pods > ns.quota.pods:
        problems.append(
            f"{PROJECT}:namespace.quota.pods: {ns.quota.pods} is fewer than the {pods} pods this environment can run"
        )
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            need = sum(
                (count * parse_quantity(getattr(getattr(res, kind), resource)) for count, res in workload_footprint(config)),
                Decimal(0),
            )
            quota = getattr(ns.quota, f"{kind}_{resource}")
            if need > parse_quantity(quota):
                problems.append(
                    f"{PROJECT}:namespace.quota.{kind}{resource.capitalize()}: {quota} is less than the "
                    f"{_pretty(need, resource)} of {kind}.{resource} that api.autoscaling.maxReplicas/api.replicas "
                    "(plus one surge pod), Postgres, Redis and the backup job need; scale-up would stall"
                )
    storage = sum((parse_quantity(size) for size in volume_claims(config)), Decimal(0))
    if storage > parse_quantity(ns.quota.requests_storage):
        problems.append(
            f"{PROJECT}:namespace.quota.requestsStorage: {ns.quota.requests_storage} is less than the "
            f"{_pretty(storage, 'memory')} the volumes of this environment claim"
        )
    if api.metrics_port is None and config.ingress.kind == "ingress":
        problems.append(
            f"{PROJECT}:api.metricsPort: null serves {api.metrics_path} on the port the Ingress exposes, and an Ingress "
            "cannot deny a path portably; give the app a metrics port, or use ingress.kind 'gateway' (its route denies the path)"
        )
    if pg.backup.enabled and not pg.persistence.enabled:
        problems.append(
            f"{PROJECT}:postgres.backup.enabled: backups of a database without persistence make no sense; "
            "enable postgres.persistence"
        )
    return problems


def _environment_rules(config: PlatformConfig) -> list[str]:
    """Staging and production keep their data pods off the eviction list; production also refuses
    defaults that are only safe for throwaway environments."""
    problems = _data_memory_guaranteed(config)
    if not config.production:
        return problems
    if config.api.min_pods < 2:
        problems.append(f"{PROJECT}:api.replicas: production needs at least 2 API replicas (or api.autoscaling.minReplicas >= 2)")
    for group in ("postgres", "redis"):
        if not getattr(config, group).persistence.enabled:
            problems.append(f"{PROJECT}:{group}.persistence.enabled: production data must be persistent; set it to true")
    for key, image in images(config).items():
        if image.floating:
            problems.append(
                f"{PROJECT}:{key}: production needs a pinned image, not the moving tag {image.tag or 'latest'!r}; "
                "set a version tag or a digest"
            )
    return problems


def config_warnings(config: PlatformConfig) -> list[str]:
    """Settings that are allowed but risky: printed at preview, never an error."""
    backup = config.postgres.backup
    if config.production and backup.enabled and backup.object_store is None:
        return [
            f"{PROJECT}:postgres.backup.objectStore: production backups stay on a volume in the same namespace; "
            "a lost namespace or cluster takes them too. Set an S3-compatible objectStore to copy each dump off the cluster"
        ]
    return []


def _data_memory_guaranteed(config: PlatformConfig) -> list[str]:
    """Staging and production: every container of a data pod requests the memory it may use. A pod
    whose usage exceeds its requests is evicted first under node memory pressure: a database outage."""
    if config.environment not in ("staging", "production"):
        return []
    containers = {
        "postgres.resources": config.postgres.resources,
        "postgres.metrics.resources": config.postgres.metrics.resources if config.postgres.metrics.enabled else None,
        "redis.resources": config.redis.resources,
        "redis.metrics.resources": config.redis.metrics.resources if config.redis.metrics.enabled else None,
    }
    return [
        f"{PROJECT}:{key}.requests.memory: {res.requests.memory} must equal {key}.limits.memory {res.limits.memory} "
        f"in {config.environment}, so node memory pressure never evicts the data store first"
        for key, res in containers.items()
        if res is not None and parse_quantity(res.requests.memory) != parse_quantity(res.limits.memory)
    ]


def images(config: PlatformConfig) -> dict[str, Image]:
    """Every image the platform runs, by its config key."""
    return {
        "api.image": config.api.image,
        "postgres.image": config.postgres.image,
        "postgres.metrics.image": config.postgres.metrics.image,
        "redis.image": config.redis.image,
        "redis.metrics.image": config.redis.metrics.image,
    } | ({"postgres.backup.objectStore.image": store.image} if (store := config.postgres.backup.object_store) else {})


def volume_claims(config: PlatformConfig) -> list[str]:
    """The sizes of every PersistentVolumeClaim this environment makes in its namespace."""
    sizes = [p.size for p in (config.api.persistence, config.postgres.persistence, config.redis.persistence) if p.enabled]
    if config.postgres.backup.enabled:
        sizes.append(config.postgres.backup.size)
    return sizes


def workload_footprint(config: PlatformConfig) -> list[tuple[int, Resources]]:
    """(pod count, container resources) at peak: max API pods plus a surge pod, data pods, backup."""
    api, pg, redis = config.api, config.postgres, config.redis
    footprint = [(api.max_pods + 1, api.resources), (1, pg.resources), (1, redis.resources)]
    footprint += [(1, exporter.resources) for exporter in (pg.metrics, redis.metrics) if exporter.enabled]
    if pg.backup.enabled:
        footprint.append((1, pg.backup.resources))
        if pg.backup.object_store:
            footprint.append((1, pg.backup.object_store.resources))
    return footprint


def _pretty(value: Decimal, resource: str) -> str:
    if resource == "cpu":
        return f"{value.normalize():f} CPU"
    return f"{(value / 2**20).quantize(Decimal(1))}Mi"


def read_pulumi_config() -> tuple[str, dict[str, Any]]:
    """The stack name and this project's raw config, as the Pulumi engine passed it."""
    from pulumi.runtime import config as runtime_config

    prefix = f"{PROJECT}:"
    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    for full_key, value in everything.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        if isinstance(value, str) and key in GROUPS:
            with contextlib.suppress(json.JSONDecodeError):  # reported by load_config as "must be an object"
                value = json.loads(value)
        raw[key] = value
    secret_keys = runtime_config.get_config_secret_keys_env() + list(runtime_config._SECRET_KEYS.get())
    secret = sorted(k for k in secret_keys if k.startswith(prefix))
    if secret:
        raise ConfigError(
            [f"{k}: is set as a secret, but this project takes no secrets in config (passwords are generated)" for k in secret]
        )
    return pulumi.get_stack(), raw


def settings(model: type[M], environment: str, overrides: Mapping[str, Any] | None = None) -> M:
    """One component's settings built in code, for programs that use the components as a library.

    ``overrides`` is spelled like the stack config group (camelCase keys) and merged over the
    ``environment``'s defaults (dev, staging, production, ephemeral). The whole configuration is
    validated exactly as stack config is, so a bad value raises the same ``ConfigError`` naming
    ``platform:<group>.<key>``. No ``pulumi.Config`` and no Pulumi runtime are needed.
    """
    group = next((name for name, cls in GROUPS.items() if cls is model), None)
    if group is None:
        raise TypeError(f"{model.__name__} is not a settings group; the groups are {', '.join(GROUPS)}")
    if environment not in ENVIRONMENTS:
        raise ConfigError([f"{PROJECT}:environment: {environment!r} is not one of {', '.join(ENVIRONMENTS)}"])
    config = load_config(environment, {"environment": environment, group: dict(overrides or {})})
    result = getattr(config, group)
    assert isinstance(result, model)
    return result


def from_pulumi() -> PlatformConfig:
    """Load and validate the running stack's config; raises ConfigError before any resource."""
    stack, raw = read_pulumi_config()
    config = load_config(stack, raw)
    for warning in config_warnings(config):
        pulumi.log.warn(warning)
    return config
