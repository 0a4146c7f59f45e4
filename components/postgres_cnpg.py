"""Postgres in mode ``cloudnativepg``: the pure builders of a CloudNativePG ``Cluster``, its Barman Cloud
``ObjectStore`` (WAL archive and base backups), ``ScheduledBackup``, declarative per-client roles, and the
NetworkPolicies the operator, the instances and their jobs need. ``Postgres`` registers them.

Names, for an instance ``db``: the Cluster ``db`` (pods ``db-1``.., claims ``db-1``.., Services ``db-rw``,
``db-ro``, ``db-r``, the operator's Secret ``db-app``), the ServiceAccount ``db-cnpg`` (the operator's
default would be ``db``, the statefulset's own account: both exist during a migration), ``db-archive``
(ObjectStore), ``db-backup`` (ScheduledBackup), ``db-cnpg`` and ``db-cnpg-egress`` (policies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from . import datastore
from .connections import MetricsTarget, PostgresConnection
from .contracts import raise_if
from .datastore import PASSWORD_KEY, Login, Manifest, Store, binding_name, resources, scraper_peer
from .environment import namespace_of, options_in
from .errors import PROJECT
from .namespace import StoreRecord
from .pgroles import login_name, role_name
from .postgres import PORT, PRIVATE_RANGES, PostgresSpec, binding
from .settings import PostgresConfig
from .settings.cloudnativepg import archiving

PLUGIN = "barman-cloud.cloudnative-pg.io"
STATUS_PORT = 8000  # the instance manager's status endpoint: the operator and the other instances call it
METRICS_PORT = 9187  # the instance manager's exporter, port name "metrics"
CLUSTER_LABEL = "cnpg.io/cluster"
# The operator's pods as the pinned release labels them (releases/cnpg-<version>.yaml).
OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "cloudnative-pg"}
IMPORT_SOURCE = "statefulset"  # the externalClusters entry a migration imports from
RECOVERY_SOURCE = "archive"


# The names this mode gives its objects, by role: ``<instance>-<suffix>``.
RW, APP, ACCOUNT, ARCHIVE, BACKUP, POLICY, CREDENTIALS = "rw", "app", "cnpg", "archive", "backup", "cnpg", "cnpg"


def named(store: Store, suffix: str) -> str:
    """``rw``: the read-write Service (always the primary, whichever instance that is after a failover);
    ``app``: the operator's Secret of the database owner; ``cnpg``: the instances' ServiceAccount and ingress
    policy, the prefix of the clients' credentials; ``archive``: the ObjectStore; ``backup``: the ScheduledBackup."""
    return f"{store.app}-{suffix}"


def instance_labels(store: Store) -> dict[str, str]:
    """The instance pods, by the operator's own labels: no other component sets ``cnpg.io/cluster``."""
    return {CLUSTER_LABEL: store.app, "cnpg.io/podRole": "instance"}


def job_labels(store: Store, role: str) -> dict[str, str]:
    """One of the Cluster's job pods (initdb, import, full-recovery, join)."""
    return {CLUSTER_LABEL: store.app, "cnpg.io/jobRole": role}


def archive_path(args: PostgresSpec, prefix: str | None = None) -> str:
    """Where the archive lives: its own prefix under the dumps' one; barman adds ``<serverName>/``."""
    bucket = args.settings.backup.object_store
    assert bucket is not None
    return f"s3://{bucket.bucket}/{bucket.prefix if prefix is None else prefix}cnpg/"


def six_field_cron(schedule: str) -> str:
    """The platform's five-field cron (minute first) as the ScheduledBackup's six fields (seconds first):
    read as six fields, '0 3 * * *' would mean second 0 of minute 3 of every hour."""
    fields = schedule.split(" ")
    if len(fields) != 5:
        raise ValueError(f"{schedule!r} is not a five-field cron schedule")
    return " ".join(["0", *fields])


def login_secret_name(store: Store, login: Login) -> str:
    """The basic-auth Secret the operator reads one login generation's password from."""
    return f"{binding_name(credentials_store(store), login.client, login.generation)}-login"


def credentials_store(store: Store) -> Store:
    """Names the Cluster's credentials take (``<instance>-cnpg-<client>-g<n>``): apart from a migrating
    StatefulSet's, so both sets exist side by side until the cutover."""
    return replace(store, app=named(store, CREDENTIALS))


