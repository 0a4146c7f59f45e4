"""Settings of one ApiService (``platform:api``): image, ports, probes, scaling, app config."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..errors import PROJECT
from ..profiles import EnvironmentProfile
from ..validation import EnvName, HttpPath, Percent, Port, PriorityClassName
from .base import (
    Cidr,
    Container,
    Footprint,
    Group,
    Image,
    Model,
    Persistence,
    Probe,
    Resources,
    SecurityIds,
    Workload,
    probe,
    resources,
)

# Set by the ApiService itself from the database and cache connections.
API_RESERVED_ENV = frozenset({
    "APP_NAME", "APP_VERSION", "LOG_LEVEL", "DATABASE_HOST", "DATABASE_PORT", "DB_HOST", "DB_PORT", "DB_NAME",
    "DB_USER", "DB_PASSWORD", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD",
})
_CONFIG_FILE_NAME = re.compile(r"[-._a-zA-Z0-9]{1,253}")  # fullmatch: "$" passes "a.yaml\n"
_INI_NAME = re.compile(r"[^\s\[\]=;#][^\n\[\]=]*")
_INI_VALUE = re.compile(r"[^\n\r\[\]=]+")


class Autoscaling(Model):
    """A HorizontalPodAutoscaler on CPU (and memory) utilisation."""

    enabled: bool
    """Run an HPA; the Deployment then sets no replica count of its own."""
    min_replicas: int = Field(ge=1, le=100)
    """The fewest pods the HPA keeps."""
    max_replicas: int = Field(ge=1, le=100)
    """The most pods the HPA starts (the quota must fit them plus a surge pod)."""
    target_cpu_utilization: Percent
    """Average CPU, in percent of requests, the HPA aims for."""
    target_memory_utilization: Percent | None = None
    """Average memory, in percent of requests; unset: CPU only."""
    scale_down_stabilization_seconds: int = Field(ge=0, le=3600)
    """How long load must stay low before the HPA removes pods."""

    @model_validator(mode="after")
    def _min_le_max(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas {self.min_replicas} is more than maxReplicas {self.max_replicas}")
        return self


class Probes(Model):
    """The app's three HTTP probes."""

    startup: Probe
    """Holds the other probes off until the app has started."""
    liveness: Probe
    """Restarts a container that stopped answering."""
    readiness: Probe
    """Takes a pod out of the Service while it cannot serve."""


class ApiPersistence(Persistence):
    """The seed's app-data volume, mounted at /app/data."""

    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = "ReadWriteOnce"
    """ReadWriteMany lets several pods share the volume (the StorageClass must support it)."""


# Prometheus's own syntax for metric and label names.
MetricName = Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", max_length=200)]
MetricLabel = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=100)]


