"""Settings of the monitoring stack (``platform:monitoring``): install, existing or off."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ..profiles import EnvironmentProfile
from ..validation import DnsLabel, Duration, Hostname, LabelKey, LabelValue, Port
from .base import Group, Model, Persistence, Resources, resources

ChartVersion = Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")]
Severity = Literal["critical", "warning", "info"]


class AlertReceiver(Model):
    """An Alertmanager webhook receiver. The URL carries a token, so config only names the Secret
    (in the monitoring namespace, made by whoever owns the webhook) and the key that holds it."""

    name: DnsLabel
    """The receiver's name."""
    webhook_url_secret: DnsLabel
    """The Secret in the monitoring namespace that holds the webhook URL."""
    webhook_url_key: str = Field(default="url", pattern=r"^[-._a-zA-Z0-9]{1,253}$")
    """The key of that Secret."""
    severities: tuple[Severity, ...] = Field(default=(), strict=False)
    """The severities routed to it; empty: every severity."""


class MonitoringResources(Model):
    """Requests and limits of each kube-prometheus-stack workload (install mode)."""

    prometheus: Resources
    """Prometheus."""
    alertmanager: Resources
    """Alertmanager."""
    grafana: Resources
    """Grafana."""
    operator: Resources
    """The Prometheus Operator."""
    kube_state_metrics: Resources
    """kube-state-metrics."""
    node_exporter: Resources
    """node-exporter (per node)."""


class LoggingConfig(Model):
    """Fluent Bit (a DaemonSet: one per cluster, like the stack) shipping container logs.

    The backend takes no credentials here: point it at an in-cluster collector or aggregator.
    """

    enabled: bool
    """Install Fluent Bit."""
    chart_version: ChartVersion
    """The fluent-bit chart's version."""
    output: Literal["es", "forward", "loki"]
    """The backend's protocol."""
    host: Hostname | None = None
    """The backend's host."""
    port: Port | None = None
    """The backend's port; unset: the output's usual port (9200, 24224, 3100)."""
    tls: bool
    """TLS to the backend."""
    resources: Resources
    """Fluent Bit's requests and limits."""

    @model_validator(mode="after")
    def _has_backend(self) -> LoggingConfig:
        if self.enabled and not self.host:
            raise ValueError("enabled needs 'host' of the log backend (for example elasticsearch.logging.svc)")
        return self


class MonitoringConfig(Group):
    """Scraping, alerting and dashboards (``platform:monitoring``): install, existing or off."""

    KEY = "monitoring"

    mode: Literal["install", "existing", "off"]
    """install: kube-prometheus-stack (one per cluster); existing: the cluster's Prometheus; off: nothing."""
    namespace: DnsLabel
    """The monitoring namespace (Prometheus runs there; it may scrape the metrics ports)."""
    prometheus_pod_labels: dict[LabelKey, LabelValue]
    """Labels of the Prometheus pods in that namespace: only they reach the metrics ports (not Grafana,
    Alertmanager or a log shipper there). prometheus-operator labels its pods app.kubernetes.io/name=prometheus."""
    release_name: DnsLabel
    """The Helm release name (install), also the stack's object name prefix."""
    chart_version: ChartVersion
    """The kube-prometheus-stack chart version (install)."""
    selector_labels: dict[LabelKey, LabelValue]
    """Labels on every ServiceMonitor, rule and dashboard: what the cluster's Prometheus selects by."""
    scrape_interval: Duration
    """How often each target is scraped."""
    retention: Duration
    """How long Prometheus keeps samples (install)."""
    storage: Persistence
    """Prometheus' volume (install)."""
    resources: MonitoringResources
    """Requests and limits of the stack's workloads (install)."""
    grafana: bool
    """Install Grafana with the stack."""
    receivers: tuple[AlertReceiver, ...] = Field(default=(), strict=False)
    """Alertmanager webhook receivers (install)."""
    logging: LoggingConfig
    """The optional log shipper."""

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

    @classmethod
    def defaults(cls, env: EnvironmentProfile) -> dict[str, Any]:
        return {
            # kube-prometheus-stack is cluster-wide (CRDs, ClusterRoles): one install per cluster.
            "mode": env.monitoring,
            "namespace": "monitoring",
            "prometheusPodLabels": {"app.kubernetes.io/name": "prometheus"},
            "releaseName": "kube-prometheus-stack",
            "chartVersion": "88.3.0",
            # The labels a shared Prometheus selects ServiceMonitors/PrometheusRules by; an install
            # selects every object anyway (see components/monitoring.py).
            "selectorLabels": {"release": "kube-prometheus-stack"},
            "scrapeInterval": "30s",
            "retention": "15d" if env.strict else "7d",
            "storage": {"enabled": True, "size": "50Gi" if env.strict else "10Gi"},
            "resources": {
                "prometheus": resources("200m", "1Gi", "1", "2Gi"),
                "alertmanager": resources("10m", "64Mi", "100m", "128Mi"),
                "grafana": resources("50m", "128Mi", "500m", "256Mi"),
                "operator": resources("50m", "64Mi", "200m", "256Mi"),
                "kubeStateMetrics": resources("10m", "64Mi", "100m", "256Mi"),
                "nodeExporter": resources("10m", "32Mi", "100m", "64Mi"),
            },
            "grafana": True,
            "logging": {
                "enabled": False,
                "chartVersion": "0.57.9",
                "output": "es",
                "tls": False,
                "resources": resources("20m", "64Mi", "200m", "128Mi"),
            },
        }
