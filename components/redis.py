"""Redis: the official image in a StatefulSet (a RWO volume under a Deployment's rolling update
deadlocks across nodes), AOF persistence, and an ACL user per client (#22).

Users live in an ``aclfile`` that an init step renders before the server starts, and a sidecar
re-renders and reloads (``ACL LOAD``) when its inputs change: the ``<store>-acl`` Secret (password
hashes only, besides the in-pod users' own passwords) and each client's acknowledgement ConfigMap.
Clients get their password in a binding Secret per credential generation; see ``Redis``.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from . import datastore
from .connections import Credentials, RedisConnection, SecretKeyRef
from .contracts import raise_if
from .datastore import DataStore, DataStoreArgs, Manifest, Store
from .errors import PROJECT
from .settings import RedisConfig
from .validation import parse_quantity

KIND = "redis"  # the store's kind: its port name, rules and dashboard template
COMPONENT = RedisConnection.KIND  # the component label of its pods
PORT = 6379
METRICS_PORT = 9121
CONFIG_DIR = "/etc/redis"
ADDRESS = f"redis://127.0.0.1:{PORT}"
# Files of the Secret beside the password: the same password in the formats Redis and the
# exporter read, so neither the ConfigMap nor any command line or env var ever holds it.
AUTH_KEY = "requirepass.conf"
EXPORTER_KEY = "exporter-passwords.json"  # redis_exporter's password file: {address: password}
# Commands that wipe or reconfigure a production store from any client holding the password,
# renamed to "" (disabled). An AOF that already logs FLUSHALL/FLUSHDB would no longer replay:
# before turning this on for an existing store, rewrite its AOF (BGREWRITEAOF).
DANGEROUS_COMMANDS = ("FLUSHALL", "FLUSHDB", "CONFIG", "DEBUG", "SHUTDOWN", "MODULE", "REPLICAOF", "SLAVEOF")

# ---- users (#22)
METRICS = "metrics"  # the exporter's user, and its key in ``redis.rotations``
PROBE = "probe"  # the probes' user: PING only
RELOADER = "acl-reloader"  # the sidecar's user: ACL LOAD only
RESERVED_USERS = ("default", METRICS, PROBE, RELOADER)
# A client may run every command but @dangerous (FLUSHALL, KEYS, CONFIG, SHUTDOWN, ACL, MONITOR,
# DEBUG, ...), which includes all of @admin; INFO is given back, as queue libraries (BullMQ,
# Sidekiq) read the server version from it at start.
CLIENT_COMMANDS = "+@all -@dangerous +info"
# What redis_exporter runs per scrape (its scrapeRedisHost): nothing that reads or writes data.
EXPORTER_COMMANDS = ("ping", "info", "client|setname", "slowlog|get", "slowlog|len", "latency|latest", "latency|histogram")
ACL_DIR = "/run/redis-acl"  # emptyDir: the rendered users file, the probe's password, the sidecar's state
ACKS_DIR = "/run/redis-acks"  # one optional ConfigMap per client: <client>/generation
ACL_FILE = f"{ACL_DIR}/users.acl"
ACL_SCRIPT = "acl.sh"  # in the config ConfigMap: the render step and the sidecar run it
ACL_SYNC_SECONDS = 5
# The users file, rendered from the Secret's users.acl minus each previous password the client has
# acknowledged it no longer needs (revocations: "<client> <generation> <sha256>" per line). Once
# revoked, a password stays revoked in this pod even if the acknowledgement disappears later.
ACL_SH = r"""#!/bin/sh
# acl.sh INPUT_DIR ACKS_DIR OUT_DIR once|watch
set -u
inputs=$1 acks=$2 out=$3 mode=$4
render() {
  if [ ! -s "$inputs/users.acl" ]; then echo "acl: $inputs/users.acl is missing or empty" >&2; return 1; fi
  cat "$inputs/users.acl" > "$out/users.acl.next" || return 1  # not cp: it would copy the Secret's read-only mode
  while read -r client generation hash; do
    [ -n "$client" ] || continue
    acked=$(cat "$acks/$client/generation" 2>/dev/null || true)
    case "$acked" in ''|*[!0-9]*) acked=0 ;; esac
    if [ "$acked" -ge "$generation" ] || [ -f "$out/revoked-$client-$generation" ]; then
      sed -i "s/ #$hash//" "$out/users.acl.next" || return 1
      : > "$out/revoked-$client-$generation"
    fi
  done < "$inputs/revocations"
  (umask 077 && cat "$inputs/probe-password" > "$out/probe.next") && mv -f "$out/probe.next" "$out/probe-password"
}
reload() {
  REDISCLI_AUTH=$(cat "$inputs/reloader-password") redis-cli -h 127.0.0.1 -p PORT --user RELOADER acl load
}
if [ "$mode" = once ]; then
  render || exit 1
  mv -f "$out/users.acl.next" "$out/users.acl" && cat "$out/users.acl" > "$out/loaded.acl"
  exit
