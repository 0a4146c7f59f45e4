"""Monitoring: scrape targets, alert rules and dashboards, and (mode ``install``) the stack itself.

* ``install``: kube-prometheus-stack (pinned) as a ``helm.v3.Release`` in its own namespace, from
  its Helm repository or from a local chart directory (``chartPath``: the one scripts/
  fetch-upstream.sh assembles offline). Its CRDs, ClusterRoles and node-exporter DaemonSet are
  cluster-wide: ONE install per cluster.
* ``existing``: only this platform's ServiceMonitors, PrometheusRule and dashboards, labelled with
  ``selectorLabels`` so the cluster's Prometheus selects them (its CRDs must exist).
* ``off``: nothing.

Rules and dashboards are data in ``monitoring/`` (the tests run promtool on exactly what is
deployed). The platform's objects live in the app namespace, next to what they watch: they go
away with the environment, need no write access to a shared namespace, and the chart's Grafana
sidecar searches ALL namespaces for ``grafana_dashboard: "1"`` ConfigMaps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from .connections import MetricsTarget
from .contracts import instance_name_problems, raise_if, require, sequence_of
from .environment import Environment, Where, namespace_of
from .labels import labels, metadata
from .namespace import NamespaceRef, claim_in
from .settings import LoggingConfig, MonitoringConfig, Resources
from .settings.base import settings_problems
from .validation import parse_quantity

# The repository's monitoring/ directory; an installed wheel carries a copy inside the package.
_PACKAGED_ASSETS = Path(__file__).resolve().parent / "assets"
ASSETS = _PACKAGED_ASSETS if _PACKAGED_ASSETS.is_dir() else Path(__file__).resolve().parent.parent / "monitoring"
STACK_CHART = ("kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts")
LOGGING_CHART = ("fluent-bit", "https://fluent.github.io/helm-charts")
GRAFANA_USER_KEY, GRAFANA_PASSWORD_KEY = "admin-user", "admin-password"
LOG_PORTS = {"es": 9200, "forward": 24224, "loki": 3100}
# ${name} in monitoring/rules/*.yaml and dashboards/*.json: namespace, job (the instance) and the
# values a target brings. Grafana's own ${datasource} is not one of them, so dashboards replace
# only the names they are given.
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True, kw_only=True)
class MonitoringArgs:
    """The targets to scrape, alert on and chart, and how (or whether) Prometheus runs.

    Attributes:
        environment: the ``Environment`` (or ``NamespaceRef``) whose namespace holds the ServiceMonitors,
            rules and dashboards.
        settings: install, existing or off, and how (``MonitoringConfig.for_environment``).
        targets: what to scrape: each component's ``metrics_target`` (None entries are skipped). Each
            brings its alert rules: a Postgres with backups its backup rules, the API those its
            metrics contract allows.
    """

    environment: Where
    settings: MonitoringConfig
    targets: Sequence[MetricsTarget | None] = ()


@dataclass(frozen=True)
class MonitoringSpec:
    """The resolved arguments the builders read."""

    environment: str
    namespace: pulumi.Input[str]  # the app namespace (an Output carries the dependency on it)
    settings: MonitoringConfig
    targets: Sequence[MetricsTarget]


def resolve(name: str, args: MonitoringArgs) -> tuple[MonitoringSpec, NamespaceRef]:
    require(args, MonitoringArgs, "Monitoring", name)
    where = namespace_of(args.environment, "MonitoringArgs.environment")
    problems = settings_problems(args.settings, MonitoringConfig, where.profile, "MonitoringArgs.settings")
    problems += sequence_of(args.targets, (MetricsTarget, type(None)), "MonitoringArgs.targets", "metrics targets")
    raise_if(problems)
    for i, target in enumerate(args.targets):
        if target is not None:
            problems += target_problems(target, f"MonitoringArgs.targets[{i}]", where.name, args.settings)
    raise_if(problems)
    if args.settings.mode == "install":  # CRDs and ClusterRoles: one install per cluster
        claim_in("cluster", where, f"Monitoring {name!r}", [("kube-prometheus-stack", "install")], "in this program")
    namespace = args.environment.namespace if isinstance(args.environment, Environment) else where.name
    targets = [t for t in args.targets if t is not None]
    return MonitoringSpec(where.environment, namespace, args.settings, targets), where


def target_problems(target: MetricsTarget, argument: str, namespace: str, settings: MonitoringConfig) -> list[str]:
    """A target this Monitoring can scrape: named like an instance (its job, ServiceMonitor and
    dashboard), in its namespace, and admitting its Prometheus' namespace on the metrics port."""
    problems = [f"{argument}.name: {p}" for p in instance_name_problems(target.name)]
    if target.namespace and target.namespace != namespace:
        problems.append(
            f"{argument}: {target.name!r} runs in namespace {target.namespace!r}; this Monitoring watches {namespace!r}"
        )
    elif target.namespace and settings.mode != "off" and target.scraper != settings.namespace:
        problems.append(
            f"{argument}: {target.name!r} admits scrapes from {target.scraper!r}, not from {settings.namespace!r} where "
            "Prometheus runs: give its component monitoring_namespace=" + repr(settings.namespace)
        )
    return problems


