"""Small typed objects that one component hands to its consumers instead of loose strings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import pulumi


@dataclass(frozen=True)
class SecretKeyRef:
    """A key of a Kubernetes Secret; consumers reference it, they never read the value."""

    name: pulumi.Input[str]
    key: str


@dataclass(frozen=True, kw_only=True)
class StoreConnection:
    """How a client reaches one data store; the password only as a Secret reference.

    Attributes:
        instance: the store's instance name (its Service, StatefulSet and variable prefix derive from it).
        namespace: where the store runs; a client must run there too (a Secret cannot be referenced
            from another namespace).
        host: the stable ClusterIP Service name, resolvable inside the namespace.
        port: the store's port.
        password: the Secret key holding the password.
        pod_labels: identity labels of the store's pods, for the client's egress policy.
        clients: the pod label sets the store admits; a client whose pods match none is refused.
        ready: what a consumer waits for (the seed's `kubectl wait`): the StatefulSet, awaited ready.
    """

    KIND: ClassVar[str] = ""  # the component label of the store's pods: database, cache

    instance: str
    namespace: str
    host: str
    port: int
    password: SecretKeyRef
    pod_labels: Mapping[str, str]
    clients: Sequence[Mapping[str, str]] = ()
    ready: Sequence[pulumi.Resource] = field(default_factory=tuple)

    def admits(self, pod_labels: Mapping[str, str]) -> bool:
        """Whether pods with ``pod_labels`` match one of the store's client selectors."""
        return any(all(pod_labels.get(k) == v for k, v in client.items()) for client in self.clients)


@dataclass(frozen=True, kw_only=True)
class PostgresConnection(StoreConnection):
    """A Postgres instance: also the database and the user to log in as."""

    KIND: ClassVar[str] = "database"

    database: str
    user: str


@dataclass(frozen=True, kw_only=True)
class RedisConnection(StoreConnection):
    """A Redis instance."""

    KIND: ClassVar[str] = "cache"


@dataclass(frozen=True)
class MetricsTarget:
    """What a ServiceMonitor needs to scrape one workload."""

    name: str  # the instance name: the scrape job, the ServiceMonitor and dashboard names
    service_labels: dict[str, str]  # selector labels of the Service that exposes the port
    port: str  # the Service port name
    path: str
    kind: str = ""  # which rules/dashboard template applies (api, postgres, redis); empty: ``name``
    namespace: str = ""  # where the workload runs (empty: unknown, not checked)
    scraper: str | None = None  # the monitoring namespace its policy admits (None: none, or unknown if namespace is empty)

    @property
    def template(self) -> str:
        return self.kind or self.name
