"""PostgreSQL: the official image in a StatefulSet, a generated password, nightly pg_dump backups."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from . import datastore
from .config import PostgresConfig
from .connections import PostgresConnection, SecretKeyRef
from .datastore import DataStore, DataStoreArgs, Manifest, Store
from .labels import selector_labels, with_name

PORT = 5432
METRICS_PORT = 9187
DATA_MOUNT = "/var/lib/postgresql/data"
# initdb refuses a non-empty directory, and a fresh volume holds lost+found: use a subdirectory.
PGDATA = f"{DATA_MOUNT}/pgdata"
NAME = "postgres"  # the default instance name
BACKUP_MOUNT = "/backups"
# Dumps are written under a temporary name, so a failed run never counts as one of the KEEP.
# The password is read from the mounted Secret into this shell's environment only.
BACKUP_SCRIPT = f"""set -eu
PGPASSWORD="$(cat "$PASSWORD_FILE")"
export PGPASSWORD
rm -f {BACKUP_MOUNT}/*.partial
stamp=$(date -u +%Y%m%dT%H%M%SZ)
pg_dump --format=custom --file="{BACKUP_MOUNT}/$stamp.dump.partial"
mv "{BACKUP_MOUNT}/$stamp.dump.partial" "{BACKUP_MOUNT}/$stamp.dump"
ls -1 {BACKUP_MOUNT}/*.dump | sort -r | tail -n "+$((KEEP + 1))" | xargs -r rm -f --
echo "wrote $stamp.dump; $(ls -1 {BACKUP_MOUNT}/*.dump | wc -l) dump(s) kept"
"""


@dataclass(frozen=True, kw_only=True)
class PostgresArgs(DataStoreArgs):
    """One Postgres instance: the shared data-store args plus its validated settings."""

    settings: PostgresConfig


def store(args: PostgresArgs) -> Store:
    return Store(args.name or NAME, "database", PORT, METRICS_PORT, args, NAME)


def backup_name(args: PostgresArgs) -> str:
    """The backup CronJob and its policy (``postgres-backup`` for the default instance)."""
    return f"{store(args).app}-backup"


def backup_claim(args: PostgresArgs) -> str:
    return f"{store(args).app}-backups"


def backup_selector(args: PostgresArgs) -> dict[str, str]:
    return selector_labels(backup_name(args), args.namespace)


def statefulset_spec(args: PostgresArgs, secret_name: pulumi.Input[str]) -> Manifest:
    s, pg = args.settings, store(args)
    volumes, mounts = datastore.empty_dirs(("run", "/var/run/postgresql"), ("tmp", "/tmp"))  # noqa: S108 - an emptyDir
    volumes.append(datastore.secret_volume(secret_name))
    stop = ["pg_ctl", "stop", "-D", PGDATA, "-m", "fast", "-w", "-t", str(s.termination_grace_period_seconds - 10)]
    ready = ["pg_isready", "--host=127.0.0.1", f"--port={PORT}", f"--username={s.user}", f"--dbname={s.database}"]
    postgres = datastore.container(
        "postgres", s.image, s.resources, (pg.port_name, PORT),
        args=["-c", f"max_connections={s.max_connections}"],
        env=[
            {"name": "POSTGRES_DB", "value": s.database},
            {"name": "POSTGRES_USER", "value": s.user},
            {"name": "POSTGRES_PASSWORD_FILE", "value": pg.password_file},  # read by initdb, once
            {"name": "PGDATA", "value": PGDATA},
        ],
        volumeMounts=[{"name": datastore.DATA_VOLUME, "mountPath": DATA_MOUNT}, *mounts, datastore.secret_mount(pg)],
        # Kubernetes sends SIGTERM, a "smart" shutdown that waits for every client to leave;
        # stop fast (what the image's STOPSIGNAL SIGINT means) well inside the grace period.
        lifecycle={"preStop": {"exec": {"command": stop}}},
        **datastore.exec_probes(ready, startup_seconds=600),
    )
    containers = [postgres]
    if s.metrics.enabled:
        uri = f"127.0.0.1:{PORT}/{s.database}?sslmode=disable"
        exporter_env = [
            {"name": "DATA_SOURCE_URI", "value": uri},
            {"name": "DATA_SOURCE_USER", "value": s.user},
            {"name": "DATA_SOURCE_PASS_FILE", "value": pg.password_file},
        ]
        containers.append(datastore.exporter_container(pg, s.metrics, exporter_env))
    pod = datastore.pod_spec(pg, s.security, s.termination_grace_period_seconds, containers=containers, volumes=volumes)
    return datastore.single_pod_statefulset(pg, s.persistence, pod, s.image.tag)


def backup_claim_spec(args: PostgresArgs) -> Manifest:
    backup = args.settings.backup
    return datastore.claim_spec(backup.size, backup.storage_class)


def backup_cronjob_spec(args: PostgresArgs, secret_name: pulumi.Input[str]) -> Manifest:
    """pg_dump in custom format (pg_restore can pick tables), the newest ``keep`` dumps kept."""
    s, pg = args.settings, store(args)
    volumes, mounts = datastore.empty_dirs(("tmp", "/tmp"))  # noqa: S108 - an emptyDir
    backups = {"name": "backups", "persistentVolumeClaim": {"claimName": backup_claim(args)}}
    volumes += [backups, datastore.secret_volume(secret_name)]
    # libpq's own variables: pg_dump needs no arguments and no password on its command line.
    variables = {"PGHOST": pg.app, "PGPORT": str(PORT), "PGDATABASE": s.database, "PGUSER": s.user,
                 "PASSWORD_FILE": pg.password_file, "KEEP": str(s.backup.keep)}
    container = datastore.container(
        "pg-dump", s.image, s.backup.resources,  # the server's own image: its own version of pg_dump
        command=["/bin/sh", "-c", BACKUP_SCRIPT],
        env=[{"name": k, "value": v} for k, v in variables.items()],
        volumeMounts=[{"name": "backups", "mountPath": BACKUP_MOUNT}, *mounts, datastore.secret_mount(pg)],
    )
    pod = datastore.pod_spec(pg, s.security, 30, restartPolicy="Never", containers=[container], volumes=volumes)
    labels = pg.labels(component="backup") | backup_selector(args)
    return {
        "schedule": s.backup.schedule,
        "timeZone": "Etc/UTC",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": labels},
            "spec": {
                "backoffLimit": 2,
                "activeDeadlineSeconds": 6 * 3600,
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
        },
    }


def backup_egress_spec(args: PostgresArgs) -> Manifest:
    """The backup pods may reach Postgres (DNS is allowed namespace-wide); nothing else."""
    pg = store(args)
    return {
        "podSelector": {"matchLabels": backup_selector(args)},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": {"matchLabels": pg.selector}}], "ports": [{"protocol": "TCP", "port": PORT}]}],
    }


class Postgres(DataStore):
    """One PostgreSQL pod; hands ApiService a ``PostgresConnection``."""

    connection: PostgresConnection

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None):
        args = with_name(args, name)
        pg, s = store(args), args.settings
        super().__init__("platform:index:Postgres", name, pg, opts)
        backup_clients = [backup_selector(args)] if s.backup.enabled else []
        self._finish(statefulset_spec(args, self.secret_name), s.metrics.enabled, backup_clients)

        if s.backup.enabled:
            claim = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-backups", metadata=pg.metadata(backup_claim(args), "backup"), spec=backup_claim_spec(args),
                opts=self._data,
            )
            k8s.batch.v1.CronJob(
                f"{name}-backup", metadata=pg.workload_metadata(backup_name(args), "backup"),
                spec=backup_cronjob_spec(args, self.secret_name),
                opts=pulumi.ResourceOptions.merge(self._plain, pulumi.ResourceOptions(depends_on=[claim, self.statefulset])),
            )
            k8s.networking.v1.NetworkPolicy(
                f"{name}-backup-policy", metadata=pg.metadata(backup_name(args), "backup"), spec=backup_egress_spec(args),
                opts=self._plain,
            )

        self.connection = PostgresConnection(
            host=pg.app, port=PORT, database=s.database, user=s.user,
            password=SecretKeyRef(name=self.secret_name, key=datastore.PASSWORD_KEY),
            pod_labels=pg.selector, ready=[self.statefulset],
        )
        self.register_outputs({"host": pg.app, "secretName": self.secret_name, "password": self.password})