def managed_roles(args: PostgresSpec) -> list[Manifest]:
    """spec.managed.roles: per client key a NOLOGIN group role (a member of the database owner) and a login role
    per live generation in it. The previous generation keeps its login until the next rotation (the program
    cannot see the client's acknowledgement at preview); the one before it is dropped (ensure: absent)."""
    s, store = args.settings, args.store
    roles: list[Manifest] = []
    for key in store.client_keys:
        group = role_name(key)
        roles.append({"name": group, "ensure": "present", "login": False, "inherit": True, "inRoles": [s.user],
                      "comment": f"platform: client {key}"})
        generation = s.rotations.get(key, 1)
        for login in datastore.logins(store, {key: generation}):
            roles.append({
                "name": login_name(login), "ensure": "present", "login": True, "inherit": True, "inRoles": [group],
                "passwordSecret": {"name": login_secret_name(store, login)},
                "comment": f"platform: client {key} generation {login.generation}",
            })
        if generation > 2:  # the generation before the previous one: its validity window ended with this rotation
            roles.append({"name": login_name(Login(key, generation - 2, False)), "ensure": "absent"})
    return roles


def pod_metadata(store: Store) -> Manifest:
    """Labels on everything the operator creates: who it belongs to. Never the statefulset's selector pair
    (name and instance), or its Service would send clients to these pods during a migration."""
    labels = store.labels()
    return {"labels": {k: v for k, v in labels.items() if k not in ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                                                                      "app.kubernetes.io/managed-by")}}


def import_login(args: PostgresSpec) -> Login:
    """The statefulset's login a migration's import reads with: its superuser logs in over the pod's socket only,
    so the backup's (pg_read_all_data) or, without backups, the first client's (the database's owner)."""
    s = args.settings
    key = "backup" if s.backup.enabled else args.store.client_keys[0]
    return Login(key, s.rotations.get(key, 1), True)


def bootstrap(args: PostgresSpec, old_secret: pulumi.Input[str] | None) -> tuple[Manifest, list[Manifest]]:
    """(spec.bootstrap, spec.externalClusters): an empty database, an import of the statefulset's, or a recovery.
    The operator reads it once, when it creates the Cluster: once the statefulset is removed it is plain initdb."""
    s, store = args.settings, args.store
    c = s.cloudnativepg
    initdb: dict[str, Any] = {"database": s.database, "owner": s.user}
    if c.recovery is not None:
        source = {"name": RECOVERY_SOURCE, "plugin": {"name": PLUGIN, "parameters": {
            "barmanObjectName": f"{named(store, ARCHIVE)}-source", "serverName": c.recovery.source_cluster}}}
        recovery: dict[str, Any] = {"source": RECOVERY_SOURCE, "database": s.database, "owner": s.user}
        if c.recovery.target_time:
            recovery["recoveryTarget"] = {"targetTime": c.recovery.target_time}
        return {"recovery": recovery}, [source]
    if c.migration is not None and old_secret is not None:
        # A logical import (pg_dump | pg_restore by the operator's import job) of the one database, owned by the user;
        # old_secret: the binding Secret of the import's login (import_login).
        initdb["import"] = {"type": "microservice", "databases": [s.database], "source": {"externalCluster": IMPORT_SOURCE}}
        source = {
            "name": IMPORT_SOURCE,
            "connectionParameters": {"host": store.app, "port": str(PORT), "user": login_name(import_login(args)),
                                     "dbname": s.database, "sslmode": "disable"},
            "password": {"name": old_secret, "key": PASSWORD_KEY},
        }
        return {"initdb": initdb}, [source]
    return {"initdb": initdb}, []


