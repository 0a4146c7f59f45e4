"""What Postgres and Redis share: one pod of a StatefulSet, a generated password in a Secret,
a headless and a client Service, a metrics sidecar, and an allow-list NetworkPolicy.

The spec builders are pure (dicts in, dicts out); ``DataStore`` registers them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .connections import Credentials, MetricsTarget
from .contracts import instance_name_problems, label_set, raise_if, require, scraper_problems
from .environment import Where, namespace_of, options_in
from .errors import PROJECT
from .labels import API_COMPONENT, SKIP_SERVICE_AWAIT, identity_labels, labels, metadata, selector_labels
from .namespace import PODS, StoreRecord
from .settings import Exporter, Footprint, Group, Image, Persistence, Resources, SecurityIds
from .settings.base import settings_problems
from .validation import parse_quantity

# A Kubernetes object part as YAML spells it (camelCase). pulumi-kubernetes types its inputs as
# TypedDicts, which plain dicts never match; the tests check these dicts instead.
Manifest = Any
PASSWORD_KEY = "password"  # noqa: S105 - the key inside the Secret, not a password
METRICS_PORT_NAME = "metrics"
DATA_VOLUME = "data"
SECRET_VOLUME = "secret"  # noqa: S105 - a volume name
# /tmp of every data container, bounded: none fills it in normal work (Postgres keeps its temp
# files in PGDATA, pg_dump writes to the backup volume, Redis its RDB and AOF to /data).
TMP_SCRATCH = ("tmp", "/tmp", "64Mi")  # noqa: S108 - an emptyDir
# The kubelet's log files of a container (10Mi x 5 by default) count as its ephemeral storage.
LOG_ALLOWANCE = "64Mi"
# The label whose value is a label-set client's key (an ApiService's key is its instance name).
CLIENT_KEY_LABEL = "app.kubernetes.io/name"
# Keys of <store>.rotations for the store's own logins (the exporter's, the backup job's): no client may take them.
RESERVED_CLIENTS = ("metrics", "backup")
GENERATION_SUFFIX = re.compile(r"-g[0-9]+$")
# Both official images need their own user: initdb refuses a UID without a passwd entry.
OWN_UID_EXCEPTION = {
    "checkov.io/skip1": "CKV_K8S_40=the official image's own UID (postgres 70, redis 999); initdb needs its passwd entry"
}


@dataclass(frozen=True, kw_only=True)
class DataStoreArgs:
    """What Postgres and Redis instances share: where they run and who may connect.

    Attributes:
        environment: the ``Environment`` (or ``NamespaceRef``) the store deploys into.
        clients: who may connect: ApiService instance names in the same namespace (``"orders"``), or
            pod label sets of other workloads. Nothing else reaches the store's port.
        monitoring_namespace: the namespace whose Prometheus may scrape the exporter (None: nobody).
        monitoring_pod_labels: the Prometheus pods' labels there (None: every pod of that namespace).
    """

    environment: Where
    clients: Sequence[str | Mapping[str, str]] = ()
    monitoring_namespace: str | None = None
    monitoring_pod_labels: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class Store:
    """One resolved store instance: the facts that differ between the two kinds, and where it runs."""

    app: str  # the instance name: also the client Service and StatefulSet name
    component: str  # its kind of workload (database, cache): part of its pods' identity
    port: int
    metrics_port: int
    port_name: str  # the store's kind (postgres, redis): at most 15 characters, unlike an instance name
    namespace: str
    environment: str
    clients: tuple[Mapping[str, str], ...] = ()  # the pod label sets let in
    client_keys: tuple[str, ...] = ()  # each client's key, in the order of clients: its login and binding Secret
    monitoring_namespace: str | None = None  # None: no scraper to let in
    monitoring_pod_labels: Mapping[str, str] | None = None  # None: any pod of monitoring_namespace
    retain_volumes: bool = False  # keep the PVCs when the StatefulSet goes away

    @property
    def identity(self) -> dict[str, str]:
        """The labels a client's egress policy selects the store's pods by."""
        return identity_labels(self.app, self.namespace, self.component)

    @property
    def selector(self) -> dict[str, str]:
        return selector_labels(self.app, self.namespace)

    @property
    def headless(self) -> str:
        return f"{self.app}-headless"

    def labels(self, component: str | None = None, version: str | None = None) -> dict[str, str]:
        return labels(self.app, self.namespace, component or self.component, self.environment, version)

    def metadata(self, name: str | None, component: str | None = None) -> Manifest:
        return metadata(self.namespace, self.labels(component), name)

    def workload_metadata(self, name: str, component: str | None = None) -> Manifest:
        return metadata(self.namespace, self.labels(component), name, annotations=OWN_UID_EXCEPTION)

    @property
    def secret_dir(self) -> str:
        return f"/run/secrets/{self.app}"

    @property
    def password_file(self) -> str:
        return f"{self.secret_dir}/{PASSWORD_KEY}"

    def metrics_target(self) -> MetricsTarget:
        return MetricsTarget(
            name=self.app, service_labels={**self.selector, "app.kubernetes.io/component": METRICS_PORT_NAME},
            port=METRICS_PORT_NAME, path="/metrics", kind=self.port_name, namespace=self.namespace,
            scraper=self.monitoring_namespace,
        )


# ---------------------------------------------------------------- pure spec builders


def pod_security_context(ids: SecurityIds) -> dict[str, Any]:
    """The image's real user, and fsGroup so it owns the volume it is given."""
    return {
        "runAsNonRoot": True,
        "runAsUser": ids.run_as_user,
        "runAsGroup": ids.run_as_group,
        "fsGroup": ids.run_as_group,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}


