"""Settings of Postgres in ``cloudnativepg`` mode (``platform:postgres.cloudnativepg``): a CloudNativePG
``Cluster`` with failover, WAL archiving through the Barman Cloud plugin, and point-in-time recovery.

The rest of ``platform:postgres`` keeps its meaning in this mode: ``image``/``majorVersion`` are the
statefulset's (this mode has its own ``cloudnativepg.image``, checked against the same
``majorVersion``), ``resources`` and ``persistence`` size each instance, ``database``/``user``/
``maxConnections`` the database, ``backup.enabled``/``schedule`` the base backups and
``backup.objectStore`` the bucket (its own prefix below it: WAL archive and base backups).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..errors import PROJECT
from ..profiles import EnvironmentProfile
from ..validation import DnsLabel, Port, StorageQuantity
from .base import Cidr, Container, Footprint, Image, Model, Resources, Workload, resources

if TYPE_CHECKING:
    from .postgres import PostgresConfig

# Barman's retention policy: a number and a unit (days, weeks, months).
Retention = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,3}[dwm]$")]
# A GUC name (postgresql.conf key): lower-case letters, digits, '_' and '.' (extensions: pg_stat_statements.max).
ParameterName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_.]{0,62}$")]
OPERATOR_NAMESPACE = "cnpg-system"
# The CloudNativePG release the program pins (scripts/upstream.lock) and its Barman Cloud plugin.
OPERATOR_VERSION = "1.30.1"
PLUGIN_VERSION = "0.15.0"
# The plugin's sidecar image, as the pinned plugin release runs it (set by its installation, not here).
# (Not a config default: its version follows PLUGIN_VERSION, which scripts/upstream.lock pins.)
PLUGIN_SIDECAR_IMAGE = Image.model_validate(
    dict(repository="ghcr.io/cloudnative-pg/plugin-barman-cloud-sidecar", tag=f"v{PLUGIN_VERSION}")
)
# CloudNativePG's own images: the operator's instance manager is injected, barman tools are in the plugin's sidecar.
DEFAULT_IMAGE = {"repository": "ghcr.io/cloudnative-pg/postgresql", "tag": "17.11-system-trixie"}


class Synchronous(Model):
    """Quorum-based synchronous replication: a commit waits for ``number`` standbys."""

    number: int = Field(ge=0, le=8)
    """Standbys each commit waits for (method any); 0: asynchronous replication."""
    data_durability: Literal["required", "preferred"] = "required"
    """required: writes stop while fewer standbys are up; preferred: they continue, asynchronously, on the primary alone."""


class WalStorage(Model):
    """A volume of its own for each instance's WAL (pg_wal)."""

    enabled: bool
    """A separate WAL volume; false: WAL shares the data volume."""
    size: StorageQuantity
    """Its size: WAL kept between checkpoints and not yet archived."""
    storage_class: DnsLabel | None = None
    """Its StorageClass; unset: the cluster's default class."""


class Plugin(Model):
    """The Barman Cloud plugin's sidecar (its image is the installed plugin's, not configured here)."""

    resources: Resources
    """The sidecar's requests and limits (durable environments: Guaranteed, like the instance)."""


class Operator(Model):
    """The CloudNativePG operator and its Barman Cloud plugin: cluster-wide, one install per cluster."""

    mode: Literal["install", "existing"]
    """install: this stack installs both from the pinned release (needs cert-manager); existing: the cluster's
    owners did, and the preview checks their CRDs."""
    namespace: DnsLabel = OPERATOR_NAMESPACE
    """Where the operator and the plugin run (the plugin must share the operator's namespace)."""
    manifests_path: str | None = None
    """install: a directory with the pinned release files (`make upstream` fills ~/.cache/platform-upstream/cnpg,
    no internet needed); unset: the releases' URLs on GitHub."""


class Migration(Model):
    """Moving this instance's data from its statefulset-mode pod into the Cluster (README, Moving an existing
    database). Present: the old StatefulSet keeps running beside the new Cluster, which imports its database."""

    cutover: bool = False
    """Clients use the Cluster (its -rw Service and -app Secret); false: they stay on the old StatefulSet."""
    keep_stateful_set: bool = True
    """Keep the old StatefulSet, its Services, Secret and volume; false (only after cutover): remove them,
    a deliberate step of its own."""

    @model_validator(mode="after")
    def _removal_after_cutover(self) -> Migration:
        if not self.keep_stateful_set and not self.cutover:
            raise ValueError("keepStatefulSet: false removes the database the clients still use; set cutover: true first")
        return self


