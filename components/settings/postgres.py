"""Settings of one Postgres instance (``platform:postgres``): image, auth, persistence, backups."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import Field

from ..errors import PROJECT
from ..profiles import EnvironmentProfile
from ..validation import CronSchedule, DnsLabel, Hostname, LabelKey, Port, PriorityClassName, SqlIdentifier, StorageQuantity
from .base import (
    Cidr,
    Container,
    Exporter,
    Footprint,
    Group,
    Image,
    Model,
    Persistence,
    Resources,
    SecurityIds,
    Workload,
    resources,
    server_pod,
    store_services,
)
from .cloudnativepg import CloudNativePG, cloudnativepg_defaults, cloudnativepg_footprint, cloudnativepg_rules

# S3 bucket naming rules (3-63 lowercase letters, digits, dots, hyphens) and a key prefix.
BucketName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
KeyPrefix = Annotated[str, Field(pattern=r"^([A-Za-z0-9._-]+/)*$", max_length=200)]
Region = Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")]


class ObjectStore(Model):
    """An S3-compatible bucket that receives every dump: backups that survive the cluster.

    Credentials never enter config: ``existingSecret`` names a Secret in the namespace with the
    keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (mounted as files), or the backup pods'
    own ServiceAccount gets a cloud identity (``serviceAccountAnnotations``). The upload only
    writes: the credential needs s3:PutObject on the prefix and nothing else; old dumps expire
    by the bucket's lifecycle rule, never by a client that could delete them all.
    """

    endpoint: Hostname
    """The store's host (s3.eu-central-1.amazonaws.com, minio.storage.svc.cluster.local, ...)."""
    port: Port | None = None
    """The store's port; unset: 443 with TLS, 80 without."""
    tls: bool = True
    """HTTPS to the store."""
    region: Region = "us-east-1"
    """The bucket's region."""
    bucket: BucketName
    """The bucket that receives the dumps."""
    prefix: KeyPrefix = ""
    """A key prefix, empty or ending in '/' (platform/production/)."""
    existing_secret: DnsLabel | None = None
    """A Secret in the namespace with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, read from files; unset:
    the pod's own identity (workload identity through serviceAccountAnnotations)."""
    service_account_annotations: dict[LabelKey, str] = Field(default_factory=dict)
    """Annotations of the backup pods' own ServiceAccount, for workload identity
    (eks.amazonaws.com/role-arn, iam.gke.io/gcp-service-account, ...)."""
    allowed_cidrs: list[Cidr] = Field(default_factory=list)
    """The address ranges the upload may connect to on the store's port (the store's published ranges, a
    VPC endpoint, an egress proxy); unset: any public address, never the cluster's private ranges."""
    image: Image = Field(
        default_factory=lambda: Image.model_validate(
            {"repository": "docker.io/amazon/aws-cli", "tag": "2.33.2"}
        )
    )
    """The upload step's image (the AWS CLI's own: well kept, speaks every S3-compatible store)."""
    resources: Resources = Field(default_factory=lambda: Resources.model_validate(resources("50m", "64Mi", "500m", "256Mi")))
    """The upload step's requests and limits."""

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.endpoint}" + (f":{self.port}" if self.port else "")

    @property
    def effective_port(self) -> int:
        return self.port or (443 if self.tls else 80)


class Backup(Model):
    """Nightly pg_dump into a volume of its own (and, with objectStore, off the cluster)."""

    enabled: bool
    """Run the backup CronJob."""
    schedule: CronSchedule
    """Five-field cron schedule, in UTC."""
    keep: int = Field(ge=1, le=365)
    """How many dumps are kept on the volume (the bucket's own lifecycle rule expires its copies)."""
    size: StorageQuantity
    """The backup volume's size."""
    storage_class: DnsLabel | None = None
    """The backup volume's StorageClass; unset: the cluster's default."""
    resources: Resources
    """The pg_dump container's requests and limits."""
    object_store: ObjectStore | None = None
    """An S3-compatible bucket each dump is copied to; unset: dumps stay on the backup volume."""
    priority_class_name: PriorityClassName | None = None
    """An existing PriorityClass for the backup pods."""
    acknowledge_no_off_cluster_copy: bool = False
    """Production only: run without objectStore (or without backups), knowing that the dumps share the
    database's namespace, cluster and StorageClass, and go with them."""


class Roles(Model):
    """The sidecar that reconciles the login roles, over the server's socket, as the superuser."""

    resources: Resources
    """The roles container's requests and limits."""


