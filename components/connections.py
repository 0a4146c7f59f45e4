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


# The keys of a binding Secret, as the Service Binding for Kubernetes spec (servicebinding.io)
# names them, so frameworks that read a binding directory (Spring Cloud Bindings, Quarkus,
# .NET's Steeltoe) find them without mapping. A store may add its own (``jdbc-url``).
BINDING_KEYS = ("type", "provider", "host", "port", "username", "password", "uri")


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """One client's own login to a store, delivered in a binding Secret of its own (#22).

    Attributes:
        client: the client's key: its ApiService instance name, or the name a label-set client was given.
        user: the login (Postgres role, Redis ACL user) of the current credential generation.
        secret: the binding Secret's name; its keys are ``BINDING_KEYS`` (plus the store's own).
        generation: the rotation generation the Secret holds; a new one rolls the client's pods.
        acknowledge: the ConfigMap (in the store's namespace) the consumer writes, ordered after its
            pods run this generation, with ``{"generation": "<n>"}``: the store revokes the previous
            generation only once it reads that. Empty: the store needs no acknowledgement.
    """

    client: str
    user: str
    secret: pulumi.Input[str]
    generation: int = 1
    acknowledge: str = ""

    def key(self, name: str) -> SecretKeyRef:
        """One key of the binding Secret, as a consumer references it."""
        return SecretKeyRef(name=self.secret, key=name)


@dataclass(frozen=True, kw_only=True)
class StoreConnection:
    """How a client reaches one data store; the password only as a Secret reference.

    Attributes:
        instance: the store's instance name (its Service, StatefulSet and variable prefix derive from it).
        namespace: where the store runs; a client must run there too (a Secret cannot be referenced
            from another namespace).
        host: the stable ClusterIP Service name, resolvable inside the namespace.
        port: the store's port.
        password: the Secret key of a password every client shares (None: the store made a login per client,
            in ``credentials``; a Postgres never hands out its superuser's).
        pod_labels: identity labels of the store's pods, for the client's egress policy.
        clients: the pod label sets the store admits; a client whose pods match none is refused.
        ready: what a consumer waits for (the seed's `kubectl wait`): the StatefulSet, awaited ready.
        credentials: each admitted client's own login, by client key (``credentials_for``).
    """

    KIND: ClassVar[str] = ""  # the component label of the store's pods: database, cache

    instance: str
    namespace: str
    host: str
    port: int
    pod_labels: Mapping[str, str]
    password: SecretKeyRef | None = None
    clients: Sequence[Mapping[str, str]] = ()
    ready: Sequence[pulumi.Resource] = field(default_factory=tuple)
    credentials: Mapping[str, Credentials] = field(default_factory=dict)

    def credentials_for(self, client: str) -> Credentials | None:
        """The login the store made for ``client`` (None: the store made none for it)."""
        return self.credentials.get(client)

    def admits(self, pod_labels: Mapping[str, str]) -> bool:
        """Whether pods with ``pod_labels`` match one of the store's client selectors."""
        return any(all(pod_labels.get(k) == v for k, v in client.items()) for client in self.clients)


@dataclass(frozen=True, kw_only=True)
class PostgresConnection(StoreConnection):
    """A Postgres instance: also the database. Each client's login is in ``credentials``.

    Attributes:
        database: the database every client's role works in.
        user: empty (the superuser is the server's alone); each client's login is ``credentials_for(client).user``.
    """

    KIND: ClassVar[str] = "database"

    database: str
    user: str = ""


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
    # The files of monitoring/rules/ for this instance (empty: the one named like ``template``, if any),
    # and the values of their ${placeholders} besides ${namespace} and ${job} (the instance name):
    # a Postgres with backups brings its backup rules and its CronJob's name, the API its metrics contract.
    rules: tuple[str, ...] = ()
    values: Mapping[str, str] = field(default_factory=dict)
    # Set: scrape these pods directly (a PodMonitor on their ``port``), for pods no Service of ours selects
    # (a CloudNativePG Cluster's instances); unset: the Service ``service_labels`` selects (a ServiceMonitor).
    pod_labels: Mapping[str, str] | None = None

    @property
    def template(self) -> str:
        return self.kind or self.name