def rules_name(name: str) -> str:
    """The PrometheusRule of the Monitoring instance ``name``."""
    return f"{name}-alerts"


def dashboard_name(name: str, target: MetricsTarget) -> str:
    """The dashboard ConfigMap of one target, named after the Monitoring instance ``name`` too."""
    return f"{name}-dashboard-{target.name}"


def names(name: str, spec: MonitoringSpec) -> list[tuple[str, str]]:
    """What it creates in the app namespace (the install-mode stack lives in the monitoring namespace)."""
    if spec.settings.mode == "off":
        return []
    result = [("PrometheusRule", rules_name(name))]
    for target in spec.targets:
        result.append(("PodMonitor" if target.pod_labels is not None else "ServiceMonitor", target.name))
        if (ASSETS / "dashboards" / f"{target.template}.json").exists():
            result.append(("ConfigMap", dashboard_name(name, target)))
    return result


# ---------------------------------------------------------------- pure builders


def _resources(res: Resources) -> dict[str, Any]:
    return {"requests": res.requests.model_dump(), "limits": res.limits.model_dump()}


def _values(target: MetricsTarget, namespace: str) -> dict[str, str]:
    return {**target.values, "namespace": namespace, "job": target.name}


def rule_groups(file: str, values: Mapping[str, str]) -> list[dict[str, Any]]:
    """monitoring/rules/<file>.yaml with its placeholders filled in; a placeholder without a value is an error."""

    def fill(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise ValueError(f"monitoring/rules/{file}.yaml: no value for ${{{match.group(1)}}} (have {sorted(values)})")
        return values[match.group(1)]

    return list(yaml.safe_load(PLACEHOLDER.sub(fill, (ASSETS / "rules" / f"{file}.yaml").read_text()))["groups"])


def rule_files(target: MetricsTarget) -> tuple[str, ...]:
    """The target's own rule files, or the one of its kind if there is one (a kind without rules is scraped only)."""
    own = (target.template,) if (ASSETS / "rules" / f"{target.template}.yaml").exists() else ()
    return target.rules or own


def render_rules(namespace: str, targets: Sequence[MetricsTarget]) -> dict[str, Any]:
    """A PrometheusRule spec (= a Prometheus rule file) scoped to one namespace: the platform-wide
    rules, then each target's rule files for that instance (group names prefixed by the instance
    unless it has its kind's name, as group names must be unique in a rule file)."""
    groups = rule_groups("platform", {"namespace": namespace})
    for target in targets:
        for file in rule_files(target):
            for group in rule_groups(file, _values(target, namespace)):
                groups.append(group if target.name == target.template else {**group, "name": f"{target.name}-{group['name']}"})
    return {"groups": groups}


def service_monitor_spec(target: MetricsTarget, namespace: str, interval: str) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "port": target.port,
        "path": target.path,
        "interval": interval,
        # The job is the instance name whatever the Service is called: the rules select by it.
        "relabelings": [{"targetLabel": "job", "replacement": target.name, "action": "replace"}],
    }
    return {
        "selector": {"matchLabels": dict(target.service_labels)},
        "namespaceSelector": {"matchNames": [namespace]},
        "endpoints": [endpoint],
    }


def pod_monitor_spec(target: MetricsTarget, namespace: str, interval: str) -> dict[str, Any]:
    """The pods themselves (no Service selects them), on their named port; the job is the instance name."""
    assert target.pod_labels is not None
    endpoint = service_monitor_spec(target, namespace, interval)["endpoints"][0]
    return {
        "selector": {"matchLabels": dict(target.pod_labels)},
        "namespaceSelector": {"matchNames": [namespace]},
        "podMetricsEndpoints": [endpoint],
    }


