"""PostgreSQL: the official image in a StatefulSet, a login role per client, nightly pg_dump backups.

The superuser (initdb's bootstrap user) is the server's alone: its own pg_hba.conf admits it over the pod's
Unix socket only, by peer, for the ``roles`` sidecar; every TCP login, 127.0.0.1 included, needs a password.
The sidecar applies ``roles_sql`` (generated here, a ConfigMap) on start and whenever it or a password
file changes: each client's NOLOGIN group role and its login role per credential generation (README, Credentials).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s

from . import datastore
from .connections import BINDING_KEYS, PostgresConnection
from .contracts import raise_if
from .datastore import RESERVED_CLIENTS, DataStore, DataStoreArgs, Login, Manifest, Store
from .environment import namespace_of
from .labels import identity_labels
from .namespace import PODS, claim_in
from .pgroles import (
    ACKS_DIR,
    LOGINS_DIR,
    RESERVED_ROLES,
    UPGRADE_ROLE,
    ack_file,
    hba_conf,
    ident_conf,
    login_name,
    own_logins,
    role_name,
    roles_sql,
)
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
SOCKET_DIR = "/var/run/postgresql"
SOCKET_DIR_SIZE = "16Mi"
# The roles ConfigMap (pg_hba.conf, pg_ident.conf, roles.sql), the logins Secret (every login's password, for the
# roles container only) and the clients' acknowledgements. Stable names, mounted as directories: a change reaches
# the running pod in place (the kubelet's sync), without restarting the server.
ROLES_DIR = "/etc/postgresql/platform"
ROLES_MARKER = f"{SOCKET_DIR}/roles-applied"  # the roles container is ready once the roles were applied
ROLES_HEARTBEAT = f"{SOCKET_DIR}/roles-heartbeat"  # written every loop: alive while it is recent
ROLES_RESYNC_SECONDS = 300  # re-applied this often even unchanged: a role altered by hand is put back
# The readiness probe's startup packet names no real role: the server asks for a password, the probe hangs up,
# and nothing is logged (the superuser would be rejected, and logged, on every probe).
PROBE_USER = "readiness-probe"
# The roles container: waits for every password file, applies roles.sql over the socket in one transaction, then
# again whenever an input changes. psql's terse errors never echo a statement (one holds a password).
ROLES_SCRIPT = f"""set -u
last="" applied=0
while :; do
  now=$(date +%s)
  echo "$now" > "$HEARTBEAT"
  # A restarted server (a restore onto a new data directory, say) counts as a change too.
  started=$(psql -X -A -t -h "$SOCKET_DIR" -U "$SUPERUSER" -d "$DATABASE" -c "select pg_postmaster_start_time()" 2>/dev/null)
  sum=$( (echo "$started"; cat "$ROLES_DIR"/* "$LOGINS_DIR"/* $(cat "$ROLES_DIR/acks")) 2>/dev/null | cksum)
  if [ "$sum" != "$last" ] || [ $((now - applied)) -ge {ROLES_RESYNC_SECONDS} ]; then
    missing=""
    for login in $(cat "$ROLES_DIR/logins"); do [ -s "$LOGINS_DIR/$login" ] || missing="$missing $login"; done
    if [ -z "$started" ]; then
      :  # the server is not (yet) accepting connections on its socket
    elif [ -n "$missing" ]; then
      echo "roles: waiting for the passwords of$missing"
    elif psql -X -q -1 -v ON_ERROR_STOP=1 -v VERBOSITY=terse -h "$SOCKET_DIR" -U "$SUPERUSER" -d "$DATABASE" \
        -f "$ROLES_DIR/roles.sql"; then
      last="$sum" applied="$now"
      touch "$MARKER"
      echo "roles: applied"
    fi
  fi
  sleep 5
done
"""
# Dumps are written under a temporary name, so a failed run never counts as one of the KEEP.
# The backup role's password is read from its mounted binding Secret into this shell's environment only.
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
    spec = PostgresSpec(store, args.settings)
    problems = datastore.client_key_problems(store, args.clients, "PostgresArgs")
    # Mode cloudnativepg alone has no login of its own: the operator's exporter and barman use the operator's.
    own = RESERVED_CLIENTS if args.settings.stateful_set else ()
    rotations = datastore.rotation_problems(store, args.settings.rotations, PostgresConfig.KEY, own)
    raise_if(problems or client_problems(spec) + rotations)
    return spec


def client_problems(args: PostgresSpec) -> list[str]:
    """Client keys whose role names Postgres reserves or the superuser already has."""
    s, problems = args.settings, []
    for i, key in enumerate(args.store.client_keys):
        role = role_name(key)
        if role in RESERVED_ROLES or role == UPGRADE_ROLE or role.startswith("pg_"):
            owner = "this component's upgrade" if role == UPGRADE_ROLE else "Postgres"
            problems.append(f"PostgresArgs.clients[{i}]: role {role!r} is reserved by {owner}; name the client otherwise")
        elif role == s.user:
            problems.append(
                f"PostgresArgs.clients[{i}]: {key!r} is the superuser's name (postgres.user), which only the server uses; "
                "name the client otherwise"
            )
    return problems


def roles_config(args: PostgresSpec) -> dict[str, str]:
    """The roles ConfigMap: nothing secret (roles.sql reads each password from the logins Secret's files)."""
    s = args.settings
    listed = [login_name(login) for login in datastore.logins(args.store, s.rotations, own_logins(s))]
    keys = [*args.store.client_keys, *own_logins(s)]
    return {
        "pg_hba.conf": hba_conf(s), "pg_ident.conf": ident_conf(s), "roles.sql": roles_sql(args.store, s),
        "logins": "\n".join(listed) + "\n",  # the password files it waits for
        "acks": "".join(f"{ack_file(key)}\n" for key in keys),  # the acknowledgements it watches
    }


def roles_name(args: PostgresSpec) -> str:
    return f"{args.store.app}-roles"


def logins_name(args: PostgresSpec) -> str:
    return f"{args.store.app}-logins"


def binding(
    args: PostgresSpec, login: Login, password: pulumi.Output[str], host: str | None = None
) -> dict[str, pulumi.Input[str]]:
    """One client generation's binding Secret: the servicebinding.io keys, libpq's key/value form, a JDBC URL.
    ``host``: the Service clients connect to (the instance's own; a CloudNativePG Cluster's ``-rw``)."""
    s, host = args.settings, host or args.store.app
    user = login_name(login)
    uri = pulumi.Output.concat(
        "postgresql://", user, ":", password.apply(lambda p: quote(p, safe="")), f"@{host}:{PORT}/{s.database}"
    )
    data: dict[str, pulumi.Input[str]] = {
        "type": "postgresql", "provider": "platform", "host": host, "port": str(PORT), "database": s.database,
        "username": user, "password": password, "uri": uri,
        "jdbc-url": f"jdbc:postgresql://{host}:{PORT}/{s.database}",
        "dsn": pulumi.Output.concat(f"host={host} port={PORT} dbname={s.database} user={user} password=", password),
    }
    assert set(BINDING_KEYS) <= set(data)  # the contract's keys, always
    return data


def credential_dir(client: str) -> str:
    """Where the exporter or backup job mounts its binding Secret."""
    return f"/run/secrets/postgres-{client}"


def credential_volume(args: PostgresSpec, client: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(volume, mount) of the store's own login's current binding Secret."""
    generation = args.settings.rotations.get(client, 1)
    name = f"{client}-credentials"
    secret = datastore.binding_name(args.store, client, generation)
    volume = {"name": name, "secret": {"secretName": secret, "defaultMode": 0o440}}
    return volume, {"name": name, "mountPath": credential_dir(client), "readOnly": True}


def current_login(args: PostgresSpec, client: str) -> str:
    return login_name(Login(client, args.settings.rotations.get(client, 1), True))


def roles_volumes(args: PostgresSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, the roles container's mounts): the roles ConfigMap, the logins Secret, each key's acknowledgement."""
    keys = [*args.store.client_keys, *own_logins(args.settings)]
    volumes: list[dict[str, Any]] = [
        {"name": "roles", "configMap": {"name": roles_name(args)}},
        {"name": "logins", "secret": {"secretName": logins_name(args), "defaultMode": 0o440}},
    ]
    mounts = [
        {"name": "roles", "mountPath": ROLES_DIR, "readOnly": True},
        {"name": "logins", "mountPath": LOGINS_DIR, "readOnly": True},
    ]
    for i, key in enumerate(keys):
        # Optional: it appears once the client acknowledged, and then updates in place.
        ack = datastore.acknowledge_name(args.store, key)
        volumes.append({"name": f"ack-{i}", "configMap": {"name": ack, "optional": True}})
        mounts.append({"name": f"ack-{i}", "mountPath": f"{ACKS_DIR}/{key}", "readOnly": True})
    return volumes, mounts


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
    roles_vols, roles_mounts = roles_volumes(args)
    volumes += roles_vols
    stop = ["pg_ctl", "stop", "-D", PGDATA, "-m", "fast", "-w", "-t", str(s.termination_grace_period_seconds - 10)]
    ready = ["pg_isready", "--host=127.0.0.1", f"--port={PORT}", f"--username={PROBE_USER}", f"--dbname={s.database}"]
    postgres = datastore.container(
        "postgres", s.image, s.resources, (pg.port_name, PORT), datastore.ephemeral_storage(volumes),
        args=["-c", f"max_connections={s.max_connections}",
              "-c", f"hba_file={ROLES_DIR}/pg_hba.conf", "-c", f"ident_file={ROLES_DIR}/pg_ident.conf"],
        env=[
            {"name": "POSTGRES_DB", "value": s.database},
            {"name": "POSTGRES_USER", "value": s.user},
            {"name": "POSTGRES_PASSWORD_FILE", "value": pg.password_file},  # read by initdb, once
            {"name": "PGDATA", "value": PGDATA},
        ],
        volumeMounts=[{"name": datastore.DATA_VOLUME, "mountPath": DATA_MOUNT}, *mounts, datastore.secret_mount(pg),
                      roles_mounts[0]],
        # Kubernetes sends SIGTERM, a "smart" shutdown that waits for every client to leave;
        # stop fast (what the image's STOPSIGNAL SIGINT means) well inside the grace period.
        lifecycle={"preStop": {"exec": {"command": stop}}},
        **datastore.exec_probes(ready, startup_seconds=600),
    )
    roles_env = {"ROLES_DIR": ROLES_DIR, "LOGINS_DIR": LOGINS_DIR, "SOCKET_DIR": SOCKET_DIR,
                 "SUPERUSER": s.user, "DATABASE": s.database, "MARKER": ROLES_MARKER, "HEARTBEAT": ROLES_HEARTBEAT}
    roles = datastore.container(
        "roles", s.image, s.roles.resources, disk=datastore.ephemeral_storage([]),
        command=["/bin/sh", "-c", ROLES_SCRIPT], env=[{"name": k, "value": v} for k, v in roles_env.items()],
        volumeMounts=[*roles_mounts, {"name": "run", "mountPath": SOCKET_DIR}],
        # Ready once the roles exist: the StatefulSet's await, and so every client's start, waits for them.
        readinessProbe={"exec": {"command": ["test", "-e", ROLES_MARKER]}, "periodSeconds": 5, "timeoutSeconds": 5},
        livenessProbe={
            "exec": {"command": ["/bin/sh", "-c", f'test $(($(date +%s) - $(cat {ROLES_HEARTBEAT}))) -lt 120']},
            "initialDelaySeconds": 30, "periodSeconds": 30, "timeoutSeconds": 5, "failureThreshold": 3,
        },
    )
    containers = [postgres, roles]
    if s.metrics.enabled:
        uri = f"127.0.0.1:{PORT}/{s.database}?sslmode=disable"
        volume, mount = credential_volume(args, "metrics")
        volumes.append(volume)
        exporter_env = [
            {"name": "DATA_SOURCE_URI", "value": uri},
            {"name": "DATA_SOURCE_USER", "value": current_login(args, "metrics")},
            {"name": "DATA_SOURCE_PASS_FILE", "value": f"{credential_dir('metrics')}/password"},
        ]
        containers.append(datastore.exporter_container(pg, s.metrics, exporter_env, [mount]))
    pod = datastore.pod_spec(
        pg, s.security, s.termination_grace_period_seconds, s.priority_class_name, containers=containers, volumes=volumes
    )
    return datastore.single_pod_statefulset(pg, s.persistence, pod, s.image.tag)


def backup_claim_spec(args: PostgresSpec) -> Manifest:
    backup = args.settings.backup
    return datastore.claim_spec(backup.size, backup.storage_class)


def backup_cronjob_spec(args: PostgresSpec) -> Manifest:
    """pg_dump in custom format (pg_restore can pick tables), the newest ``keep`` dumps kept, as the read-only
    backup login (its own binding Secret: a rotation changes the job template, the next run uses it)."""
    s, pg = args.settings, args.store
    volumes, mounts = datastore.empty_dirs(datastore.TMP_SCRATCH)
    backups = {"name": "backups", "persistentVolumeClaim": {"claimName": backup_claim(args)}}
    credentials, credentials_mount = credential_volume(args, "backup")
    volumes += [backups, credentials]
    bucket = s.backup.object_store
    if bucket and bucket.existing_secret:
        # optional: a missing Secret fails the upload at once, naming the key, instead of holding the pod
        # in ContainerCreating until the Job's deadline (6 h); the dump on the volume is kept either way.
        credentials = {"secretName": bucket.existing_secret, "defaultMode": 0o440, "optional": True}
        volumes.append({"name": CREDENTIALS_VOLUME, "secret": credentials})
    # libpq's own variables: pg_dump needs no arguments and no password on its command line.
    variables = {"PGHOST": pg.app, "PGPORT": str(PORT), "PGDATABASE": s.database, "PGUSER": current_login(args, "backup"),
                 "PASSWORD_FILE": f"{credential_dir('backup')}/password", "KEEP": str(s.backup.keep)}
    disk = datastore.ephemeral_storage(volumes)
    container = datastore.container(
        "pg-dump", s.image, s.backup.resources,  # the server's own image: its own version of pg_dump
        disk=disk,
        command=["/bin/sh", "-c", BACKUP_SCRIPT],
        env=[{"name": k, "value": v} for k, v in variables.items()],
        volumeMounts=[{"name": "backups", "mountPath": BACKUP_MOUNT}, *mounts, credentials_mount],
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
    result += [("ConfigMap", roles_name(args)), ("Secret", logins_name(args))]
    result += datastore.credential_names(args.store, s.rotations, own_logins(s))
    if s.backup.enabled:
        backup = backup_name(args)
        result += [(PODS, backup), ("CronJob", backup), ("NetworkPolicy", backup), ("PersistentVolumeClaim", backup_claim(args)),
                   ("ServiceAccount", backup)]
    return result


class Postgres(DataStore):
    """One PostgreSQL pod, its backups; hands its clients a ``PostgresConnection``.

    Outputs:
        connection: host, port, database, pod labels, admitted clients, and each client's ``credentials``
            (its login and binding Secret).
        password: the superuser's generated password (a secret): only the server reads it, at initdb.
        secret_name: the Secret holding it (mounted by the server container alone).
        metrics_target: what ``Monitoring`` scrapes (None with metrics off).
    """

    BINDING_TYPE = "postgresql"
    connection: PostgresConnection
    deployed: tuple[str, ...]

    def _login_user(self, login: Login) -> str:
        return login_name(login)

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
        passwords, credentials = self._credentials(
            s.rotations, lambda login, password: binding(spec, login, password), own_logins(s)
        )
        # The roles container's inputs, by stable names: a change reaches the running pod without a restart.
        roles = k8s.core.v1.ConfigMap(
            f"{name}-roles", metadata=pg.metadata(roles_name(spec)), data=roles_config(spec), opts=self._plain
        )
        logins = k8s.core.v1.Secret(
            f"{name}-logins", metadata=pg.metadata(logins_name(spec)), type="Opaque",
            string_data={login_name(login): password for login, password in passwords.items()}, opts=self._plain,
        )
        own = [r for c, r in self._bindings.items() if c in RESERVED_CLIENTS]
        self._finish(statefulset_spec(spec, self.secret_name), s.metrics.enabled, backup_clients, after=[roles, logins, *own])
        if s.metrics.enabled:
            self._acknowledge("metrics", credentials["metrics"].generation, [self.statefulset])
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
            cronjob = k8s.batch.v1.CronJob(
                f"{name}-backup", metadata=pg.workload_metadata(backup_name(spec), "backup"),
                spec=backup_cronjob_spec(spec),
                opts=pulumi.ResourceOptions.merge(
                    self._plain, pulumi.ResourceOptions(depends_on=[claim, account, self.statefulset, self._bindings["backup"]])
                ),
            )
            # The next run uses the new login; one still running keeps its session (revocation ends no session).
            self._acknowledge("backup", credentials["backup"].generation, [cronjob])
            k8s.networking.v1.NetworkPolicy(
                f"{name}-backup-policy", metadata=pg.metadata(backup_name(spec), "backup"), spec=backup_egress_spec(spec),
                opts=self._plain,
            )

        # No password and no user: the superuser is the server's alone; each client has its own login.
        self.connection = PostgresConnection(
            instance=name, namespace=pg.namespace, host=pg.app, port=PORT, database=s.database,
            pod_labels=pg.identity, clients=pg.clients, ready=[self.statefulset],
            credentials={c: creds for c, creds in credentials.items() if c not in RESERVED_CLIENTS},
        )