def cluster_spec(args: PostgresSpec, old_secret: pulumi.Input[str] | None = None) -> Manifest:
    s, store = args.settings, args.store
    c = s.cloudnativepg
    postgresql: dict[str, Any] = {"parameters": {"max_connections": str(s.max_connections), **c.parameters}}
    if c.synchronous.number:
        postgresql["synchronous"] = {
            "method": "any", "number": c.synchronous.number, "dataDurability": c.synchronous.data_durability,
        }
    boot, external = bootstrap(args, old_secret)
    spec: dict[str, Any] = {
        "instances": c.instances,
        "imageName": c.image.ref,
        "imagePullPolicy": c.image.effective_pull_policy,
        "postgresql": postgresql,
        "bootstrap": boot,
        "enableSuperuserAccess": False,
        "serviceAccountName": named(store, ACCOUNT),
        "storage": _storage(s.persistence.size, s.persistence.storage_class),
        "resources": resources(s.resources),
        "affinity": {
            "enablePodAntiAffinity": True, "topologyKey": "kubernetes.io/hostname",
            "podAntiAffinityType": c.anti_affinity,
        },
        # One instance: a PodDisruptionBudget would block every node drain (the operator's PDB allows no eviction).
        "enablePDB": c.instances > 1,
        "primaryUpdateStrategy": "unsupervised",
        "primaryUpdateMethod": "switchover",
        "inheritedMetadata": pod_metadata(store),
    }
    if c.wal_storage.enabled:
        spec["walStorage"] = _storage(c.wal_storage.size, c.wal_storage.storage_class)
    if c.zone_spread != "off":
        spec["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule" if c.zone_spread == "required" else "ScheduleAnyway",
            "labelSelector": {"matchLabels": instance_labels(store)},
        }]
    if s.priority_class_name:
        spec["priorityClassName"] = s.priority_class_name
    if archiving(s):
        spec["plugins"] = [{"name": PLUGIN, "isWALArchiver": True, "parameters": {"barmanObjectName": named(store, ARCHIVE)}}]
    if external:
        spec["externalClusters"] = external
    if roles := managed_roles(args):
        spec["managed"] = {"roles": roles}
    return spec


def _storage(size: str, storage_class: str | None) -> Manifest:
    return {"size": size, **({"storageClass": storage_class} if storage_class else {})}


def object_store_spec(args: PostgresSpec, prefix: str | None = None, sidecar: bool = True) -> Manifest:
    """The bucket as barman-cloud reads it: compressed WAL and base backups, kept for ``backupRetention``."""
    s = args.settings
    bucket = s.backup.object_store
    assert bucket is not None
    credentials: Manifest
    if bucket.existing_secret:
        credentials = {
            "accessKeyId": {"name": bucket.existing_secret, "key": "AWS_ACCESS_KEY_ID"},
            "secretAccessKey": {"name": bucket.existing_secret, "key": "AWS_SECRET_ACCESS_KEY"},
        }
    else:
        credentials = {"inheritFromIAMRole": True}
    spec: dict[str, Any] = {
        "configuration": {
            "destinationPath": archive_path(args, prefix),
            "endpointURL": bucket.url,
            "s3Credentials": credentials,
            "wal": {"compression": "gzip", "maxParallel": 2},
            "data": {"compression": "gzip"},
        },
    }
    if sidecar:
        spec["retentionPolicy"] = s.cloudnativepg.backup_retention
        spec["instanceSidecarConfiguration"] = {"resources": resources(s.cloudnativepg.plugin.resources)}
    return spec


def scheduled_backup_spec(args: PostgresSpec) -> Manifest:
    return {
        "schedule": six_field_cron(args.settings.backup.schedule),
        "cluster": {"name": args.store.app},
        "method": "plugin",
        "pluginConfiguration": {"name": PLUGIN},
        "backupOwnerReference": "self",
        "immediate": True,  # a base backup right after creation: the archive is useless until the first one
    }


def ingress_policy_spec(args: PostgresSpec, client_pods: list[Mapping[str, str]], operator_namespace: str) -> Manifest:
    """Who reaches the instances: clients on 5432; the other instances (replication, status); the operator
    (status on 8000); the monitoring namespace's Prometheus on the exporter."""
    store = args.store
    cluster = {"podSelector": {"matchLabels": {CLUSTER_LABEL: store.app}}}
    operator = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": operator_namespace}},
                "podSelector": {"matchLabels": OPERATOR_POD_LABELS}}
    rules: list[Manifest] = [
        {"from": [{"podSelector": {"matchLabels": dict(p)}} for p in client_pods], "ports": [_tcp(PORT)]},
        {"from": [cluster], "ports": [_tcp(PORT), _tcp(STATUS_PORT)]},
        {"from": [operator], "ports": [_tcp(STATUS_PORT), _tcp(PORT)]},
    ]
    if store.monitoring_namespace:
        rules.append({"from": [scraper_peer(store.monitoring_namespace, store.monitoring_pod_labels)],
                      "ports": [_tcp(METRICS_PORT)]})
    return {"podSelector": {"matchLabels": instance_labels(store)}, "policyTypes": ["Ingress"], "ingress": rules}