fi
while true; do
  date +%s > "$out/heartbeat"
  if render && ! cmp -s "$out/users.acl.next" "$out/loaded.acl"; then
    mv -f "$out/users.acl.next" "$out/users.acl"
    result=$(reload 2>&1)
    if [ "$result" = OK ]; then cat "$out/users.acl" > "$out/loaded.acl"; echo "acl: reloaded"
    else echo "acl: ACL LOAD: $result" >&2; fi
  fi
  sleep SECONDS
done
""".replace("PORT", str(PORT)).replace("RELOADER", RELOADER).replace("SECONDS", str(ACL_SYNC_SECONDS))


def sha256(password: str) -> str:
    """How an aclfile holds a password (``#<hex>``): the server's files never have the plaintext."""
    return hashlib.sha256(password.encode()).hexdigest()


def acl_secret_name(store: str) -> str:
    return f"{store}-acl"


@dataclass(frozen=True)
class ClientUser:
    """One admitted client's Redis user: named by its key, at its credential generation."""

    key: str
    generation: int = 1
    prefix: str | None = None  # None: every key and channel

    @property
    def patterns(self) -> str:
        glob = f"{self.prefix}*" if self.prefix else "*"
        return f"~{glob} &{glob}"


@dataclass(frozen=True, kw_only=True)
class RedisArgs(DataStoreArgs):
    """One Redis instance: the shared data-store args plus its validated settings.

    Attributes:
        settings: image, memory policy, persistence (``RedisConfig.for_environment``).
    """

    settings: RedisConfig


@dataclass(frozen=True)
class RedisSpec:
    """The resolved instance the pure spec builders read."""

    store: Store
    settings: RedisConfig
    users: tuple[ClientUser, ...] = ()
    metrics_generation: int = 1


def unknown_keys(mapping: Mapping[str, Any], allowed: Sequence[str], config_key: str, name: str) -> list[str]:
    return [
        f"RedisArgs.settings: {PROJECT}:{config_key}.{key}: {key!r} is not a client of Redis {name!r}; "
        f"allowed keys: {', '.join(allowed) or '(none)'}"
        for key in mapping
        if key not in allowed
    ]


def resolve(name: str, args: RedisArgs) -> RedisSpec:
    store = datastore.resolve(
        "Redis", name, args, RedisArgs, RedisConfig, component=COMPONENT, port=PORT, metrics_port=METRICS_PORT, port_name=KIND
    )
    s, keys = args.settings, store.client_keys
    problems = datastore.client_key_problems(store, args.clients, "RedisArgs", reserved=RESERVED_USERS)
    problems += [f"RedisArgs.settings: {p}" for p in datastore.rotation_problems(store, s.rotations, "redis", own=[METRICS])]
    problems += unknown_keys(s.key_prefixes, keys, "redis.keyPrefixes", name)
    raise_if(problems)
    users = tuple(ClientUser(k, s.rotations.get(k, 1), s.key_prefixes.get(k)) for k in keys)
    return RedisSpec(store, s, users, s.rotations.get(METRICS, 1))


def redis_conf(settings: RedisConfig) -> str:
    """The whole configuration; users and passwords are in the rendered aclfile."""
    lines = [
        "bind * -::*",
        f"port {PORT}",
        "dir /data",
        # Every write logged, fsync once a second: at most a second of writes lost on a crash.
        "appendonly yes",
        "appendfsync everysec",
        # No RDB snapshots besides the AOF: each would fork (copy-on-write) for nothing the AOF lacks.
        'save ""',
        # Deliberate limits: Redis defaults to no maxmemory and `noeviction`.
        f"maxmemory {int(parse_quantity(settings.maxmemory))}",
        f"maxmemory-policy {settings.maxmemory_policy}",
        f"aclfile {ACL_FILE}",  # every user, the default one too (requirepass would only set its password)
    ]
    if settings.disable_dangerous_commands:
        lines += [f'rename-command {command} ""' for command in DANGEROUS_COMMANDS]
    return "\n".join(lines) + "\n"


def ping() -> list[str]:
    """As the PING-only user; redis-cli takes the password from REDISCLI_AUTH, never from argv."""
    auth = f'REDISCLI_AUTH="$(cat {ACL_DIR}/probe-password)"'
    return ["sh", "-c", f"{auth} redis-cli -h 127.0.0.1 -p {PORT} --user {PROBE} ping | grep -qx PONG"]


def exporter_commands(settings: RedisConfig) -> tuple[str, ...]:
    # CONFIG renamed away cannot be named in an ACL rule: the users file would not load.
    return EXPORTER_COMMANDS if settings.disable_dangerous_commands else (*EXPORTER_COMMANDS, "config|get")


def acl_lines(
    spec: RedisSpec, superuser: str, probe: str, reloader: str, metrics: str | None,
    clients: Mapping[str, Sequence[str]],
) -> list[str]:
    """The users file before revocations: ``clients`` maps a client key to its password hashes
    (current generation, next generation, and the previous one until it is acknowledged)."""
    lines = [
        f"user default on #{superuser} ~* &* +@all",  # the superuser: its password is in no consumer's Secret
        f"user {PROBE} on #{probe} resetchannels -@all +ping",
        f"user {RELOADER} on #{reloader} resetchannels -@all +acl|load",
    ]
    if metrics is not None:
        allowed = " ".join(f"+{c}" for c in exporter_commands(spec.settings))
        lines.append(f"user {METRICS} on #{metrics} resetchannels -@all {allowed}")
    for user in spec.users:
        hashes = " ".join(f"#{h}" for h in clients[user.key])
        lines.append(f"user {user.key} on {hashes} {user.patterns} {CLIENT_COMMANDS}")
    return lines


def acl_sync_container(spec: RedisSpec, name: str, mode: str, mounts: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    s, rd = spec.settings, spec.store
    return datastore.container(
        name, s.image, s.acl_sync.resources, None, datastore.ephemeral_storage([]),
        command=["sh", f"{CONFIG_DIR}/{ACL_SCRIPT}", acl_secret_dir(rd), ACKS_DIR, ACL_DIR, mode],
        volumeMounts=mounts, **fields,
    )


def acl_secret_dir(store: Store) -> str:
    return f"/run/secrets/{acl_secret_name(store.app)}"


def statefulset_spec(args: RedisSpec, config_map: pulumi.Input[str], acl_secret: str) -> Manifest:
    s, rd = args.settings, args.store
    scratch, scratch_mounts = datastore.empty_dirs(datastore.TMP_SCRATCH)
    scratch += datastore.data_empty_dir(s.persistence)
    config_mount: dict[str, Any] = {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}
    acl_mount: dict[str, Any] = {"name": "acl", "mountPath": ACL_DIR}
    acl_secret_mount: dict[str, Any] = {"name": "acl-secret", "mountPath": acl_secret_dir(rd), "readOnly": True}
    ack_mounts: list[dict[str, Any]] = [
        {"name": f"ack-{u.key}", "mountPath": f"{ACKS_DIR}/{u.key}", "readOnly": True} for u in args.users
    ]
    redis = datastore.container(
        "redis", s.image, s.resources, (rd.port_name, PORT), datastore.ephemeral_storage(scratch),
        command=["redis-server", f"{CONFIG_DIR}/redis.conf"],
        volumeMounts=[
            {"name": datastore.DATA_VOLUME, "mountPath": "/data"},
            config_mount,
            {**acl_mount, "readOnly": True},
            *scratch_mounts,
        ],
        **datastore.exec_probes(ping(), startup_seconds=300),  # startup covers loading a large AOF
    )
    sync_mounts = [config_mount, acl_mount, acl_secret_mount, *ack_mounts]
    render = acl_sync_container(args, "acl-render", "once", sync_mounts)
    # The sidecar is alive while its loop beats; ready once the users file exists (it always does after the render step).
    alive = f'test $(( $(date +%s) - $(cat {ACL_DIR}/heartbeat) )) -lt {ACL_SYNC_SECONDS * 12}'
    sync = acl_sync_container(
        args, "acl-sync", "watch", sync_mounts,
        livenessProbe={"exec": {"command": ["sh", "-c", alive]}, "periodSeconds": 30, "timeoutSeconds": 5, "failureThreshold": 3},
        readinessProbe={"exec": {"command": ["test", "-s", ACL_FILE]}, "periodSeconds": 30, "timeoutSeconds": 5},
    )
    containers = [redis, sync]
    if s.metrics.enabled:
        exporter_env = [
            {"name": "REDIS_ADDR", "value": ADDRESS},
            {"name": "REDIS_USER", "value": METRICS},
            {"name": "REDIS_PASSWORD_FILE", "value": f"{acl_secret_dir(rd)}/{EXPORTER_KEY}"},
        ]
        if s.disable_dangerous_commands:
            exporter_env.append({"name": "REDIS_EXPORTER_CONFIG_COMMAND", "value": "-"})  # CONFIG is disabled
        exporter = datastore.exporter_container(rd, s.metrics, exporter_env)
        exporter["volumeMounts"] = [{"name": "exporter-secret", "mountPath": acl_secret_dir(rd), "readOnly": True}]
        containers.append(exporter)
    volumes = [
        {"name": "config", "configMap": {"name": config_map}},
        {"name": "acl", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},  # never on the node's disk
        {"name": "acl-secret", "secret": {"secretName": acl_secret, "defaultMode": 0o440}},
        *(
            {"name": f"ack-{u.key}", "configMap": {"name": datastore.acknowledge_name(rd, u.key), "optional": True}}
            for u in args.users
        ),
        *scratch,
    ]
    if s.metrics.enabled:
        # Only its own password file (a projection of the same Secret), not the in-pod users' passwords.
        volumes.append({
            "name": "exporter-secret",
            "secret": {"secretName": acl_secret, "defaultMode": 0o440, "items": [{"key": EXPORTER_KEY, "path": EXPORTER_KEY}]},
        })
    pod = datastore.pod_spec(
        rd, s.security, s.termination_grace_period_seconds, s.priority_class_name,
        initContainers=[render], containers=containers, volumes=volumes,
    )
    statefulset = datastore.single_pod_statefulset(rd, s.persistence, pod, s.image.tag)
    # The exporter reads its password once, at start: a new metrics generation restarts the pod.
    statefulset["template"]["metadata"]["annotations"] = {"platform.example/metrics-credentials": str(args.metrics_generation)}
    return statefulset


class Redis(DataStore):
    """One Redis pod; hands its clients a ``RedisConnection``, with a login of their own each.

    Every admitted client is an ACL user named by its key, with a password per credential
    generation (``redis.rotations``). The server accepts the current and the next generation's
    passwords, and the previous one until the client acknowledges (its ``<store>-<client>-ack``
    ConfigMap, ``{"generation": "<n>"}``) that its pods run generation n: raising a generation rolls
    the client onto a password the server already accepts, and revokes the old one only after that.

    Outputs:
        connection: host, port, pod labels, admitted clients, and ``credentials`` per client key.
        password: the superuser's generated password (a secret); it reaches no consumer.
        secret_name: the Secret holding it.
        metrics_target: what ``Monitoring`` scrapes (None with metrics off).
    """

    connection: RedisConnection
    BINDING_TYPE = "redis"

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None):
        spec = resolve(name, args)
        rd, s = spec.store, spec.settings
        names = datastore.store_names(rd, s.metrics.enabled, s.persistence.enabled)
        names.append(("Secret", acl_secret_name(name)))
        names += datastore.credential_names(rd, s.rotations)  # binding Secrets and acknowledgement ConfigMaps
        super().__init__("platform:index:Redis", name, rd, args.environment, opts, names=names, footprint=s.footprint())
        # Auto-named: a changed redis.conf or script gets a new name, which rolls the pod.
        config = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=rd.metadata(None), data={"redis.conf": redis_conf(s), ACL_SCRIPT: ACL_SH},
            opts=self._plain,
        )
        config_name = config.metadata.apply(lambda m: m["name"])

        passwords = {user.key: self._generations(user) for user in spec.users}
        probe, reloader = self._login(PROBE), self._login(RELOADER)
        metrics = self._login(METRICS, spec.metrics_generation) if s.metrics.enabled else None
        # The users' Secret has a fixed name and is replaced delete-first when it changes (a rotation):
        # the pod names it as a constant, so the StatefulSet never depends on its outputs.
        acl_secret = self._acl_secret(spec, passwords, probe, reloader, metrics)
        self._finish(statefulset_spec(spec, config_name, acl_secret_name(name)), s.metrics.enabled, [], after=[acl_secret])

        credentials = {
            user.key: self._binding(spec, user, passwords[user.key][user.generation]) for user in spec.users
        }
        self.connection = RedisConnection(
            instance=name, namespace=rd.namespace, host=rd.app, port=PORT,
            password=SecretKeyRef(name=self.secret_name, key=datastore.PASSWORD_KEY),
            pod_labels=rd.identity, clients=rd.clients, ready=[self.statefulset], credentials=credentials,
        )
        self.register_outputs({"host": rd.app, "secretName": self.secret_name, "password": self.password})

    def _login(self, user: str, generation: int | None = None) -> pulumi.Output[str]:
        """A generated password; its own resource per generation, so a rotation never regenerates another."""
        suffix = "" if generation is None else f"-{generation}"
        generated = random.RandomPassword(
            f"{self._name}-{user}-password{suffix}", length=32, special=False,
            opts=pulumi.ResourceOptions.merge(self._plain, pulumi.ResourceOptions(ignore_changes=["length", "special"])),
        )
        return pulumi.Output.secret(generated.result)

    def _generations(self, user: ClientUser) -> dict[int, pulumi.Output[str]]:
        """The previous (until acknowledged), current and next generation's passwords of a client."""
        first = max(1, user.generation - 1)
        return {g: self._login(user.key, g) for g in range(first, user.generation + 2)}

    def _acl_secret(
        self, spec: RedisSpec, passwords: Mapping[str, Mapping[int, pulumi.Output[str]]], probe: pulumi.Output[str],
        reloader: pulumi.Output[str], metrics: pulumi.Output[str] | None,
    ) -> k8s.core.v1.Secret:
        """Hashes for the users file; plaintext only of the in-pod users (probe, reloader, exporter).
        Its name is fixed, so a rotation updates the files in the running pod instead of rolling it."""
        keys = [u.key for u in spec.users]
        by_client = [passwords[k] for k in keys]
        flat = [pw for generations in by_client for pw in generations.values()]

        def files(values: list[Any]) -> dict[str, str]:
            superuser, probe_pw, reloader_pw, metrics_pw, *rest = values
            hashed: dict[str, list[str]] = {}
            revocations = []
            it = iter(rest)
            for user, generations in zip(spec.users, by_client, strict=True):
                plain = {g: next(it) for g in generations}
                hashed[user.key] = [sha256(plain[user.generation]), sha256(plain[user.generation + 1])]
                if user.generation - 1 in plain:
                    previous = sha256(plain[user.generation - 1])
                    hashed[user.key].append(previous)
                    revocations.append(f"{user.key} {user.generation} {previous}\n")
            lines = acl_lines(
                spec, sha256(superuser), sha256(probe_pw), sha256(reloader_pw),
                sha256(metrics_pw) if metrics_pw is not None else None, hashed,
            )
            data = {
                "users.acl": "\n".join(lines) + "\n", "revocations": "".join(revocations),
                "probe-password": probe_pw, "reloader-password": reloader_pw,
            }
            if metrics_pw is not None:
                data[EXPORTER_KEY] = json.dumps({ADDRESS: metrics_pw})
            return data

        inputs: list[Any] = [self.password, probe, reloader, metrics, *flat]
        data: pulumi.Output[dict[str, str]] = pulumi.Output.secret(pulumi.Output.all(*inputs).apply(files))
        rd = self._store
        return k8s.core.v1.Secret(
            f"{self._name}-acl", metadata=rd.metadata(acl_secret_name(rd.app)), type="Opaque", string_data=data,
            opts=self._plain,
        )

    def _binding(self, spec: RedisSpec, user: ClientUser, password: pulumi.Output[str]) -> Credentials:
        """The client's binding Secret of its current generation (servicebinding.io keys). Immutable,
        named per generation: a rotation gives the consumer a new name (a rollout), and Pulumi deletes
        the previous Secret at the end of the ``up``."""
        rd = self._store
        name = datastore.binding_name(rd, user.key, user.generation)
        quoted = password.apply(lambda pw: urllib.parse.quote(pw, safe=""))
        data: dict[str, Any] = {
            "type": "redis", "provider": "platform", "host": rd.app, "port": str(PORT), "username": user.key,
            "password": password,
            "uri": pulumi.Output.concat("redis://", urllib.parse.quote(user.key), ":", quoted, f"@{rd.app}:{PORT}"),
        }
        if user.prefix:
            data["key-prefix"] = user.prefix
        k8s.core.v1.Secret(
            f"{self._name}-{user.key}-g{user.generation}", metadata=rd.metadata(name),
            type=f"servicebinding.io/{self.BINDING_TYPE}", immutable=True, string_data=data, opts=self._plain,
        )
        return Credentials(
            client=user.key, user=user.key, secret=name, generation=user.generation,
            acknowledge=datastore.acknowledge_name(rd, user.key),
        )

    def _secret_files(self, password: pulumi.Output[str]) -> Manifest:
        # Unchanged since before #22 (a Secret's data change replaces it): nothing mounts these files now.
        return {
            **super()._secret_files(password),
            AUTH_KEY: pulumi.Output.concat("requirepass ", password, "\n"),
            EXPORTER_KEY: pulumi.Output.json_dumps({ADDRESS: password}),
        }