class PostgresConfig(Group):
    """Settings of one Postgres instance (``platform:postgres``): image, auth, persistence, backups."""

    KEY = "postgres"

    image: Image
    """The server's image (the official postgres image; also runs pg_dump)."""
    major_version: int = Field(ge=9, le=99)
    """The major version of the data directory; the image tag must start with it. A new major cannot start on
    the old data directory: change both together only after a dump and restore (README, Backups and restore)."""
    database: SqlIdentifier
    """The database created on first start."""
    user: SqlIdentifier
    """The server's superuser (initdb's bootstrap user): only the server and its roles container use it, over the
    pod's socket; each client logs in as a role of its own (README, Credentials). Fixed once the volume exists."""
    resources: Resources
    """The server container's requests and limits."""
    persistence: Persistence
    """The data volume."""
    security: SecurityIds
    """The image's own UID/GID (alpine: 70, debian: 999)."""
    max_connections: int = Field(ge=10, le=10000)
    """The server's max_connections."""
    termination_grace_period_seconds: int = Field(ge=30, le=3600)
    """Seconds for a clean shutdown (the preStop fast stop gets all but 10)."""
    backup: Backup
    """Scheduled logical backups."""
    metrics: Exporter
    """The postgres_exporter sidecar."""
    priority_class_name: PriorityClassName | None = None
    """An existing PriorityClass for the server pod."""
    mode: Literal["statefulset", "cloudnativepg"] = "statefulset"
    """statefulset: one pod of the official image; cloudnativepg: a CloudNativePG Cluster with failover, WAL
    archiving and point-in-time recovery (README, Production Postgres with CloudNativePG)."""
    cloudnativepg: CloudNativePG
    """The Cluster of mode cloudnativepg (and the migration into it)."""
    roles: Roles
    """The roles container: creates each client's, the exporter's and the backup's login roles, on every change."""
    rotations: dict[DnsLabel, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    """Credential generation per client key (an ApiService name), or metrics (the exporter) or backup (the backup
    job); unset: 1. Raise one by one per `up` to rotate that login without downtime (README, Credentials); never lower it."""

    @classmethod
    def defaults(cls, env: EnvironmentProfile) -> dict[str, Any]:
        durable = env.durable
        return {
            "image": {"repository": "docker.io/library/postgres", "tag": "17.11-alpine"},
            "majorVersion": 17,
            "database": "app",
            "user": "app",
            # Durable data pods are Guaranteed: CPU and memory requests equal their limits.
            "resources": resources("1", "1Gi", "1", "1Gi") if durable else resources("100m", "256Mi", "500m", "512Mi"),
            "persistence": {"enabled": True, "size": "8Gi"},
            "security": {"runAsUser": 70, "runAsGroup": 70},
            "maxConnections": 100,
            "terminationGracePeriodSeconds": 120,
            "backup": {
                "enabled": durable,
                "schedule": "0 3 * * *",
                "keep": 14 if env.strict else 7,
                "size": "8Gi",
                "resources": resources("50m", "128Mi", "500m", "512Mi"),
            },
            "roles": {
                "resources": resources("10m", "32Mi", "10m", "32Mi") if durable else resources("5m", "16Mi", "100m", "32Mi")
            },
            "metrics": {
                "enabled": True,
                "image": {
                    "repository": "quay.io/prometheuscommunity/postgres-exporter", "tag": "v0.20.0"
                },
                # Durable data pods request all they may use, sidecars included.
                "resources": resources("100m", "64Mi", "100m", "64Mi") if durable else resources("10m", "32Mi", "100m", "64Mi"),
            },
            "cloudnativepg": cloudnativepg_defaults(env),
        }

    def rules(self, env: EnvironmentProfile) -> list[str]:
        problems = []
        if self.backup.enabled and not self.persistence.enabled:
            problems.append(
                f"{PROJECT}:postgres.backup.enabled: backups of a database without persistence make no sense; "
                "enable postgres.persistence"
            )
        if env.strict and not self.persistence.enabled:
            problems.append(f"{PROJECT}:postgres.persistence.enabled: {env.name} data must be persistent; set it to true")
        major = re.match(r"\d+", self.image.tag or "")
        if major and int(major.group()) != self.major_version:
            problems.append(
                f"{PROJECT}:postgres.image.tag: {self.image.tag!r} is major version {major.group()}, but "
                f"postgres.majorVersion is {self.major_version}: a new major cannot start on the old data directory. "
                "Dump, restore into a new instance, then set both (README, Backups and restore)"
            )
        problems += cloudnativepg_rules(self, env)
        off_cluster = self.backup.enabled and self.backup.object_store is not None
        if env.strict and not off_cluster and not self.backup.acknowledge_no_off_cluster_copy:
            problems.append(
                f"{PROJECT}:postgres.backup.objectStore: {env.name} needs backups copied off the cluster (the backup "
                "volume shares the database's namespace, cluster and StorageClass); set postgres.backup.enabled and "
                "an S3-compatible objectStore, or accept the risk by name: postgres.backup.acknowledgeNoOffClusterCopy: true"
            )
        return problems

    def warnings(self, env: EnvironmentProfile) -> list[str]:
        bucket = self.backup.object_store if self.backup.enabled else None
        if bucket and not bucket.allowed_cidrs:
            return [
                f"{PROJECT}:postgres.backup.objectStore.allowedCidrs: unset, so the backup pods may reach any public "
                f"address on port {bucket.effective_port}; name the store's address ranges (or a VPC endpoint or proxy)"
            ]
        return []

    @property
    def stateful_set(self) -> bool:
        """Whether the statefulset-mode objects exist: that mode, or kept beside the Cluster during a migration."""
        migration = self.cloudnativepg.migration
        return self.mode == "statefulset" or (migration is not None and migration.keep_stateful_set)

    def footprint(self) -> Footprint:
        """The statefulset (its pod, backup job, volumes, Services) and/or the Cluster's instances."""
        cluster = cloudnativepg_footprint(self) if self.mode == "cloudnativepg" else Footprint()
        return (self._stateful_set_footprint() if self.stateful_set else Footprint()) + cluster

    def _stateful_set_footprint(self) -> Footprint:
        server = server_pod("postgres", self.resources, self.image, self.metrics)
        roles = Container("postgres.roles", self.roles.resources, self.image, image_key="postgres.image")
        workloads = [replace(server, containers=(*server.containers, roles))]
        claims = [("postgres.persistence", self.persistence.size)] if self.persistence.enabled else []
        backup = self.backup
        if backup.enabled:
            steps = [Container("postgres.backup", backup.resources, self.image, image_key="postgres.image")]
            if backup.object_store:
                steps.append(Container("postgres.backup.objectStore", backup.object_store.resources, backup.object_store.image))
            workloads.append(Workload("the backup job", 1, tuple(steps)))
            claims.append(("postgres.backup", backup.size))
        return Footprint(tuple(workloads), tuple(claims), services=store_services(self.metrics))