def egress_policy_spec(args: PostgresSpec, import_from: Mapping[str, str] | None) -> Manifest:
    """Where the instances and their jobs connect: each other, the API server, the bucket, and (during a
    migration) the statefulset's pod the import reads. DNS is allowed namespace-wide."""
    s, store = args.settings, args.store
    c = s.cloudnativepg
    egress: list[Manifest] = [
        {"to": [{"podSelector": {"matchLabels": {CLUSTER_LABEL: store.app}}}], "ports": [_tcp(PORT), _tcp(STATUS_PORT)]},
        {"to": [{"ipBlock": {"cidr": cidr}} for cidr in c.kubernetes_api_endpoints], "ports": [_tcp(c.kubernetes_api_port)]},
    ]
    bucket = s.backup.object_store
    if bucket and (archiving(s) or c.recovery is not None):
        blocks: list[dict[str, Any]] = [{"cidr": cidr} for cidr in bucket.allowed_cidrs] or [
            {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}
        ]
        egress.append({"to": [{"ipBlock": b} for b in blocks], "ports": [_tcp(bucket.effective_port)]})
    if import_from is not None:
        egress.append({"to": [{"podSelector": {"matchLabels": dict(import_from)}}], "ports": [_tcp(PORT)]})
    return {"podSelector": {"matchLabels": {CLUSTER_LABEL: store.app}}, "policyTypes": ["Egress"], "egress": egress}


def _tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}


def names(args: PostgresSpec) -> list[tuple[str, str]]:
    """The names the operator and this mode create in the namespace (claimed before anything registers)."""
    store, s = args.store, args.settings
    c = s.cloudnativepg
    result = [
        ("Cluster", store.app), ("ServiceAccount", named(store, ACCOUNT)), ("Role", store.app), ("RoleBinding", store.app),
        ("NetworkPolicy", named(store, POLICY)), ("NetworkPolicy", f"{named(store, POLICY)}-egress"),
        *(("Service", f"{store.app}-{kind}") for kind in ("rw", "ro", "r")),
        *(("Secret", f"{store.app}-{kind}") for kind in ("app", "ca", "server", "replication")),
        *((("PodDisruptionBudget", store.app), ("PodDisruptionBudget", f"{store.app}-primary")) if c.instances > 1 else ()),
        *(("PersistentVolumeClaim", f"{store.app}-{i}") for i in range(1, c.instances + 1)),
    ]
    result += datastore.credential_names(credentials_store(store), s.rotations)
    result += [("Secret", login_secret_name(store, login)) for login in datastore.logins(store, s.rotations)]
    if archiving(s):
        result += [("ObjectStore", named(store, ARCHIVE)), ("ScheduledBackup", named(store, BACKUP))]
    if c.recovery is not None:
        result.append(("ObjectStore", f"{named(store, ARCHIVE)}-source"))
    return result


# ---------------------------------------------------------------- registration (Postgres in mode cloudnativepg)

CLUSTER_API = "postgresql.cnpg.io/v1"
BARMAN_API = "barmancloud.cnpg.io/v1"
# What an instance's last deployment ran, as the program exports it (``Postgres.deployed``): a switch that
# would delete one of them is refused unless the migration says so.
STATEFULSET, CLOUDNATIVEPG = "statefulset", "cloudnativepg"


def deployed(settings: PostgresConfig) -> tuple[str, ...]:
    """What this configuration deploys for an instance: the statefulset, the Cluster, or both (a migration)."""
    return tuple(m for m, on in ((STATEFULSET, settings.stateful_set), (CLOUDNATIVEPG, settings.mode == CLOUDNATIVEPG)) if on)


def switch_problems(instance: str, settings: PostgresConfig, before: tuple[str, ...] | None) -> list[str]:
    """A mode switch that would delete a database by surprise: refused, naming the key that declares it."""
    if before is None:
        return []
    now, key = deployed(settings), f"{PROJECT}:postgres"
    migration = settings.cloudnativepg.migration
    problems = []
    if STATEFULSET in before and STATEFULSET not in now and migration is None:
        problems.append(
            f"{key}.mode: switching Postgres {instance!r} from statefulset to cloudnativepg would delete its StatefulSet "
            "and (where volumes are not retained) its data; declare the move with postgres.cloudnativepg.migration "
            "(import, cutover, then keepStatefulSet: false as a step of its own: README, Moving an existing database)"
        )
    if CLOUDNATIVEPG in before and CLOUDNATIVEPG not in now:
        problems.append(
            f"{key}.mode: switching Postgres {instance!r} back to statefulset would delete its CloudNativePG Cluster and "
            "the Cluster's volumes; move the data first (dump and restore) and remove the Cluster deliberately "
            "(`pulumi state delete` after `kubectl delete cluster`), or keep mode cloudnativepg"
        )
    return problems