def _wanted(panel: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    """A panel's ``platformRequires``: ``key`` (a non-empty value) or ``key=value`` (that value)."""
    for need in panel.get("platformRequires", ()):
        key, equals, value = need.partition("=")
        if (values.get(key, "") != value) if equals else not values.get(key):
            return False
    return True


def dashboard(target: MetricsTarget, namespace: str) -> str:
    """monitoring/dashboards/<kind>.json for one instance, pinned to one namespace, with a uid unique
    per namespace and instance, and the panels its metrics contract allows."""
    values = _values(target, namespace)
    text = (ASSETS / "dashboards" / f"{target.template}.json").read_text()
    board = json.loads(PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text))
    board["panels"] = [{k: v for k, v in p.items() if k != "platformRequires"} for p in board["panels"] if _wanted(p, values)]
    if target.name != target.template:
        board["title"] = f"{board['title']} {target.name}"
    board["uid"] = f"{namespace}-{target.name}"[:40]
    board["title"] = f"{board['title']} ({namespace})"
    for variable in board["templating"]["list"]:
        if variable["name"] == "namespace":
            variable["query"] = namespace
    return json.dumps(board, indent=2, sort_keys=True)


def _retention_size(size: str) -> str:
    """85 % of the volume: Prometheus deletes old blocks before the disk fills up (MB = MiB there)."""
    return f"{int(parse_quantity(size) * Decimal('0.85') / 2**20)}MB"


def alertmanager_config(settings: MonitoringConfig) -> dict[str, Any]:
    """Routes and receivers; each webhook URL is read from a Secret mounted by the operator."""
    routes: list[dict[str, Any]] = [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    for receiver in settings.receivers:
        matchers = [f'severity =~ "{"|".join(receiver.severities)}"'] if receiver.severities else []
        routes.append({"receiver": receiver.name, "matchers": matchers, "continue": True})
        url_file = f"/etc/alertmanager/secrets/{receiver.webhook_url_secret}/{receiver.webhook_url_key}"
        receivers.append({"name": receiver.name, "webhook_configs": [{"url_file": url_file, "send_resolved": True}]})
    return {"route": {"receiver": "null", "group_by": ["namespace", "alertname"], "routes": routes}, "receivers": receivers}


def stack_values(settings: MonitoringConfig, grafana_secret: str) -> dict[str, Any]:
    """kube-prometheus-stack values (names checked against the chart's values.yaml)."""
    res = settings.resources
    storage = settings.storage
    prometheus: dict[str, Any] = {
        "retention": settings.retention,
        "scrapeInterval": settings.scrape_interval,
        "resources": _resources(res.prometheus),
        # The `release` label trap: by default the chart only selects objects labelled
        # release=<release name>. False = select every ServiceMonitor/PodMonitor/Probe/rule.
        **{
            f"{kind}SelectorNilUsesHelmValues": False
            for kind in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig")
        },
    }
    if storage.enabled:
        claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage.size}}}
        if storage.storage_class:
            claim["storageClassName"] = storage.storage_class
        prometheus["storageSpec"] = {"volumeClaimTemplate": {"spec": claim}}
        prometheus["retentionSize"] = _retention_size(storage.size)
    secrets = sorted({r.webhook_url_secret for r in settings.receivers})
    return {
        "fullnameOverride": settings.release_name,  # stable Service names for the hints below
        "crds": {"enabled": True},
        "prometheus": {"prometheusSpec": prometheus},
        "alertmanager": {
            "config": alertmanager_config(settings),
            "alertmanagerSpec": {"secrets": secrets, "resources": _resources(res.alertmanager)},
        },
        "grafana": {
            "enabled": settings.grafana,
            "fullnameOverride": f"{settings.release_name}-grafana",
            "admin": {"existingSecret": grafana_secret, "userKey": GRAFANA_USER_KEY, "passwordKey": GRAFANA_PASSWORD_KEY},
            "resources": _resources(res.grafana),
            "sidecar": {
                "dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1", "searchNamespace": "ALL"}
            },
        },
        "prometheusOperator": {"resources": _resources(res.operator), **_without_webhooks(settings)},
        "kube-state-metrics": {"resources": _resources(res.kube_state_metrics)},
        "prometheus-node-exporter": {"resources": _resources(res.node_exporter)},
    }


def _without_webhooks(settings: MonitoringConfig) -> dict[str, Any]:
    """No admission webhooks, and so no TLS for the operator (its certificate comes from the
    webhooks' patch Job): the API server never calls the operator's Service."""
    if settings.admission_webhooks:
        return {}
    return {"admissionWebhooks": {"enabled": False}, "tls": {"enabled": False}}