def resources(settings: Resources, ephemeral_storage: str | None = None) -> dict[str, Any]:
    """Config's CPU and memory; the disk a container may fill (scratch, logs) as a request the
    scheduler reserves and a limit past which the kubelet evicts the pod, not the node's disk."""
    spec: dict[str, Any] = settings.model_dump(by_alias=True)
    if ephemeral_storage:
        for kind in ("requests", "limits"):
            spec[kind] = {**spec[kind], "ephemeral-storage": ephemeral_storage}
    return spec


def secret_volume(secret_name: pulumi.Input[str]) -> dict[str, Any]:
    """The Secret as read-only files (not env vars, which leak through /proc and crash dumps)."""
    return {"name": SECRET_VOLUME, "secret": {"secretName": secret_name, "defaultMode": 0o440}}


def secret_mount(store: Store) -> dict[str, Any]:
    return {"name": SECRET_VOLUME, "mountPath": store.secret_dir, "readOnly": True}


def exec_probes(command: list[str], startup_seconds: int) -> dict[str, Any]:
    """Startup covers first boot and crash recovery; liveness only starts after it and is lenient."""
    check = {"exec": {"command": command}, "timeoutSeconds": 5}
    return {
        "startupProbe": {**check, "periodSeconds": 5, "failureThreshold": max(1, startup_seconds // 5)},
        "readinessProbe": {**check, "periodSeconds": 10, "failureThreshold": 3},
        "livenessProbe": {**check, "periodSeconds": 20, "failureThreshold": 6},
    }


def empty_dirs(*mounts: tuple[str, str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volumeMounts) of writable scratch paths (name, path, sizeLimit) under a read-only
    root filesystem. The size limit bounds a runaway process: past it the kubelet evicts the pod."""
    volumes = [{"name": n, "emptyDir": {"sizeLimit": size}} for n, _, size in mounts]
    return volumes, [{"name": n, "mountPath": p} for n, p, _ in mounts]


def data_empty_dir(persistence: Persistence) -> list[dict[str, Any]]:
    """Without persistence the data lives in an emptyDir, bounded by the size a claim would have had."""
    return [] if persistence.enabled else [{"name": DATA_VOLUME, "emptyDir": {"sizeLimit": persistence.size}}]


def ephemeral_storage(volumes: list[dict[str, Any]]) -> str:
    """What a container may write to the node's disk: the emptyDirs among ``volumes``, plus its logs."""
    sizes = [v["emptyDir"]["sizeLimit"] for v in volumes if "emptyDir" in v] + [LOG_ALLOWANCE]
    return f"{int(sum(parse_quantity(size) for size in sizes) / 2**20)}Mi"


def claim_spec(size: str, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return spec


def container(
    name: str, image: Image, limits: Resources, port: tuple[str, int] | None = None, disk: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A container under the house rules: its pinned image, requests and limits, restricted security."""
    spec: dict[str, Any] = {
        "name": name,
        "image": image.ref,
        "imagePullPolicy": image.effective_pull_policy,
        "resources": resources(limits, disk),
        "securityContext": container_security_context(),
    }
    if port:
        spec["ports"] = [{"name": port[0], "containerPort": port[1], "protocol": "TCP"}]
    return spec | fields


def exporter_container(
    store: Store, settings: Exporter, env: list[dict[str, str]], mounts: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The exporter sidecar; ``mounts``: its credential's volume (default: the store's shared Secret)."""
    tcp = {"tcpSocket": {"port": METRICS_PORT_NAME}, "periodSeconds": 20, "timeoutSeconds": 5}
    return container(
        "metrics", settings.image, settings.resources, (METRICS_PORT_NAME, store.metrics_port), ephemeral_storage([]),
        env=env, volumeMounts=mounts if mounts is not None else [secret_mount(store)],
        readinessProbe={**tcp, "failureThreshold": 3}, livenessProbe={**tcp, "failureThreshold": 6},
    )


def pod_spec(store: Store, ids: SecurityIds, grace_seconds: int, priority_class: str | None, **spec: Any) -> dict[str, Any]:
    pod = {
        "securityContext": pod_security_context(ids),
        "serviceAccountName": store.app,  # its own, not the namespace's shared default
        "automountServiceAccountToken": False,  # neither store calls the Kubernetes API
        "enableServiceLinks": False,  # a Service named postgres would inject POSTGRES_PORT=tcp://...
        "terminationGracePeriodSeconds": grace_seconds,
        **spec,
    }
    if priority_class:
        pod["priorityClassName"] = priority_class  # the cluster owners' class, referenced, never created
    return pod


def single_pod_statefulset(store: Store, persistence: Persistence, pod: dict[str, Any], version: str | None) -> Manifest:
    """One replica; the data volume is a claim template, or ``data_empty_dir`` in the pod's volumes."""
    spec: dict[str, Any] = {
        "serviceName": store.headless,
        "replicas": 1,
        "selector": {"matchLabels": store.selector},
        "updateStrategy": {"type": "RollingUpdate"},
        "template": {"metadata": {"labels": store.labels(version=version)}, "spec": pod},
    }
    if persistence.enabled:
        policy = "Retain" if store.retain_volumes else "Delete"
        spec["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": policy, "whenScaled": policy}
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": DATA_VOLUME, "labels": store.labels()},
                "spec": claim_spec(persistence.size, persistence.storage_class),
            }
        ]
    return spec


def service_specs(store: Store, metrics: bool) -> dict[str, tuple[Manifest, Manifest]]:
    """{role: (metadata, spec)}: the client ClusterIP (DB_HOST), the StatefulSet's headless one, metrics."""
    port = {"name": store.port_name, "port": store.port, "targetPort": store.port_name, "protocol": "TCP"}
    services = {
        "service": (
            {**store.metadata(store.app), "annotations": SKIP_SERVICE_AWAIT},
            {"type": "ClusterIP", "selector": store.selector, "ports": [port]},
        ),
        "headless": (store.metadata(store.headless), {"clusterIP": "None", "selector": store.selector, "ports": [port]}),
    }
    if metrics:
        # Its own Service, so a ServiceMonitor selecting it scrapes each pod once.
        metrics_port = {"name": METRICS_PORT_NAME, "port": store.metrics_port, "targetPort": METRICS_PORT_NAME, "protocol": "TCP"}
        services["metrics"] = (
            {**store.metadata(f"{store.app}-metrics", METRICS_PORT_NAME), "annotations": SKIP_SERVICE_AWAIT},
            {"type": "ClusterIP", "selector": store.selector, "ports": [metrics_port]},
        )
    return services


def ingress_policy_spec(store: Store, clients: Sequence[Mapping[str, str]], metrics: bool) -> Manifest:
    """Only the given client pods reach the store's port; only the monitoring namespace its metrics."""
    rules: list[dict[str, Any]] = [
        {
            "from": [{"podSelector": {"matchLabels": dict(pods)}} for pods in clients],
            "ports": [{"protocol": "TCP", "port": store.port}],
        }
    ]
    if metrics and store.monitoring_namespace:
        rules.append(
            {
                "from": [scraper_peer(store.monitoring_namespace, store.monitoring_pod_labels)],
                "ports": [{"protocol": "TCP", "port": store.metrics_port}],
            }
        )
    return {"podSelector": {"matchLabels": store.selector}, "policyTypes": ["Ingress"], "ingress": rules}


def scraper_peer(namespace: str, pod_labels: Mapping[str, str] | None) -> dict[str, Any]:
    """The Prometheus pods of the monitoring namespace (every pod there when no labels are given)."""
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
    if pod_labels:
        peer["podSelector"] = {"matchLabels": dict(pod_labels)}
    return peer


# ---------------------------------------------------------------- the shared component


def resolve(kind: str, name: str, args: DataStoreArgs, args_type: type, settings_type: type[Group], **facts: Any) -> Store:
    """Check a store's arguments before anything registers; its clients become pod label sets."""
    require(args, args_type, kind, name)
    at = args_type.__name__
    where = namespace_of(args.environment, f"{at}.environment")
    problems = settings_problems(getattr(args, "settings", None), settings_type, where.profile, f"{at}.settings")
    problems += scraper_problems(args.monitoring_namespace, where.name, f"{at}.monitoring_namespace")
    if args.monitoring_pod_labels is not None:
        problems += label_set(args.monitoring_pod_labels, f"{at}.monitoring_pod_labels")
    clients: Any = args.clients
    if isinstance(clients, (str, bytes, Mapping)) or not isinstance(clients, Sequence):
        hint = f"; for one client write [{clients!r}]" if isinstance(clients, str) else ""
        problems.append(
            f"{at}.clients: must be a list of ApiService instance names or pod label sets (got {type(clients).__name__}){hint}"
        )
        clients = ()
    admitted: list[Mapping[str, str]] = []
    keys: list[str] = []
    for i, client in enumerate(clients):
        if isinstance(client, str):
            # An ApiService of this namespace: its identity (instance and kind) is what is let in.
            problems += [f"{at}.clients[{i}]: {p}" for p in instance_name_problems(client)]
            admitted.append(identity_labels(client, where.name, API_COMPONENT))
            keys.append(client)
        else:
            found = label_set(client, f"{at}.clients[{i}]")
            problems += found
            admitted += [] if found else [dict(client)]
            keys.append(str(client.get(CLIENT_KEY_LABEL, "")) if not found else "")
    repeated = [c for i, c in enumerate(admitted) if c in admitted[:i]]
    problems += [f"{at}.clients: {c} is listed twice" for c in repeated]
    raise_if(problems)
    return Store(
        app=name, namespace=where.name, environment=where.environment, clients=tuple(admitted), client_keys=tuple(keys),
        monitoring_namespace=args.monitoring_namespace, monitoring_pod_labels=args.monitoring_pod_labels,
        retain_volumes=where.profile.retain_data, **facts,
    )


def client_key_problems(
    store: Store, clients: Sequence[str | Mapping[str, str]], at: str, reserved: Sequence[str] = RESERVED_CLIENTS
) -> list[str]:
    """A store that makes a login per client: each key (``Store.client_keys``) valid, unique, none of its own
    logins' names (``reserved``)."""
    problems = []
    for i, (key, client) in enumerate(zip(store.client_keys, clients, strict=True)):
        where = f"{at}.clients[{i}]"
        if not key:
            problems.append(f"{where}: a label-set client needs a {CLIENT_KEY_LABEL} label: its value names the "
                            "client's own login and binding Secret (its client key)")
            continue
        if not isinstance(client, str):
            problems += [f"{where}: label {CLIENT_KEY_LABEL}: {p}" for p in instance_name_problems(key)]
        if key in store.client_keys[:i]:
            problems.append(f"{where}: client key {key!r} is also clients[{store.client_keys.index(key)}]'s: one login per "
                            f"key; give one of them another {CLIENT_KEY_LABEL} label")
        if key in reserved:
            problems.append(f"{where}: {key!r} names one of the store's own logins ({', '.join(reserved)}); "
                            "name the client otherwise")
        if GENERATION_SUFFIX.search(key):
            problems.append(f"{where}: client key {key!r} ends like a credential generation (-g<n>, as in its logins); rename it")
    return problems


def rotation_problems(store: Store, rotations: Mapping[str, int], at: str, own: Sequence[str] = RESERVED_CLIENTS) -> list[str]:
    """Keys of ``<store>.rotations`` must be client keys or the store's own rotatable logins (``own``)."""
    allowed = [*store.client_keys, *own]
    return [
        f"{PROJECT}:{at}.rotations.{key}: not a client of {store.app!r}; allowed: {', '.join(allowed)}"
        for key in rotations if key not in allowed
    ]


@dataclass(frozen=True)
class Login:
    """One credential generation of one client key (or the store's own metrics/backup login)."""

    client: str
    generation: int
    current: bool  # False: the previous generation, kept until the rollout of the current one is acknowledged


def logins(store: Store, rotations: Mapping[str, int], own: Sequence[str] = ()) -> list[Login]:
    """Every client key's (and the store's ``own`` logins') current generation and, after a rotation, the previous."""
    result = []
    for key in (*store.client_keys, *own):
        generation = rotations.get(key, 1)
        result.append(Login(key, generation, True))
        if generation > 1:
            result.append(Login(key, generation - 1, False))
    return result


def binding_name(store: Store, client: str, generation: int) -> str:
    """The binding Secret of one client generation: a new generation is a new name, so its pods roll."""
    return f"{store.app}-{client}-g{generation}"


def acknowledge_name(store: Store, client: str) -> str:
    """The ConfigMap a client writes once its pods run the current generation."""
    return f"{store.app}-{client}-ack"


def credential_names(store: Store, rotations: Mapping[str, int], own: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The names the per-client credentials take: each key's current binding Secret and its acknowledgement."""
    return [
        name for login in logins(store, rotations, own) if login.current
        for name in (("Secret", binding_name(store, login.client, login.generation)),
                     ("ConfigMap", acknowledge_name(store, login.client)))
    ]


def store_names(store: Store, metrics: bool, persistent: bool) -> list[tuple[str, str]]:
    """The Kubernetes names every store creates (the Secret is auto-named)."""
    result = [(PODS, store.app), ("StatefulSet", store.app), ("NetworkPolicy", store.app), ("ServiceAccount", store.app)]
    result += [("Service", meta["name"]) for meta, _ in service_specs(store, metrics).values()]
    if persistent:
        result.append(("PersistentVolumeClaim", f"{DATA_VOLUME}-{store.app}-0"))  # the claim template's claim
    return result


class DataStore(pulumi.ComponentResource):
    """Registers the password, Services, StatefulSet and policy; subclasses supply the pod."""

    BINDING_TYPE: str = ""  # the servicebinding.io type of its binding Secrets (postgresql, redis)

    password: pulumi.Output[str]
    secret_name: pulumi.Output[str]
    statefulset: k8s.apps.v1.StatefulSet
    metrics_target: MetricsTarget | None

    def __init__(
        self, type_name: str, name: str, store: Store, where: Where, opts: pulumi.ResourceOptions | None,
        *, names: list[tuple[str, str]], footprint: Footprint,
    ):
        ref = namespace_of(where, "environment")
        ref.claim(f"{type_name.rsplit(':', 1)[-1]} {name!r}", names, footprint)
        # What a connection handed to a service must match: a copy altered on the way is refused.
        ref.register_store(name, StoreRecord(kind=store.component, pod_labels=store.identity, clients=store.clients))
        super().__init__(type_name, name, None, options_in(where, opts, data=True))
        self._children(name, store)

        # Only constant inputs and no keepers: no config change can regenerate it; ignore_changes
        # keeps a code edit of the length from doing so. Rotate with `pulumi up --replace <urn>`.
        generated = random.RandomPassword(
            f"{name}-password", length=32, special=False,
            opts=pulumi.ResourceOptions.merge(self._data, pulumi.ResourceOptions(ignore_changes=["length", "special"])),
        )
        self.password = pulumi.Output.secret(generated.result)
        # Auto-named: consumers get the name by reference; the content never changes.
        secret = k8s.core.v1.Secret(
            f"{name}-secret", metadata=store.metadata(None), type="Opaque",
            string_data=self._secret_files(self.password), opts=self._data,
        )
        self.secret_name = secret.metadata.apply(lambda m: m["name"])

    def _children(self, name: str, store: Store) -> None:
        """What the children of the component share (a store without the StatefulSet calls it too)."""
        self._name, self._store = name, store
        self._bindings: dict[str, k8s.core.v1.Secret] = {}  # each client key's current binding Secret (_credentials)
        # Data-bearing children inherit protect (production) and retainOnDelete from the parent;
        # the rest is cheap to recreate and must stay replaceable, or a config change would fail.
        self._data = pulumi.ResourceOptions(parent=self)
        self._plain = pulumi.ResourceOptions(parent=self, protect=False, retain_on_delete=False)

    def _credentials(
        self, rotations: Mapping[str, int], binding: Any, own: Sequence[str] = (), *, suffix: str = ""
    ) -> tuple[dict[Login, pulumi.Output[str]], dict[str, Credentials]]:
        """A generated password per login generation, and a binding Secret per client key's current generation
        (``binding(login, password)`` gives its keys). Returns the passwords (the store's side needs the previous
        generation's too) and each key's ``Credentials``; the previous generation's binding Secret is deleted at the
        end of the ``up`` that rotates it, after its clients rolled. ``suffix`` names a second set beside the
        first (``<instance><suffix>-<client>-g<n>``): a CloudNativePG Cluster's, next to a migrating StatefulSet's."""
        name, store = f"{self._name}{suffix}", self._store
        naming = replace(store, app=f"{store.app}{suffix}")
        passwords: dict[Login, pulumi.Output[str]] = {}
        credentials: dict[str, Credentials] = {}
        for login in logins(store, rotations, own):
            generated = random.RandomPassword(
                f"{name}-{login.client}-g{login.generation}-password", length=32, special=False,
                opts=pulumi.ResourceOptions.merge(self._plain, pulumi.ResourceOptions(ignore_changes=["length", "special"])),
            )
            passwords[login] = pulumi.Output.secret(generated.result)
            if not login.current:
                continue
            secret_name = binding_name(naming, login.client, login.generation)
            secret = k8s.core.v1.Secret(
                f"{name}-{login.client}-binding", metadata=store.metadata(secret_name),
                type=f"servicebinding.io/{self.BINDING_TYPE}",
                # A new generation is a new Secret (a new name rolls the client), created before the old one is deleted.
                immutable=True, string_data=binding(login, passwords[login]), opts=self._plain,
            )
            self._bindings[login.client] = secret
            credentials[login.client] = Credentials(
                client=login.client, user=self._login_user(login), secret=secret.metadata.apply(lambda m: m["name"]),
                generation=login.generation, acknowledge=acknowledge_name(naming, login.client),
            )
        return passwords, credentials

    def _acknowledge(self, client: str, generation: int, after: Sequence[pulumi.Resource]) -> None:
        """The store's own login (exporter, backup) acknowledged once the workload that uses it was updated."""
        store = self._store
        k8s.core.v1.ConfigMap(
            f"{self._name}-{client}-ack", metadata=store.metadata(acknowledge_name(store, client)),
            data={"generation": str(generation)},
            opts=pulumi.ResourceOptions.merge(self._plain, pulumi.ResourceOptions(depends_on=list(after))),
        )

    def _login_user(self, login: Login) -> str:
        """The name a store gives one login generation."""
        raise NotImplementedError

    def _secret_files(self, password: pulumi.Output[str]) -> Manifest:
        """The Secret's keys; a store adds files that embed the password in its tools' formats."""
        return {PASSWORD_KEY: password}

    def _finish(
        self, statefulset: Manifest, metrics: bool, extra_clients: list[dict[str, str]],
        after: Sequence[pulumi.Resource] = (),
    ) -> None:
        """``after``: objects the pod reads by a fixed name. Ordered by ``depends_on``, never through an
        output: a StatefulSet input that depends on a resource replaced delete-first is replaced too."""
        name, store = self._name, self._store
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account", metadata=store.metadata(store.app), automount_service_account_token=False, opts=self._plain
        )
        self.statefulset = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset", metadata=store.workload_metadata(store.app),
            spec=statefulset,
            opts=pulumi.ResourceOptions.merge(self._data, pulumi.ResourceOptions(depends_on=[account, *after])),
        )
        # After the pod they select is ready (the StatefulSet's await): they carry no await of their own.
        after_pods = pulumi.ResourceOptions.merge(self._plain, pulumi.ResourceOptions(depends_on=[self.statefulset]))
        for role, (meta, spec) in service_specs(store, metrics).items():
            k8s.core.v1.Service(f"{name}-{role}", metadata=meta, spec=spec, opts=after_pods)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-policy", metadata=store.metadata(store.app),
            spec=ingress_policy_spec(store, [*store.clients, *extra_clients], metrics), opts=self._plain,
        )
        self.metrics_target = store.metrics_target() if metrics else None
