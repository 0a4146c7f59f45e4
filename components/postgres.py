"""PostgreSQL: the official image in a StatefulSet, a generated password, nightly pg_dump backups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from . import datastore
from .connections import PostgresConnection, SecretKeyRef
from .datastore import DataStore, DataStoreArgs, Manifest, Store
from .environment import namespace_of
from .labels import identity_labels
from .namespace import PODS, claim_in
from .settings import PostgresConfig

PORT = 5432
METRICS_PORT = 9187
DATA_MOUNT = "/var/lib/postgresql/data"
# initdb refuses a non-empty directory, and a fresh volume holds lost+found: use a subdirectory.
PGDATA = f"{DATA_MOUNT}/pgdata"
KIND = "postgres"  # the store's kind: its port name, rules and dashboard template
COMPONENT = PostgresConnection.KIND  # the component label of its pods
BACKUP_COMPONENT = "backup"  # the component label of the backup job's pods
BACKUP_MOUNT = "/backups"
# Scratch space for the server's socket and lock file (/tmp: datastore.TMP_SCRATCH).
SOCKET_DIR_SIZE = "16Mi"
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
# The upload step (after the dump, in the AWS CLI image): copy the newest dump to the bucket.
# It never deletes: old dumps expire by the bucket's lifecycle rule (README), so the credential
# needs s3:PutObject only and a stolen one cannot wipe the off-site copies. Keys, when given,
# are read from the mounted Secret into this shell's environment only (never the pod's env).
UPLOAD_SCRIPT = f"""set -eu
if [ -n "${{AWS_ACCESS_KEY_ID_FILE:-}}" ]; then
  for file in "$AWS_ACCESS_KEY_ID_FILE" "$AWS_SECRET_ACCESS_KEY_FILE"; do
    [ -s "$file" ] && continue
    echo "postgres.backup.objectStore.existingSecret: the Secret is missing or has no $(basename "$file")" >&2
    exit 1
  done
  AWS_ACCESS_KEY_ID="$(cat "$AWS_ACCESS_KEY_ID_FILE")"
  AWS_SECRET_ACCESS_KEY="$(cat "$AWS_SECRET_ACCESS_KEY_FILE")"
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
fi
newest=$(ls -1 {BACKUP_MOUNT}/*.dump | sort | tail -n 1)
name=$(basename "$newest")
aws s3 cp --only-show-errors "$newest" "s3://$BUCKET/$PREFIX$name"
echo "uploaded $name to s3://$BUCKET/$PREFIX"
"""
CREDENTIALS_VOLUME = "object-store-credentials"
# Keys the objectStore's existing Secret must hold (the AWS CLI's own variable names).
OBJECT_STORE_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
CREDENTIALS_DIR = "/run/secrets/object-store"
# Private and link-local ranges: the pod network, Services, the API server, cloud metadata. With no
# allowedCidrs the upload may reach public addresses only, on the store's port.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


@dataclass(frozen=True, kw_only=True)
class PostgresArgs(DataStoreArgs):
    """One Postgres instance: the shared data-store args plus its validated settings.

    Attributes:
        settings: image, auth, persistence, backups (``PostgresConfig.for_environment``).
    """

    settings: PostgresConfig
    operator: pulumi.Resource | None = None
    deployed: Sequence[str] | None = None


@dataclass(frozen=True)
class PostgresSpec:
    """The resolved instance the pure spec builders read."""

    store: Store
    settings: PostgresConfig


def resolve(name: str, args: PostgresArgs) -> PostgresSpec:
    store = datastore.resolve(
        "Postgres", name, args, PostgresArgs, PostgresConfig, component=COMPONENT, port=PORT, metrics_port=METRICS_PORT,
        port_name=KIND,
    )
    return PostgresSpec(store, args.settings)


def backup_name(args: PostgresSpec) -> str:
    """The backup CronJob and its policy (``postgres-backup`` for the default instance)."""
    return f"{args.store.app}-backup"


def backup_claim(args: PostgresSpec) -> str:
    return f"{args.store.app}-backups"


def backup_selector(args: PostgresSpec) -> dict[str, str]:
    """The backup job's pods: its name and its kind, which no other component's name can produce."""
    return identity_labels(backup_name(args), args.store.namespace, BACKUP_COMPONENT)


def statefulset_spec(args: PostgresSpec, secret_name: pulumi.Input[str]) -> Manifest:
    s, pg = args.settings, args.store
    volumes, mounts = datastore.empty_dirs(("run", "/var/run/postgresql", SOCKET_DIR_SIZE), datastore.TMP_SCRATCH)
    volumes += [datastore.secret_volume(secret_name), *datastore.data_empty_dir(s.persistence)]
    stop = ["pg_ctl", "stop", "-D", PGDATA, "-m", "fast", "-w", "-t", str(s.termination_grace_period_seconds - 10)]
    ready = ["pg_isready", "--host=127.0.0.1", f"--port={PORT}", f"--username={s.user}", f"--dbname={s.database}"]
    postgres = datastore.container(
        "postgres", s.image, s.resources, (pg.port_name, PORT), datastore.ephemeral_storage(volumes),
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
    pod = datastore.pod_spec(
        pg, s.security, s.termination_grace_period_seconds, s.priority_class_name, containers=containers, volumes=volumes
    )
    return datastore.single_pod_statefulset(pg, s.persistence, pod, s.image.tag)


def backup_claim_spec(args: PostgresSpec) -> Manifest:
    backup = args.settings.backup
    return datastore.claim_spec(backup.size, backup.storage_class)


def backup_cronjob_spec(args: PostgresSpec, secret_name: pulumi.Input[str]) -> Manifest:
    """pg_dump in custom format (pg_restore can pick tables), the newest ``keep`` dumps kept."""
    s, pg = args.settings, args.store
    volumes, mounts = datastore.empty_dirs(datastore.TMP_SCRATCH)
    backups = {"name": "backups", "persistentVolumeClaim": {"claimName": backup_claim(args)}}
    volumes += [backups, datastore.secret_volume(secret_name)]
    bucket = s.backup.object_store
    if bucket and bucket.existing_secret:
        # optional: a missing Secret fails the upload at once, naming the key, instead of holding the pod
        # in ContainerCreating until the Job's deadline (6 h); the dump on the volume is kept either way.
        credentials = {"secretName": bucket.existing_secret, "defaultMode": 0o440, "optional": True}
        volumes.append({"name": CREDENTIALS_VOLUME, "secret": credentials})
    # libpq's own variables: pg_dump needs no arguments and no password on its command line.
    variables = {"PGHOST": pg.app, "PGPORT": str(PORT), "PGDATABASE": s.database, "PGUSER": s.user,
                 "PASSWORD_FILE": pg.password_file, "KEEP": str(s.backup.keep)}
    disk = datastore.ephemeral_storage(volumes)
    container = datastore.container(
        "pg-dump", s.image, s.backup.resources,  # the server's own image: its own version of pg_dump
        disk=disk,
        command=["/bin/sh", "-c", BACKUP_SCRIPT],
        env=[{"name": k, "value": v} for k, v in variables.items()],
        volumeMounts=[{"name": "backups", "mountPath": BACKUP_MOUNT}, *mounts, datastore.secret_mount(pg)],
    )
    steps = {"containers": [container]}
    if s.backup.object_store:
        # The dump runs first (an init container), the upload only after it succeeded.
        steps = {"initContainers": [container], "containers": [upload_container(args, mounts, disk)]}
    pod = datastore.pod_spec(
        pg, s.security, 30, s.backup.priority_class_name, restartPolicy="Never", volumes=volumes,
        serviceAccountName=backup_name(args), **steps,
    )
    labels = pg.labels(component=BACKUP_COMPONENT) | backup_selector(args)
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


def upload_container(args: PostgresSpec, scratch_mounts: list[Manifest], disk: str) -> Manifest:
    """The AWS CLI copying the new dump off the cluster; its keys (if any) as files of the Secret."""
    s = args.settings
    bucket = s.backup.object_store
    assert bucket is not None
    variables = {
        "AWS_ENDPOINT_URL": bucket.url, "AWS_DEFAULT_REGION": bucket.region, "BUCKET": bucket.bucket,
        "PREFIX": bucket.prefix,
        "HOME": "/tmp",  # noqa: S108 - an emptyDir; the CLI keeps its cache under $HOME
    }
    mounts = [{"name": "backups", "mountPath": BACKUP_MOUNT, "readOnly": True}, *scratch_mounts]
    if bucket.existing_secret:
        variables |= {f"{key}_FILE": f"{CREDENTIALS_DIR}/{key}" for key in OBJECT_STORE_KEYS}
        mounts.append({"name": CREDENTIALS_VOLUME, "mountPath": CREDENTIALS_DIR, "readOnly": True})
    return datastore.container(
        "upload", bucket.image, bucket.resources, disk=disk,
        command=["/bin/sh", "-c", UPLOAD_SCRIPT],
        env=[{"name": k, "value": v} for k, v in variables.items()],
        volumeMounts=mounts,
    )


def backup_egress_spec(args: PostgresSpec) -> Manifest:
    """The backup pods may reach Postgres (DNS is allowed namespace-wide) and the object store."""
    pg, bucket = args.store, args.settings.backup.object_store
    egress: list[Manifest] = [
        {"to": [{"podSelector": {"matchLabels": pg.selector}}], "ports": [{"protocol": "TCP", "port": PORT}]}
    ]
    if bucket:
        # A NetworkPolicy names addresses, never host names (the store's name resolves to addresses that
        # change): the configured ranges, or else any public address but never the cluster's private ones.
        blocks: list[dict[str, Any]] = [{"cidr": c} for c in bucket.allowed_cidrs] or [
            {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}
        ]
        egress.append({"to": [{"ipBlock": b} for b in blocks], "ports": [{"protocol": "TCP", "port": bucket.effective_port}]})
    return {"podSelector": {"matchLabels": backup_selector(args)}, "policyTypes": ["Egress"], "egress": egress}


def names(args: PostgresSpec) -> list[tuple[str, str]]:
    s = args.settings
    result = datastore.store_names(args.store, s.metrics.enabled, s.persistence.enabled)
    if s.backup.enabled:
        backup = backup_name(args)
        result += [(PODS, backup), ("CronJob", backup), ("NetworkPolicy", backup), ("PersistentVolumeClaim", backup_claim(args)),
                   ("ServiceAccount", backup)]
    return result


class Postgres(DataStore):
    """One PostgreSQL pod, its backups; hands its clients a ``PostgresConnection``.

    Outputs:
        connection: host, port, database, user, the password's Secret key, pod labels, admitted clients.
        password: the generated password (a secret).
        secret_name: the Secret holding it.
        metrics_target: what ``Monitoring`` scrapes (None with metrics off).
    """

    connection: PostgresConnection
    deployed: tuple[str, ...]

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None):
        from . import postgres_cnpg as cnpg  # mode cloudnativepg: the Cluster (and, migrating, the statefulset too)

        spec = resolve(name, args)
        cnpg.check_switch(name, spec.settings, args.deployed)
        self.deployed = cnpg.deployed(spec.settings)
        if spec.settings.mode == cnpg.CLOUDNATIVEPG:
            cnpg.build(self, name, args, spec, opts)
            return
        self._stateful_set(name, args, spec, opts)
        self.register_outputs({"host": self.connection.host, "secretName": self.secret_name, "password": self.password})

    def _stateful_set(
        self, name: str, args: PostgresArgs, spec: PostgresSpec, opts: pulumi.ResourceOptions | None,
        extra_clients: Sequence[dict[str, str]] = (),
    ) -> None:
        pg, s = spec.store, spec.settings
        if s.backup.enabled and (bucket := s.backup.object_store):
            # Two databases pruning one prefix would delete each other's dumps.
            location = f"{bucket.endpoint}/{bucket.bucket}/{bucket.prefix}"
            claim_in("object stores", args.environment, f"Postgres {name!r}", [("backup location", location)], "in this program")
        super().__init__(
            "platform:index:Postgres", name, pg, args.environment, opts, names=names(spec), footprint=s.footprint()
        )
        for warning in s.warnings(namespace_of(args.environment, "PostgresArgs.environment").profile):
            pulumi.log.warn(warning, resource=self)
        backup_clients = [backup_selector(spec)] if s.backup.enabled else []
        backup_clients += extra_clients
        self._finish(statefulset_spec(spec, self.secret_name), s.metrics.enabled, backup_clients)
        if self.metrics_target and s.backup.enabled:  # its backup alerts come with it
            self.metrics_target = replace(
                self.metrics_target, rules=(self.metrics_target.template, "postgres-backup"),
                values={"cronjob": backup_name(spec)},
            )

        if s.backup.enabled:
            # Its own identity, never the namespace's default: ready for workload identity, no token.
            annotations = dict(s.backup.object_store.service_account_annotations) if s.backup.object_store else {}
            account = k8s.core.v1.ServiceAccount(
                f"{name}-backup-account",
                metadata={**pg.metadata(backup_name(spec), "backup"), **({"annotations": annotations} if annotations else {})},
                automount_service_account_token=False, opts=self._plain,
            )
            claim = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-backups", metadata=pg.metadata(backup_claim(spec), "backup"), spec=backup_claim_spec(spec),
                opts=self._data,
            )
            k8s.batch.v1.CronJob(
                f"{name}-backup", metadata=pg.workload_metadata(backup_name(spec), "backup"),
                spec=backup_cronjob_spec(spec, self.secret_name),
                opts=pulumi.ResourceOptions.merge(
                    self._plain, pulumi.ResourceOptions(depends_on=[claim, account, self.statefulset])
                ),
            )
            k8s.networking.v1.NetworkPolicy(
                f"{name}-backup-policy", metadata=pg.metadata(backup_name(spec), "backup"), spec=backup_egress_spec(spec),
                opts=self._plain,
            )

        self.connection = PostgresConnection(
            instance=name, namespace=pg.namespace, host=pg.app, port=PORT, database=s.database, user=s.user,
            password=SecretKeyRef(name=self.secret_name, key=datastore.PASSWORD_KEY),
            pod_labels=pg.identity, clients=pg.clients, ready=[self.statefulset],
        )