def fluent_bit_output(settings: LoggingConfig) -> str:
    port = settings.port or LOG_PORTS[settings.output]
    lines = [
        "[OUTPUT]",
        f"Name {settings.output}",
        "Match *",
        f"Host {settings.host}",
        f"Port {port}",
        f"tls {'On' if settings.tls else 'Off'}",
        "Retry_Limit 10",
    ]
    if settings.output == "es":
        lines += ["Logstash_Format On", "Suppress_Type_Name On", "Replace_Dots On"]
    elif settings.output == "loki":
        lines += ["Labels job=fluent-bit", "Auto_Kubernetes_Labels On"]
    return "\n".join([lines[0], *(f"    {line}" for line in lines[1:])]) + "\n"


def logging_values(settings: LoggingConfig) -> dict[str, Any]:
    """Fluent Bit reads /var/log on every node: root with hostPath (the namespace allows it)."""
    return {
        "fullnameOverride": "fluent-bit",
        "image": {"pullPolicy": "IfNotPresent"},
        "testFramework": {"enabled": False},
        "resources": _resources(settings.resources),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "config": {"outputs": fluent_bit_output(settings)},
    }


def endpoints(settings: MonitoringConfig, grafana_secret: str | None) -> dict[str, str]:
    """In-cluster URLs and the commands that reach them from a laptop (no secret in them).

    Only mode ``install`` knows the Services' names (its fullnameOverride). With ``existing`` the
    cluster's stack has names this stack cannot know: say what it does know and where the rest is.
    """
    if settings.mode == "off":
        return {}
    if settings.mode == "existing":
        return existing_endpoints(settings)
    ns, release = settings.namespace, settings.release_name
    hints = {
        "prometheusUrl": f"http://{release}-prometheus.{ns}.svc:9090",
        "prometheusPortForward": f"kubectl -n {ns} port-forward svc/{release}-prometheus 9090:9090",
    }
    if settings.grafana:
        hints["grafanaUrl"] = f"http://{release}-grafana.{ns}.svc"
        hints["grafanaPortForward"] = f"kubectl -n {ns} port-forward svc/{release}-grafana 3000:80"
    if settings.grafana and grafana_secret:
        hints["grafanaAdminPasswordCommand"] = (
            f"kubectl -n {ns} get secret {grafana_secret} -o jsonpath='{{.data.{GRAFANA_PASSWORD_KEY}}}' | base64 -d"
        )
    return hints


def existing_endpoints(settings: MonitoringConfig) -> dict[str, str]:
    selector = ",".join(f"{k}={v}" for k, v in sorted(settings.selector_labels.items()))
    return {
        "mode": "existing",
        "note": (
            "Prometheus, Alertmanager and Grafana belong to the cluster's monitoring stack, not to this stack: "
            "ask its owners for their URLs, or find the Prometheus with prometheusLookup"
        ),
        "prometheusLookup": "kubectl get prometheuses.monitoring.coreos.com --all-namespaces",
        "selectorLabels": selector,
        "platformObjects": f"kubectl get servicemonitors,prometheusrules,configmaps --all-namespaces -l {selector}",
    }


# ---------------------------------------------------------------- component