class Recovery(Model):
    """Point-in-time recovery into this (new) Cluster from the WAL archive and base backups of another one."""

    source_cluster: DnsLabel
    """The Cluster whose archive is read (its serverName in the bucket; often this instance's own old name)."""
    source_prefix: Annotated[str, Field(pattern=r"^([A-Za-z0-9._-]+/)*$", max_length=200)] | None = None
    """The archive's key prefix in backup.objectStore's bucket; unset: this instance's own (prefix + cnpg/)."""
    target_time: str | None = None
    """Replay up to this time (RFC 3339 with a zone: 2026-12-06T04:55:00Z); unset: to the end of the archive."""

    @field_validator("target_time")
    @classmethod
    def _rfc3339(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                parsed = None
            if parsed is None or parsed.tzinfo is None:
                raise ValueError(f"{value!r} is not an RFC 3339 time with a zone (2026-12-06T04:55:00Z)")
        return value


class CloudNativePG(Model):
    """A CloudNativePG ``Cluster`` (mode ``cloudnativepg``): instances, storage, replication, archiving."""

    instances: int = Field(ge=1, le=9)
    """Postgres instances: one primary, the rest hot standbys a failover promotes."""
    image: Image
    """The instances' image (a CloudNativePG operand image; its tag must start with postgres.majorVersion)."""
    wal_storage: WalStorage
    """A separate volume for WAL (pg_wal): a full WAL volume never fills the data volume, and the reverse."""
    parameters: dict[ParameterName, str] = Field(default_factory=dict)
    """postgresql.conf parameters, every value a string ('256MB', "100"); the operator refuses the ones it manages."""
    synchronous: Synchronous
    """Synchronous replication (quorum over the standbys)."""
    anti_affinity: Literal["required", "preferred"]
    """Instances on different nodes: required (never two on one node) or preferred."""
    zone_spread: Literal["required", "preferred", "off"]
    """Spread instances over topology.kubernetes.io/zone: required (DoNotSchedule), preferred, or off."""
    backup_retention: Retention
    """How long base backups and WAL are kept in the bucket (30d, 8w, 3m): the point-in-time recovery window."""
    plugin: Plugin
    """The Barman Cloud plugin's sidecar in each instance pod (WAL archiving, base backups)."""
    operator: Operator
    """The operator and plugin: installed by this stack or expected in the cluster."""
    kubernetes_api_endpoints: list[Cidr] = Field(default_factory=list)
    """The API server's addresses: each instance's manager calls the Kubernetes API (network policies see the
    endpoints, not the Service's ClusterIP): `kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes`."""
    kubernetes_api_port: Port = 443
    """The API server's endpoint port (6443 on kubeadm clusters)."""
    migration: Migration | None = None
    """Moving this instance from statefulset mode (import, cutover, removal); unset: switching modes is refused."""
    recovery: Recovery | None = None
    """Bootstrap this Cluster by point-in-time recovery instead of an empty database (README, Point-in-time recovery)."""

    @field_validator("parameters", mode="before")
    @classmethod
    def _strings_only(cls, value: Any) -> Any:
        if isinstance(value, dict):
            wrong = sorted(k for k, v in value.items() if not isinstance(v, str))
            if wrong:
                raise ValueError(
                    f"values must be strings (the Cluster's postgresql.parameters are strings only): quote {wrong} "
                    "(max_wal_senders: \"10\")"
                )
        return value

    @model_validator(mode="after")
    def _bootstrap_one_way(self) -> CloudNativePG:
        if self.migration is not None and self.recovery is not None:
            raise ValueError("migration and recovery both bootstrap the Cluster: set one of them")
        return self

    def major(self) -> int | None:
        found = re.match(r"\d+", self.image.tag or "")
        return int(found.group()) if found else None


def cloudnativepg_defaults(env: EnvironmentProfile) -> dict[str, Any]:
    """Dev and review apps: one instance, no standby. Staging: a primary and a standby (failover, preferred
    spreading: a small cluster still schedules). Production: three instances on three nodes across zones,
    one synchronous standby required, a separate WAL volume, the operator expected from the cluster's owners."""
    strict, durable = env.strict, env.durable
    return {
        "instances": 3 if strict else 2 if durable else 1,
        "image": DEFAULT_IMAGE,
        "walStorage": {"enabled": strict, "size": "4Gi"},
        "synchronous": {"number": 1 if strict else 0, "dataDurability": "required"},
        "antiAffinity": "required" if strict else "preferred",
        "zoneSpread": "required" if strict else "preferred" if durable else "off",
        "backupRetention": "30d" if strict else "7d",
        "plugin": {
            "resources": resources("100m", "128Mi", "100m", "128Mi") if durable else resources("10m", "64Mi", "100m", "128Mi")
        },
        "operator": {"mode": "existing" if durable else "install"},
    }


def archiving(pg: PostgresConfig) -> bool:
    """WAL archiving and base backups to the bucket: backups on, with an object store."""
    return pg.backup.enabled and pg.backup.object_store is not None


def cloudnativepg_rules(pg: PostgresConfig, env: EnvironmentProfile) -> list[str]:
    """What the Cluster, or the switch into it, would get wrong; checked in either mode where it applies."""
    key = f"{PROJECT}:postgres.cloudnativepg"
    c = pg.cloudnativepg
    if pg.mode != "cloudnativepg":
        return [f"{key}.{k}: only for postgres.mode cloudnativepg (the mode is {pg.mode!r})"
                for k, v in (("migration", c.migration), ("recovery", c.recovery)) if v is not None]
    problems = []
    if c.major() is not None and c.major() != pg.major_version:
        problems.append(
            f"{key}.image.tag: {c.image.tag!r} is major version {c.major()}, but postgres.majorVersion is {pg.major_version}; "
            "an instance cannot start on another major's data directory"
        )
    if env.strict and c.instances < 2:
        problems.append(f"{key}.instances: {env.name} needs at least 2 instances (a standby to fail over to); got {c.instances}")
    if c.synchronous.number > c.instances - 1:
        problems.append(
            f"{key}.synchronous.number: {c.synchronous.number} synchronous standbys need at least {c.synchronous.number + 1} "
            f"instances (cloudnativepg.instances is {c.instances})"
        )
    if not c.kubernetes_api_endpoints:
        problems.append(
            f"{key}.kubernetesApiEndpoints: each instance's manager calls the Kubernetes API, which the namespace's "
            "default deny drops; list the API server's addresses (kubectl get endpointslices -n default "
            "-l kubernetes.io/service-name=kubernetes)"
        )
    if not pg.persistence.enabled:
        problems.append(
            f"{PROJECT}:postgres.persistence.enabled: a CloudNativePG Cluster always keeps its data on volumes; set it to true"
        )
    if pg.backup.enabled and pg.backup.object_store is None:
        problems.append(
            f"{PROJECT}:postgres.backup.objectStore: in mode cloudnativepg base backups and the WAL archive go to an "
            "object store (there is no backup volume); set one, or postgres.backup.enabled: false"
        )
    if c.recovery is not None and pg.backup.object_store is None:
        problems.append(f"{key}.recovery: recovery reads the archive from postgres.backup.objectStore; set it")
    return problems


def cloudnativepg_footprint(pg: PostgresConfig) -> Footprint:
    """Every instance pod (Postgres and, with archiving, the plugin's sidecar), the bootstrap job, the volumes."""
    c = pg.cloudnativepg
    server = Container("postgres", pg.resources, c.image, image_key="postgres.cloudnativepg.image")
    sidecar = [Container("postgres.cloudnativepg.plugin", c.plugin.resources, PLUGIN_SIDECAR_IMAGE,
                         image_key="postgres.cloudnativepg.operator")] if archiving(pg) else []
    workloads = (
        Workload("Postgres", c.instances, (server, *sidecar), data=True),
        # initdb, import or recovery: one job pod before the first instance, with the instance's resources.
        Workload("the Cluster's bootstrap job", 1, (server,)),
    )
    claims = [("postgres.persistence", pg.persistence.size)] * c.instances
    if c.wal_storage.enabled:
        claims += [("postgres.cloudnativepg.walStorage", c.wal_storage.size)] * c.instances
    return Footprint(workloads, tuple(claims), services=3)  # -rw, -ro, -r