class ClusterParts:
    """The Cluster of one Postgres instance and what it needs, registered as children of ``parent``."""

    def __init__(
        self, parent: Any, name: str, args: PostgresSpec, client_pods: list[Mapping[str, str]],
        operator: pulumi.Resource | None, old: tuple[str, Mapping[str, str]] | None,
    ):
        s, store = args.settings, args.store
        c = s.cloudnativepg
        data = pulumi.ResourceOptions(parent=parent)
        plain = pulumi.ResourceOptions(parent=parent, protect=False, retain_on_delete=False)
        after_operator = pulumi.ResourceOptions(depends_on=[operator] if operator else [])

        # Its own account: the operator binds its Role to it; the instance manager calls the Kubernetes API.
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-cnpg-account", metadata=store.metadata(named(store, ACCOUNT)), automount_service_account_token=True,
            opts=plain,
        )
        # The same contract as the statefulset's (postgres.rotations, binding Secrets, acknowledgements), at -rw.
        passwords, self.credentials = parent._credentials(
            s.rotations, lambda login, password: binding(args, login, password, host=named(store, RW)),
            suffix=f"-{CREDENTIALS}",
        )
        logins = []
        for login, password in passwords.items():
            # The operator reads a role's password from a basic-auth Secret (cnpg.io/reload: it follows changes).
            logins.append(k8s.core.v1.Secret(
                f"{name}-{CREDENTIALS}-{login.client}-g{login.generation}-login",
                metadata={**store.metadata(login_secret_name(store, login)),
                          "labels": {**store.labels(), "cnpg.io/reload": "true"}},
                type="kubernetes.io/basic-auth", string_data={"username": login_name(login), "password": password},
                opts=plain,
            ))

        cluster_opts = pulumi.ResourceOptions.merge(
            data, pulumi.ResourceOptions(depends_on=[service_account, *([operator] if operator else [])])
        )
        archive: list[pulumi.Resource] = []
        if archiving(s):
            archive.append(k8s.apiextensions.CustomResource(
                f"{name}-archive", api_version=BARMAN_API, kind="ObjectStore",
                metadata=store.metadata(named(store, ARCHIVE)), spec=object_store_spec(args),
                opts=pulumi.ResourceOptions.merge(plain, after_operator),
            ))
        if c.recovery is not None:
            archive.append(k8s.apiextensions.CustomResource(
                f"{name}-archive-source", api_version=BARMAN_API, kind="ObjectStore",
                metadata=store.metadata(f"{named(store, ARCHIVE)}-source"),
                spec=object_store_spec(args, c.recovery.source_prefix, sidecar=False),
                opts=pulumi.ResourceOptions.merge(plain, after_operator),
            ))
        k8s.networking.v1.NetworkPolicy(
            f"{name}-cnpg-policy", metadata=store.metadata(named(store, POLICY)),
            spec=ingress_policy_spec(args, client_pods, c.operator.namespace), opts=plain,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-cnpg-egress", metadata=store.metadata(f"{named(store, POLICY)}-egress"),
            spec=egress_policy_spec(args, old[1] if old else None), opts=plain,
        )
        self.cluster = k8s.apiextensions.CustomResource(
            f"{name}-cluster", api_version=CLUSTER_API, kind="Cluster", metadata=store.metadata(store.app),
            spec=cluster_spec(args, old[0] if old else None),
            opts=pulumi.ResourceOptions.merge(cluster_opts, pulumi.ResourceOptions(depends_on=[*archive, *logins])),
        )
        if archiving(s):
            k8s.apiextensions.CustomResource(
                f"{name}-backup", api_version=CLUSTER_API, kind="ScheduledBackup",
                metadata=store.metadata(named(store, BACKUP), "backup"), spec=scheduled_backup_spec(args),
                opts=pulumi.ResourceOptions.merge(plain, pulumi.ResourceOptions(depends_on=[self.cluster])),
            )


