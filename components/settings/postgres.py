"""Settings of one Postgres instance (``platform:postgres``): image, auth, persistence, backups."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ..errors import PROJECT
from ..profiles import EnvironmentProfile
from ..validation import CronSchedule, DnsLabel, Hostname, Port, PriorityClassName, SqlIdentifier, StorageQuantity
from .base import (
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

# S3 bucket naming rules (3-63 lowercase letters, digits, dots, hyphens) and a key prefix.
BucketName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
KeyPrefix = Annotated[str, Field(pattern=r"^([A-Za-z0-9._-]+/)*$", max_length=200)]
Region = Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")]


class ObjectStore(Model):
    """An S3-compatible bucket that receives every dump: backups that survive the cluster.

    Credentials never enter config: ``existingSecret`` names a Secret in the namespace with the
    keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
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
    existing_secret: DnsLabel
    """A Secret in the namespace with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""
    image: Image = Field(
        default_factory=lambda: Image.model_validate(
            {"repository": "docker.io/amazon/aws-cli", "tag": "2.33.2", "pullPolicy": "Always"}
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
    """How many dumps are kept (on the volume and in the bucket)."""
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


class PostgresConfig(Group):
    """Settings of one Postgres instance (``platform:postgres``): image, auth, persistence, backups."""

    KEY = "postgres"

    image: Image
    """The server's image (the official postgres image; also runs pg_dump)."""
    database: SqlIdentifier
    """The database created on first start."""
    user: SqlIdentifier
    """The database user the clients log in as."""
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

    @classmethod
    def defaults(cls, env: EnvironmentProfile) -> dict[str, Any]:
        durable = env.durable
        return {
            # pullPolicy Always (CKV_K8S_15) on every image: a re-pushed tag never runs stale.
            "image": {"repository": "docker.io/library/postgres", "tag": "17.11-alpine", "pullPolicy": "Always"},
            "database": "app",
            "user": "app",
            "resources": resources("250m", "1Gi", "1", "1Gi") if durable else resources("100m", "256Mi", "500m", "512Mi"),
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
            "metrics": {
                "enabled": True,
                "image": {
                    "repository": "quay.io/prometheuscommunity/postgres-exporter", "tag": "v0.20.0", "pullPolicy": "Always"
                },
                # Durable data pods request all the memory they may use, sidecars included.
                "resources": resources("10m", "64Mi" if durable else "32Mi", "100m", "64Mi"),
            },
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
        return problems

    def warnings(self, env: EnvironmentProfile) -> list[str]:
        if env.strict and self.backup.enabled and self.backup.object_store is None:
            return [
                f"{PROJECT}:postgres.backup.objectStore: {env.name} backups stay on a volume in the same namespace; "
                "a lost namespace or cluster takes them too. Set an S3-compatible objectStore to copy each dump off the cluster"
            ]
        return []

    def footprint(self) -> Footprint:
        """The server pod (with its exporter), the backup job's pod, their volumes and Services."""
        workloads = [server_pod("postgres", self.resources, self.image, self.metrics)]
        claims = [("postgres.persistence", self.persistence.size)] if self.persistence.enabled else []
        backup = self.backup
        if backup.enabled:
            steps = [Container("postgres.backup", backup.resources, self.image, image_key="postgres.image")]
            if backup.object_store:
                steps.append(Container("postgres.backup.objectStore", backup.object_store.resources, backup.object_store.image))
            workloads.append(Workload("the backup job", 1, tuple(steps)))
            claims.append(("postgres.backup", backup.size))
        return Footprint(tuple(workloads), tuple(claims), services=store_services(self.metrics))
