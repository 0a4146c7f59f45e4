"""Redis: the official image in a StatefulSet (a RWO volume under a Deployment's rolling update
deadlocks across nodes), AOF persistence, a generated password enforced with requirepass."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from . import datastore
from .connections import RedisConnection, SecretKeyRef
from .datastore import DataStore, DataStoreArgs, Manifest, Store
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


def resolve(name: str, args: RedisArgs) -> RedisSpec:
    store = datastore.resolve(
        "Redis", name, args, RedisArgs, RedisConfig, component=COMPONENT, port=PORT, metrics_port=METRICS_PORT, port_name=KIND
    )
    return RedisSpec(store, args.settings)


def redis_conf(settings: RedisConfig, secret_dir: str) -> str:
    """The whole configuration, except the password."""
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
        f"include {secret_dir}/{AUTH_KEY}",  # requirepass, from the Secret
    ]
    if settings.disable_dangerous_commands:
        lines += [f'rename-command {command} ""' for command in DANGEROUS_COMMANDS]
    return "\n".join(lines) + "\n"


def ping(secret_dir: str) -> list[str]:
    """redis-cli takes the password from REDISCLI_AUTH, set for this one command, never from argv."""
    auth = f'REDISCLI_AUTH="$(cat {secret_dir}/{datastore.PASSWORD_KEY})"'
    return ["sh", "-c", f"{auth} redis-cli -h 127.0.0.1 -p {PORT} ping | grep -qx PONG"]


def statefulset_spec(args: RedisSpec, secret_name: pulumi.Input[str], config_map: pulumi.Input[str]) -> Manifest:
    s, rd = args.settings, args.store
    scratch, scratch_mounts = datastore.empty_dirs(datastore.TMP_SCRATCH)
    scratch += datastore.data_empty_dir(s.persistence)
    redis = datastore.container(
        "redis", s.image, s.resources, (rd.port_name, PORT), datastore.ephemeral_storage(scratch),
        command=["redis-server", f"{CONFIG_DIR}/redis.conf"],
        volumeMounts=[
            {"name": datastore.DATA_VOLUME, "mountPath": "/data"},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            datastore.secret_mount(rd),
            *scratch_mounts,
        ],
        **datastore.exec_probes(ping(rd.secret_dir), startup_seconds=300),  # startup covers loading a large AOF
    )
    containers = [redis]
    if s.metrics.enabled:
        exporter_env = [
            {"name": "REDIS_ADDR", "value": ADDRESS},
            {"name": "REDIS_PASSWORD_FILE", "value": f"{rd.secret_dir}/{EXPORTER_KEY}"},
        ]
        if s.disable_dangerous_commands:
            exporter_env.append({"name": "REDIS_EXPORTER_CONFIG_COMMAND", "value": "-"})  # CONFIG is disabled
        containers.append(datastore.exporter_container(rd, s.metrics, exporter_env))
    volumes = [{"name": "config", "configMap": {"name": config_map}}, datastore.secret_volume(secret_name), *scratch]
    pod = datastore.pod_spec(
        rd, s.security, s.termination_grace_period_seconds, s.priority_class_name, containers=containers, volumes=volumes
    )
    return datastore.single_pod_statefulset(rd, s.persistence, pod, s.image.tag)


class Redis(DataStore):
    """One Redis pod; hands its clients a ``RedisConnection``.

    Outputs:
        connection: host, port, the password's Secret key, pod labels, admitted clients.
        password: the generated password (a secret).
        secret_name: the Secret holding it.
        metrics_target: what ``Monitoring`` scrapes (None with metrics off).
    """

    connection: RedisConnection

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None):
        spec = resolve(name, args)
        rd, s = spec.store, spec.settings
        names = datastore.store_names(rd, s.metrics.enabled, s.persistence.enabled)
        super().__init__("platform:index:Redis", name, rd, args.environment, opts, names=names, footprint=s.footprint())
        # Auto-named: a changed redis.conf gets a new name, which rolls the pod.
        config = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=rd.metadata(None), data={"redis.conf": redis_conf(s, rd.secret_dir)}, opts=self._plain
        )
        config_name = config.metadata.apply(lambda m: m["name"])
        self._finish(statefulset_spec(spec, self.secret_name, config_name), s.metrics.enabled, [])
        self.connection = RedisConnection(
            instance=name, namespace=rd.namespace, host=rd.app, port=PORT,
            password=SecretKeyRef(name=self.secret_name, key=datastore.PASSWORD_KEY),
            pod_labels=rd.identity, clients=rd.clients, ready=[self.statefulset],
        )
        self.register_outputs({"host": rd.app, "secretName": self.secret_name, "password": self.password})

    def _secret_files(self, password: pulumi.Output[str]) -> Manifest:
        return {
            **super()._secret_files(password),
            AUTH_KEY: pulumi.Output.concat("requirepass ", password, "\n"),
            EXPORTER_KEY: pulumi.Output.json_dumps({ADDRESS: password}),
        }