def metrics_target(args: PostgresSpec) -> MetricsTarget:
    """The instances' exporter, scraped by a PodMonitor (the operator's Services select no metrics port)."""
    s, store = args.settings, args.store
    rules = ("postgres-cnpg", "postgres-cnpg-backup") if archiving(s) else ("postgres-cnpg",)
    return MetricsTarget(
        name=store.app, service_labels={}, port="metrics", path="/metrics", kind="postgres-cnpg",
        namespace=store.namespace, scraper=store.monitoring_namespace, rules=rules,
        values={"instances": str(s.cloudnativepg.instances)}, pod_labels=instance_labels(store),
    )


def check_switch(instance: str, settings: PostgresConfig, before: Sequence[str] | None) -> None:
    """Refuse a switch that would delete a database, before anything registers (``PostgresArgs.deployed``)."""
    problems: list[str] = []
    if before is not None and (isinstance(before, str) or not all(m in (STATEFULSET, CLOUDNATIVEPG) for m in before)):
        problems.append(f"PostgresArgs.deployed: must be a list of {STATEFULSET!r} and {CLOUDNATIVEPG!r} (got {before!r})")
    else:
        problems += switch_problems(instance, settings, tuple(before) if before is not None else None)
    raise_if(problems)


def build(component: Any, name: str, args: Any, spec: PostgresSpec, opts: pulumi.ResourceOptions | None) -> None:
    """Register mode cloudnativepg under ``component`` (a ``Postgres``): the Cluster and its parts and, during a
    migration, the statefulset beside it (unchanged) for the import to read until the old objects are removed."""
    s, store = spec.settings, spec.store
    c = s.cloudnativepg
    where = namespace_of(args.environment, "PostgresArgs.environment")
    problems = []
    if c.recovery is not None and c.recovery.source_cluster == name and c.recovery.source_prefix is None:
        problems.append(
            f"{PROJECT}:postgres.cloudnativepg.recovery.sourcePrefix: the Cluster {name!r} would archive into the "
            "archive it recovers from; recover from another prefix (the old one), and keep the new archive apart"
        )
    if c.migration is not None and not s.backup.enabled and not store.client_keys:
        problems.append(f"{PROJECT}:postgres.cloudnativepg.migration: the import reads the old database with the backup's "
                        "or a client's login (its superuser has none over TCP); enable postgres.backup or name a client")
    if args.operator is not None and not isinstance(args.operator, pulumi.Resource):
        problems.append("PostgresArgs.operator: must be the operator's component (a pulumi.Resource) or None")
    raise_if(problems)
    old: tuple[str, Mapping[str, str]] | None = None
    if s.stateful_set:  # a migration: the old objects exactly as before, the import job let in
        component._stateful_set(name, args, spec, opts, extra_clients=[job_labels(store, "import")])
        where.claim(f"Postgres {name!r} (its Cluster)", names(spec))
        login = import_login(spec)
        old = (binding_name(store, login.client, login.generation), store.identity)
    else:
        where.claim(f"Postgres {name!r}", names(spec), s.footprint())
        where.register_store(name, StoreRecord(kind=store.component, pod_labels=instance_labels(store), clients=store.clients))
        pulumi.ComponentResource.__init__(
            component, "platform:index:Postgres", name, None, options_in(args.environment, opts, data=True)
        )
        component._children(name, store)
    for warning in s.warnings(where.profile):
        pulumi.log.warn(warning, resource=component)
    parts = ClusterParts(component, name, spec, list(store.clients), args.operator, old)
    # As the statefulset's: no user, no password (the owner's -app Secret is the operator's), a login per client.
    cluster_connection = PostgresConnection(
        instance=name, namespace=store.namespace, host=named(store, RW), port=PORT, database=s.database,
        pod_labels=instance_labels(store), clients=store.clients, ready=[parts.cluster], credentials=parts.credentials,
    )
    component.cluster = parts.cluster
    cut_over = c.migration is None or c.migration.cutover
    if cut_over:
        component.connection = cluster_connection
        if s.stateful_set:  # what clients' policies and connections are checked against from now on
            where.register_store(name, StoreRecord(kind=store.component, pod_labels=instance_labels(store),
                                                   clients=store.clients))
        component.secret_name = pulumi.Output.from_input(named(store, APP))
        # The operator generates the owner's password into the -app Secret: Pulumi never holds it.
        component.password = pulumi.Output.secret("")
    if cut_over:  # until then the statefulset's exporter is what runs the clients' database
        component.metrics_target = metrics_target(spec) if s.metrics.enabled else None
    component.register_outputs({"host": component.connection.host, "secretName": component.secret_name})