class Monitoring(pulumi.ComponentResource):
    """ServiceMonitors, alert rules and dashboards for the platform; the stack too in install mode.

    One per namespace (its PrometheusRule is claimed there). kube-prometheus-stack (install) is
    cluster-wide: one install per cluster.

    Outputs:
        endpoints: Prometheus/Grafana URLs and port-forward commands (install), or how to find the
            cluster's Prometheus (existing).
        release: the Helm release (install), else None.
    """

    release: k8s.helm.v3.Release | None
    endpoints: dict[str, str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        spec, where = resolve(name, args)
        where.claim(f"Monitoring {name!r}", names(name, spec))
        # Only the provider: the install-mode stack lives in another namespace and must not go with this one.
        provider = args.environment.provider if isinstance(args.environment, Environment) else None
        own = pulumi.ResourceOptions(providers=[provider] if provider else None)
        super().__init__("platform:index:Monitoring", name, None, pulumi.ResourceOptions.merge(own, opts))
        self._build(name, spec)

    def _build(self, name: str, args: MonitoringSpec) -> None:
        settings = args.settings
        self.release = None
        grafana_secret = f"{settings.release_name}-grafana-admin" if settings.mode == "install" else None
        self.endpoints = endpoints(settings, grafana_secret)
        if settings.mode == "off":
            self.register_outputs({})
            return

        common = labels("monitoring", settings.namespace, "monitoring", args.environment)
        crds: list[pulumi.Resource] = []  # what must exist before the monitoring.coreos.com objects
        namespace_ready: list[pulumi.Resource] = []
        if settings.mode == "install":
            namespace_ready = [self._namespace(name, args, common)]
            self.release = self._stack(name, args, common, grafana_secret or "", namespace_ready)
            crds = [self.release]
        if settings.logging.enabled:
            self._logging(name, args, namespace_ready + crds)

        app_ns = pulumi.Output.from_input(args.namespace)
        on_crds = pulumi.ResourceOptions(parent=self, depends_on=crds)
        for target in args.targets:
            self._service_monitor(name, args, target, app_ns, on_crds)
        targets = list(args.targets)
        k8s.apiextensions.CustomResource(
            f"{name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=app_ns.apply(lambda ns: metadata(ns, self._labels(args, "alerts"), rules_name(name))),
            spec=app_ns.apply(lambda ns: render_rules(ns, targets)),
            opts=on_crds,
        )
        for target in args.targets:
            if (ASSETS / "dashboards" / f"{target.template}.json").exists():
                self._dashboard(name, args, target, app_ns)
        self.register_outputs({"endpoints": self.endpoints})

    # One method per target object: the lambdas close over a parameter, not over the loop variable.
    def _service_monitor(
        self,
        name: str,
        args: MonitoringSpec,
        target: MetricsTarget,
        app_ns: pulumi.Output[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        pods = target.pod_labels is not None
        build = pod_monitor_spec if pods else service_monitor_spec
        k8s.apiextensions.CustomResource(
            f"{name}-{target.name}-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor" if pods else "ServiceMonitor",
            metadata=app_ns.apply(lambda ns: metadata(ns, self._labels(args, target.name), target.name)),
            spec=app_ns.apply(lambda ns: build(target, ns, args.settings.scrape_interval)),
            opts=opts,
        )

    def _dashboard(self, name: str, args: MonitoringSpec, target: MetricsTarget, app_ns: pulumi.Output[str]) -> None:
        board = target.name
        dashboard_labels = {**self._labels(args, "dashboard"), "grafana_dashboard": "1"}
        k8s.core.v1.ConfigMap(
            f"{name}-{board}-dashboard",
            metadata=app_ns.apply(lambda ns: metadata(ns, dashboard_labels, dashboard_name(name, target))),
            data=app_ns.apply(lambda ns: {f"{board}.json": dashboard(target, ns)}),
            opts=pulumi.ResourceOptions(parent=self),
        )

    @staticmethod
    def _labels(args: MonitoringSpec, component: str) -> dict[str, str]:
        # selectorLabels last: they are what the configured Prometheus selects objects by.
        return {**labels("monitoring", "platform", component, args.environment), **args.settings.selector_labels}

    def _namespace(self, name: str, args: MonitoringSpec, common: dict[str, str]) -> k8s.core.v1.Namespace:
        # node-exporter (and Fluent Bit) need hostPID/hostNetwork/hostPath: `restricted` would
        # reject them. The app namespaces stay `restricted`.
        ns_labels = {**common, "pod-security.kubernetes.io/enforce": "privileged", "pod-security.kubernetes.io/warn": "baseline"}
        return k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": args.settings.namespace, "labels": ns_labels},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _stack(
        self, name: str, args: MonitoringSpec, common: dict[str, str], grafana_secret: str, after: list[pulumi.Resource]
    ) -> k8s.helm.v3.Release:
        settings = args.settings
        password = random.RandomPassword(
            f"{name}-grafana-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=metadata(settings.namespace, common, grafana_secret),
            string_data={GRAFANA_USER_KEY: "admin", GRAFANA_PASSWORD_KEY: password.result},
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
        chart, repo = STACK_CHART
        # A local chart directory (config checked its version), or the chart from its repository.
        source: dict[str, Any] = (
            {"chart": settings.chart_path}
            if settings.chart_path
            else {"chart": chart, "version": settings.chart_version, "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=repo)}
        )
        return k8s.helm.v3.Release(
            f"{name}-stack",
            name=settings.release_name,
            **source,
            namespace=settings.namespace,
            create_namespace=False,
            values=stack_values(settings, grafana_secret),
            timeout=900,
            max_history=5,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, secret]),
        )

    def _logging(self, name: str, args: MonitoringSpec, after: list[pulumi.Resource]) -> None:
        settings = args.settings
        chart, repo = LOGGING_CHART
        k8s.helm.v3.Release(
            f"{name}-logging",
            name="fluent-bit",
            chart=chart,
            version=settings.logging.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
            namespace=settings.namespace,
            create_namespace=False,
            values=logging_values(settings.logging),
            timeout=600,
            max_history=5,
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
