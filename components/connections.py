"""Small typed objects that one component hands to its consumers instead of loose strings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi


@dataclass(frozen=True)
class SecretKeyRef:
    """A key of a Kubernetes Secret; consumers reference it, they never read the value."""

    name: pulumi.Input[str]
    key: str


@dataclass(frozen=True)
class PostgresConnection:
    """How a client reaches one Postgres instance; the password only as a Secret reference."""

    host: str  # the stable ClusterIP Service name, resolvable inside the namespace
    port: int
    database: str
    user: str
    password: SecretKeyRef
    pod_labels: dict[str, str]  # selector labels of the Postgres pods, for network policies
    # What a consumer waits for (the seed's `kubectl wait`): the StatefulSet, awaited ready.
    ready: Sequence[pulumi.Resource] = field(default_factory=tuple)


@dataclass(frozen=True)
class RedisConnection:
    """How a client reaches one Redis instance; the password only as a Secret reference."""

    host: str
    port: int
    password: SecretKeyRef
    pod_labels: dict[str, str]
    ready: Sequence[pulumi.Resource] = field(default_factory=tuple)


@dataclass(frozen=True)
class MetricsTarget:
    """What a ServiceMonitor needs to scrape one workload."""

    name: str  # the instance name: the scrape job, the ServiceMonitor and dashboard names
    service_labels: dict[str, str]  # selector labels of the Service that exposes the port
    port: str  # the Service port name
    path: str
    kind: str = ""  # which rules/dashboard template applies (api, postgres, redis); empty: ``name``
    # The files of monitoring/rules/ for this instance (empty: the one named like ``template``),
    # and the values of their ${placeholders} besides ${namespace} and ${job} (the instance name):
    # a Postgres with backups brings its backup rules and its CronJob's name, the API its metrics contract.
    rules: tuple[str, ...] = ()
    values: Mapping[str, str] = field(default_factory=dict)

    @property
    def template(self) -> str:
        return self.kind or self.name

    @property
    def rule_files(self) -> tuple[str, ...]:
        return self.rules or (self.template,)