class ApiConfig(Group):
    """Settings of one ApiService (``platform:api``); build in code with ``ApiConfig.for_environment``."""

    KEY = "api"

    image: Image
    """The app's image (no default: the library cannot know your app)."""
    replicas: int = Field(ge=1, le=100)
    """Pods without autoscaling."""
    container_port: Port
    """The port the app serves HTTP on (the container's named port `http`)."""
    metrics_path: HttpPath
    """The path Prometheus scrapes."""
    metrics_port: Port | None = None
    """The port the app serves metricsPath on, apart from the public one; unset: containerPort (the
    seed's app), where the public route denies metricsPath (components/ingress.py)."""
    metrics_requests: MetricName = "api_requests_total"
    """The app's request counter (the alerts and dashboard follow the metrics contract; defaults: the seed's app)."""
    metrics_status_label: MetricLabel | None = None
    """The label with the HTTP status on the request counter; unset: the app has none, so no error-ratio alert."""
    metrics_latency: MetricName = "api_response_time_seconds"
    """The app's request latency metric (without _bucket, _sum or _count)."""
    metrics_latency_form: Literal["histogram", "sum_count"] = "sum_count"
    """histogram: <name>_bucket (p99 alert); sum_count: only <name>_sum and <name>_count (mean alert)."""
    resources: Resources
    """The app container's requests and limits."""
    autoscaling: Autoscaling
    """The HorizontalPodAutoscaler."""
    probes: Probes
    """Startup, liveness and readiness probes."""
    app_name: str | None = Field(default=None, min_length=1, max_length=100)
    """APP_NAME and config.ini's Application.Name; unset: the instance name."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]
    """LOG_LEVEL and config.ini's Application.LogLevel."""
    env: dict[EnvName, str] = Field(default_factory=dict)
    """Extra environment variables (non-secret; the connection variables are set by the platform)."""
    bindings: Literal["variables", "files"] = "variables"
    """How each store's own login for the app reaches it: variables (DB_USER, DB_PASSWORD, DATABASE_URL, REDIS_PASSWORD, ...
    from its binding Secret), or files (each binding Secret mounted at $SERVICE_BINDING_ROOT/<store>, servicebinding.io)."""
    config_ini: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Sections merged over the generated /app/config/config.ini."""
    persistence: ApiPersistence
    """The app-data volume at /app/data."""
    files: dict[str, str] = Field(default_factory=dict)
    """Extra files next to config.ini in /app/config, by name."""
    security: SecurityIds
    """The UID/GID the app runs as."""
    kubernetes_api_access: bool = False
    """Mount a ServiceAccount token and grant get on its own ConfigMap and Secrets (needs kubernetesApiEndpoints)."""
    kubernetes_api_endpoints: list[Cidr] = Field(default_factory=list)
    """The API server's addresses the pods may reach (network policies see the endpoints, not the Service's
    ClusterIP): `kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes`."""
    kubernetes_api_port: Port = 443
    """The API server's endpoint port (the same command shows it; 6443 on kubeadm clusters)."""
    termination_grace_period_seconds: int = Field(ge=1, le=600)
    """Seconds between SIGTERM and SIGKILL."""
    pre_stop_sleep_seconds: int = Field(ge=0, le=120)
    """Seconds a stopping pod keeps serving while its endpoint is removed everywhere."""
    priority_class_name: PriorityClassName | None = None
    """An existing PriorityClass of the cluster (never created here; system-* refused)."""

    @field_validator("env")
    @classmethod
    def _not_reserved(cls, env: dict[str, str]) -> dict[str, str]:
        if reserved := sorted(API_RESERVED_ENV & set(env)):
            raise ValueError(f"{', '.join(reserved)}: set by the platform from the database and cache connections")
        return env

    @field_validator("app_name")
    @classmethod
    def _one_ini_value(cls, name: str | None) -> str | None:
        if name is not None and not _INI_VALUE.fullmatch(name):
            raise ValueError(f"{name!r}: one line without '[', ']' or '=' (it is written into config.ini)")
        return name

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
    def _metrics_path_is_not_the_app(self) -> ApiConfig:
        if self.metrics_path == "/":
            raise ValueError("metricsPath '/' would make the whole app private (the route denies the metrics path)")
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

    @classmethod
    def defaults(cls, env: EnvironmentProfile) -> dict[str, Any]:
        return {
            "replicas": env.replicas,
            # Above 10000 it never matches a host user (CKV_K8S_40); the app only reads its files.
            "security": {"runAsUser": 10001, "runAsGroup": 10001},
            "containerPort": 8080,
            "metricsPath": "/metrics",
            "resources": resources("100m", "256Mi", "500m", "512Mi"),
            "autoscaling": {
                "enabled": env.autoscaling,
                "minReplicas": 3 if env.autoscaling else 2,
                "maxReplicas": 10,
                "targetCpuUtilization": 50,
                "targetMemoryUtilization": 70,
                "scaleDownStabilizationSeconds": 300,
            },
            "probes": {
                "startup": probe("/healthz", 0, 5, 5, 30),
                "liveness": probe("/healthz", 0, 10, 5, 3),
                "readiness": probe("/readyz", 5, 5, 5, 3),
            },
            "logLevel": "DEBUG" if env.debug_logs else "INFO",
            "persistence": {"enabled": False, "size": "10Gi", "accessMode": "ReadWriteOnce"},
            "terminationGracePeriodSeconds": 30,
            "preStopSleepSeconds": 5,
        }

    def rules(self, env: EnvironmentProfile) -> list[str]:
        problems = []
        if self.persistence.enabled and self.persistence.access_mode == "ReadWriteOnce" and self.max_pods > 1:
            problems.append(
                f"{PROJECT}:api.persistence: a ReadWriteOnce volume cannot be shared by {self.max_pods} API pods; "
                "use accessMode ReadWriteMany, or one replica without autoscaling"
            )
        if self.kubernetes_api_access and not self.kubernetes_api_endpoints:
            problems.append(
                f"{PROJECT}:api.kubernetesApiEndpoints: api.kubernetesApiAccess needs the API server's addresses, or "
                "the namespace's default deny drops every call; list them (kubectl get endpointslices -n default "
                "-l kubernetes.io/service-name=kubernetes) as CIDRs (10.0.0.5/32)"
            )
        if env.strict and self.min_pods < 2:
            problems.append(
                f"{PROJECT}:api.replicas: {env.name} needs at least 2 API replicas (or api.autoscaling.minReplicas >= 2)"
            )
        return problems

    def footprint(self) -> Footprint:
        """Max pods plus the rollout's surge pod; its data volume; one Service."""
        pods = Workload("api.autoscaling.maxReplicas/api.replicas (plus one surge pod)", self.max_pods + 1,
                        (Container("api", self.resources, self.image),))
        claims = (("api.persistence", self.persistence.size),) if self.persistence.enabled else ()
        return Footprint((pods,), claims, services=1)
