"""Redis: a StatefulSet with AOF, an ACL user per client with rotating passwords, per-environment limits."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.connections import BINDING_KEYS, RedisConnection, SecretKeyRef
from components.errors import ConfigError
from components.labels import identity_labels, selector_labels
from components.namespace import NamespaceRef
from components.redis import (
    ACL_SH,
    DANGEROUS_COMMANDS,
    Redis,
    RedisArgs,
    exporter_commands,
    redis_conf,
    resolve,
    sha256,
    statefulset_spec,
)
from components.validation import parse_quantity
from environments import load_config
from tests.harness import MOCK_PASSWORD_PREFIX, Run, run_program
from tests.test_postgres import (
    assert_data_safety,
    assert_no_plaintext_password,
    assert_only_the_uid_exception,
    assert_probed,
    assert_restricted_pod,
    container,
    env,
    monitoring_peer,
    mounts,
    pod,
    policy_rules,
    secret_name,
    statefulset,
)
from tools.engine import run_function


def conf(run: Run) -> str:
    config_map = run.one("ConfigMap", "redis-config")
    assert "name" not in config_map.metadata  # auto-named: a new redis.conf rolls the pod
    return config_map.inputs["data"]["redis.conf"]


def test_a_statefulset_not_a_deployment(run: Run) -> None:
    assert not [d for d in run.of_kind("Deployment") if "redis" in d.name]
    spec = statefulset(run, "redis").spec
    assert spec["serviceName"] == run.one("Service", "redis-headless").metadata["name"] == "redis-headless"
    assert spec["selector"]["matchLabels"] == selector_labels("redis", run.stack)
    assert spec["replicas"] == 1
    redis = container(spec["template"]["spec"], "redis")
    assert redis["image"] == "docker.io/library/redis:7.4.10-alpine"
    assert run.one("Service", "redis-service").metadata["name"] == "redis"
    assert_only_the_uid_exception(statefulset(run, "redis"))


def test_restricted_as_the_image_user(run: Run) -> None:
    spec = pod(run, "redis")
    assert_restricted_pod(spec, 999, 1000)
    assert_probed(spec)


def acl_files(run: Run) -> dict[str, str]:
    secret = run.one("Secret", "redis-acl")
    assert secret.metadata["name"] == "redis-acl" and "stringData" in secret.secret_inputs
    return secret.inputs["stringData"]


def users(run: Run) -> dict[str, str]:
    """{user: its rules} of the users file as the Secret holds it (before revocations)."""
    lines = acl_files(run)["users.acl"].splitlines()
    assert all(line.startswith("user ") for line in lines)
    return {line.split()[1]: line.split(" ", 2)[2] for line in lines}


def test_the_superuser_password_reaches_only_the_server(run: Run) -> None:
    assert run.one("RandomPassword", "redis-password").inputs["length"] >= 32
    secret = run.one("Secret", "redis-secret")
    files = secret.inputs["stringData"]
    password = f"{MOCK_PASSWORD_PREFIX}redis-password"
    # The store's Secret is as before #22 (a data change would replace it), and no container mounts it.
    assert files["password"] == password and files["requirepass.conf"] == f"requirepass {password}\n"
    spec = pod(run, "redis")
    mounted = {v["name"] for v in spec["volumes"] if v.get("secret", {}).get("secretName") == secret_name(run, "redis")}
    assert mounted == set()
    # The server holds its SHA-256 only, as the default user's.
    assert users(run)["default"] == f"on #{sha256(password)} ~* &* +@all"
    assert password not in json.dumps(acl_files(run)) and password not in conf(run)
    assert "aclfile /run/redis-acl/users.acl\n" in conf(run) and "requirepass" not in conf(run)
    redis = container(spec, "redis")
    assert redis["command"] == ["redis-server", "/etc/redis/redis.conf"]
    assert "redisPassword" in run.secret_outputs
    assert_no_plaintext_password(run)


def test_every_user_gets_only_what_it_needs(run: Run) -> None:
    config = load_config(run.stack, {}).redis
    rules = users(run)
    assert set(rules) == {"default", "probe", "acl-reloader", "metrics", "api"}
    files = acl_files(run)
    for user, password_name in (("probe", "redis-probe-password"), ("acl-reloader", "redis-acl-reloader-password")):
        assert files[f"{'reloader' if user == 'acl-reloader' else user}-password"] == f"{MOCK_PASSWORD_PREFIX}{password_name}"
        assert rules[user].startswith(f"on #{sha256(MOCK_PASSWORD_PREFIX + password_name)} resetchannels -@all +")
    assert rules["probe"].endswith("-@all +ping") and rules["acl-reloader"].endswith("-@all +acl|load")
    metrics = f"{MOCK_PASSWORD_PREFIX}redis-metrics-password-1"
    allowed = rules["metrics"].split("-@all ", 1)[1].split()
    assert set(allowed) == {f"+{c}" for c in exporter_commands(config)}
    assert ("+config|get" in allowed) == (not config.disable_dangerous_commands)  # a renamed CONFIG cannot be named
    assert not any(a.startswith(("+@", "~", "&")) for a in allowed)  # no category, no keys
    assert json.loads(files["exporter-passwords.json"]) == {"redis://127.0.0.1:6379": metrics}
    # The API: its current and next generation's passwords, every key, nothing @dangerous.
    api = [sha256(f"{MOCK_PASSWORD_PREFIX}redis-api-password-{g}") for g in (1, 2)]
    assert rules["api"] == f"on #{api[0]} #{api[1]} ~* &* +@all -@dangerous +info"
    assert files["revocations"] == ""


def test_binding_secret_per_client(run: Run) -> None:
    secret = run.one("Secret", "redis-api-g1")
    assert secret.metadata["name"] == "redis-api-g1" and secret.inputs["immutable"] is True
    assert "stringData" in secret.secret_inputs and not secret.protect
    data = secret.inputs["stringData"]
    assert set(BINDING_KEYS) <= set(data)
    password = f"{MOCK_PASSWORD_PREFIX}redis-api-password-1"
    assert data == {
        "type": "redis", "provider": "platform", "host": "redis", "port": "6379", "username": "api", "password": password,
        "uri": f"redis://api:{password}@redis:6379",
    }


def test_probes_authenticate_as_the_ping_only_user(run: Run) -> None:
    spec = pod(run, "redis")
    redis = container(spec, "redis")
    assert mounts(redis)["/run/redis-acl"] == "acl"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = " ".join(redis[probe]["exec"]["command"])
        assert 'REDISCLI_AUTH="$(cat /run/redis-acl/probe-password)" redis-cli' in command and "--user probe ping" in command
        assert " -a " not in command and "--pass" not in command, probe


def test_users_file_rendered_in_the_pod_from_the_secret_and_acknowledgements(run: Run) -> None:
    spec = pod(run, "redis")
    volumes = {v["name"]: v for v in spec["volumes"]}
    (render,) = spec["initContainers"]
    sync = container(spec, "acl-sync")
    for step, mode in ((render, "once"), (sync, "watch")):
        assert step["image"] == container(spec, "redis")["image"]
        assert step["command"] == ["sh", "/etc/redis/acl.sh", "/run/secrets/redis-acl", "/run/redis-acks", "/run/redis-acl", mode]
        assert mounts(step) == {
            "/etc/redis": "config", "/run/redis-acl": "acl", "/run/secrets/redis-acl": "acl-secret",
            "/run/redis-acks/api": "ack-api",
        }
        assert step["resources"]["requests"] == step["resources"]["limits"]  # the pod stays Guaranteed
    assert run.one("ConfigMap", "redis-config").inputs["data"]["acl.sh"] == ACL_SH
    assert volumes["acl"] == {"name": "acl", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}
    assert volumes["acl-secret"]["secret"]["secretName"] == "redis-acl"
    # The consumer's acknowledgement, which it writes after its rollout; absent until then.
    assert volumes["ack-api"] == {"name": "ack-api", "configMap": {"name": "redis-api-ack", "optional": True}}
    exporter = container(spec, "metrics")
    assert env(exporter)["REDIS_USER"]["value"] == "metrics"
    assert env(exporter)["REDIS_PASSWORD_FILE"]["value"] == "/run/secrets/redis-acl/exporter-passwords.json"
    # Its own password file only, not the in-pod users' passwords.
    assert volumes[mounts(exporter)["/run/secrets/redis-acl"]]["secret"]["items"] == [
        {"key": "exporter-passwords.json", "path": "exporter-passwords.json"}
    ]


def test_aof_and_deliberate_memory_limits(run: Run) -> None:
    config = load_config(run.stack, {}).redis
    text = conf(run)
    assert "appendonly yes\n" in text and "appendfsync everysec\n" in text
    assert f"maxmemory-policy {config.maxmemory_policy}\n" in text
    assert {"96Mi": "maxmemory 100663296\n", "256Mi": "maxmemory 268435456\n"}[config.maxmemory] in text
    # Issue 23: no RDB snapshots beside the AOF (each forks), and room for the AOF rewrite's fork.
    assert 'save ""\n' in text
    assert parse_quantity(config.maxmemory) * 2 <= parse_quantity(config.resources.limits.memory)


def test_dangerous_commands_disabled_in_production_only(runs: dict[str, Run]) -> None:
    for stack, run in runs.items():
        disabled = {line.split()[1] for line in conf(run).splitlines() if line.startswith("rename-command")}
        exporter = env(container(pod(run, "redis"), "metrics"))
        if stack == "production":
            assert disabled >= {"FLUSHALL", "FLUSHDB", "CONFIG"}
            assert all(f'rename-command {c} ""' in conf(run) for c in disabled)
            assert exporter["REDIS_EXPORTER_CONFIG_COMMAND"]["value"] == "-"  # it would call CONFIG GET
        else:
            assert not disabled and "REDIS_EXPORTER_CONFIG_COMMAND" not in exporter, stack


def test_volume_per_environment(run: Run) -> None:
    config = load_config(run.stack, {}).redis
    spec = statefulset(run, "redis").spec
    redis = container(spec["template"]["spec"], "redis")
    assert mounts(redis)["/data"] == "data"
    if config.persistence.enabled:
        (claim,) = spec["volumeClaimTemplates"]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert claim["spec"]["resources"]["requests"]["storage"] == config.persistence.size
    else:
        assert "volumeClaimTemplates" not in spec
        assert {"name": "data", "emptyDir": {"sizeLimit": config.persistence.size}} in spec["template"]["spec"]["volumes"]


def test_persistent_in_staging_and_production(runs: dict[str, Run]) -> None:
    assert [s for s, r in runs.items() if "volumeClaimTemplates" in statefulset(r, "redis").spec] == ["staging", "production"]


def test_retention_and_protect(runs: dict[str, Run]) -> None:
    assert_data_safety(runs, "redis")
    # The ConfigMap is replaced on every change: protecting it would block that change.
    assert not runs["production"].one("ConfigMap", "redis-config").protect


def test_exporter_sidecar(run: Run) -> None:
    exporter = container(pod(run, "redis"), "metrics")
    assert exporter["image"] == "docker.io/oliver006/redis_exporter:v1.90.0"
    assert exporter["ports"] == [{"name": "metrics", "containerPort": 9121, "protocol": "TCP"}]
    variables = env(exporter)
    assert variables["REDIS_ADDR"]["value"] == "redis://127.0.0.1:6379"
    metrics = run.one("Service", "redis-metrics")
    assert [(p["name"], p["port"]) for p in metrics.spec["ports"]] == [("metrics", 9121)]


def test_only_api_and_monitoring_reach_redis(run: Run) -> None:
    expected = [({"podSelector": {"matchLabels": identity_labels("api", run.stack, "api")}}, {6379})]
    if load_config(run.stack, {}).monitoring.mode != "off":
        expected.append((monitoring_peer(run), {9121}))
    assert policy_rules(run, "redis") == expected


# ---------------------------------------------------------------- rules that must fail, pure specs


def test_maxmemory_at_the_limit_is_rejected_before_any_resource() -> None:
    run = run_program("staging", {"redis": {"maxmemory": "384Mi"}})
    assert isinstance(run.error, ConfigError)
    assert any(p.startswith("platform:redis.maxmemory:") for p in run.error.problems)
    assert run.resources == []


def test_production_redis_without_persistence_is_rejected() -> None:
    run = run_program("production", {"redis": {"persistence": {"enabled": False}}})
    assert isinstance(run.error, ConfigError) and run.resources == []
    assert any(p.startswith("platform:redis.persistence.enabled:") for p in run.error.problems)


@pytest.mark.parametrize("policy", ["noeviction", "volatile-ttl"])
def test_redis_conf_follows_config(policy: str) -> None:
    config = load_config("dev", {"redis": {"maxmemory": "90Mi", "maxmemoryPolicy": policy, "disableDangerousCommands": True}})
    text = redis_conf(config.redis)
    assert f"maxmemory {90 * 2**20}\n" in text and f"maxmemory-policy {policy}\n" in text
    assert all(f'rename-command {c} ""\n' in text for c in DANGEROUS_COMMANDS)


def test_storage_class_and_retention_from_args() -> None:
    config = load_config("staging", {"redis": {"persistence": {"enabled": True, "storageClass": "fast"}}})
    # A staging namespace keeps its volumes.
    args = resolve("redis", RedisArgs(environment=NamespaceRef(name="dev", environment="staging"), settings=config.redis,
                                      clients=[{"app.kubernetes.io/name": "x"}]))
    spec = statefulset_spec(args, "config", "acl")
    assert spec["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert MOCK_PASSWORD_PREFIX not in json.dumps(spec)


# ---------------------------------------------------------------- what mutation testing found unchecked (issue 25)


def test_each_data_store_admits_exactly_its_clients_and_monitoring(runs: dict[str, Run]) -> None:
    """Both stores' ingress policies, whole: a wrong protocol or port is no schema error, just a closed door."""
    def pods(name: str, component: str | None = None) -> dict:
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "staging"}
        return {"podSelector": {"matchLabels": labels | ({"app.kubernetes.io/component": component} if component else {})}}

    monitoring = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                   "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]
    api, backup = pods("api", "api"), pods("postgres-backup", "backup")
    for store, port, metrics, clients in (("postgres", 5432, 9187, [api, backup]), ("redis", 6379, 9121, [api])):
        assert runs["staging"].one("NetworkPolicy", f"{store}-policy").spec == {
            "podSelector": pods(store)["podSelector"],
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": clients, "ports": [{"protocol": "TCP", "port": port}]},
                {"from": monitoring, "ports": [{"protocol": "TCP", "port": metrics}]},
            ],
        }


@pytest.mark.parametrize(("store", "component", "uid", "gid"), [("postgres", "database", 70, 70), ("redis", "cache", 999, 1000)])
def test_each_data_store_pod_runs_as_its_image_user_and_is_labelled_by_role(
    runs: dict[str, Run], store: str, component: str, uid: int, gid: int
) -> None:
    statefulset = next(s for s in runs["staging"].of_kind("StatefulSet") if s.metadata["name"] == store)
    assert statefulset.metadata["labels"]["app.kubernetes.io/component"] == component
    # OnRootMismatch: a large volume is not re-chowned on every start (the default walks every file).
    assert statefulset.spec["template"]["spec"]["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid, "fsGroup": gid,
        "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"},
    }


# ---------------------------------------------------------------- clients, keys and rotation (#22)


def shop(settings: dict[str, Any] | None = None, clients: list[Any] | None = None) -> tuple[Run, list[RedisConnection]]:
    """A staging Redis of its own with an ApiService client and a label-set one."""
    config = load_config("staging", {"redis": settings or {}}).redis
    made: list[RedisConnection] = []

    def program() -> None:
        where = NamespaceRef(name="shop", environment="staging")
        args = RedisArgs(environment=where, settings=config, clients=clients or ["orders", {"app.kubernetes.io/name": "billing"}])
        made.append(Redis("redis", args).connection)

    return run_function("staging", program), made


def test_each_client_gets_its_credentials_in_the_connection() -> None:
    run, (connection,) = shop({"keyPrefixes": {"orders": "orders:"}})
    assert run.error is None, run.error
    assert set(connection.credentials) == {"orders", "billing"}
    orders = connection.credentials_for("orders")
    assert orders is not None and (orders.client, orders.user, orders.generation) == ("orders", "orders", 1)
    assert orders.secret == "redis-orders-g1" and orders.acknowledge == "redis-orders-ack"  # noqa: S105 - a name
    assert orders.key("uri") == SecretKeyRef(name="redis-orders-g1", key="uri")
    rules = users(run)
    assert rules["orders"].endswith(" ~orders:* &orders:* +@all -@dangerous +info")
    assert rules["billing"].endswith(" ~* &* +@all -@dangerous +info")
    assert run.one("Secret", "redis-orders-g1").inputs["stringData"]["key-prefix"] == "orders:"
    assert "key-prefix" not in run.one("Secret", "redis-billing-g1").inputs["stringData"]
    assert run.one("Secret", "redis-orders-g1").inputs["type"] == "servicebinding.io/redis"


def test_a_rotation_adds_a_password_rolls_the_client_and_leaves_the_store_running() -> None:
    before, _ = shop()
    after, (connection,) = shop({"rotations": {"orders": 2}})
    assert after.error is None, after.error
    orders = connection.credentials_for("orders")
    assert orders is not None and (orders.generation, orders.secret) == (2, "redis-orders-g2")
    assert sorted(s.name for s in after.of_kind("Secret") if re.fullmatch(r"redis-[a-z]+-g[0-9]+", s.name)) == [
        "redis-billing-g1", "redis-orders-g2",
    ]
    passwords = {r.name for r in after.of_kind("RandomPassword")}
    assert {"redis-orders-password-1", "redis-orders-password-2", "redis-orders-password-3"} <= passwords
    assert not [r for r in after.of_kind("RandomPassword") if r.protect]  # a rotation can delete the oldest
    hashes = [sha256(f"{MOCK_PASSWORD_PREFIX}redis-orders-password-{g}") for g in (2, 3, 1)]
    assert users(after)["orders"].startswith(f"on #{hashes[0]} #{hashes[1]} #{hashes[2]} ~* ")
    assert acl_files(after)["revocations"] == f"orders 2 {hashes[2]}\n"
    # The store's pod template is untouched: the sidecar reloads the users, nothing restarts.
    assert statefulset(after, "redis").spec == statefulset(before, "redis").spec
    assert users(after)["billing"] == users(before)["billing"]


def test_rotating_the_exporter_restarts_the_pod_it_shares() -> None:
    before, _ = shop()
    after, _ = shop({"rotations": {"metrics": 3}})
    annotation = "platform.example/metrics-credentials"
    assert statefulset(before, "redis").spec["template"]["metadata"]["annotations"] == {annotation: "1"}
    assert statefulset(after, "redis").spec["template"]["metadata"]["annotations"] == {annotation: "3"}
    metrics = f"{MOCK_PASSWORD_PREFIX}redis-metrics-password-3"
    assert json.loads(acl_files(after)["exporter-passwords.json"]) == {"redis://127.0.0.1:6379": metrics}
    assert users(after)["metrics"].startswith(f"on #{sha256(metrics)} ")


@pytest.mark.parametrize(
    ("settings", "clients", "expected"),
    [
        ({"rotations": {"shipping": 2}}, None,
         "RedisArgs.settings: platform:redis.rotations.shipping: not a client of 'redis'; allowed: orders, billing, metrics"),
        ({"keyPrefixes": {"metrics": "m:"}}, None,
         "RedisArgs.settings: platform:redis.keyPrefixes.metrics: 'metrics' is not a client of Redis 'redis'; "
         "allowed keys: orders, billing"),
        (None, ["orders", {"team": "billing"}],
         "RedisArgs.clients[1]: a label-set client needs a app.kubernetes.io/name label: its value names the client's "
         "own login and binding Secret"),
        (None, ["metrics"],
         "RedisArgs.clients[0]: 'metrics' names one of the store's own logins (default, metrics, probe, acl-reloader)"),
        (None, ["orders", {"app.kubernetes.io/name": "orders", "tier": "batch"}],
         "RedisArgs.clients[1]: client key 'orders' is also clients[0]'s"),
        (None, [{"app.kubernetes.io/name": "Billing.V2"}],
         "RedisArgs.clients[0]: label app.kubernetes.io/name: 'Billing.V2' is not an instance name"),
    ],
)
def test_bad_client_keys_are_refused_before_any_resource(settings: dict | None, clients: list | None, expected: str) -> None:
    run, _ = shop(settings, clients)
    assert isinstance(run.error, ConfigError), run.error
    assert any(p.startswith(expected) for p in run.error.problems), run.error.problems
    assert [r for r in run.resources if r.type != "pulumi:pulumi:Stack"] == []


@pytest.mark.parametrize("prefix", ["orders*", "a b", "", "[x]"])
def test_a_key_prefix_with_glob_characters_is_refused(prefix: str) -> None:
    run = run_program("staging", {"redis": {"keyPrefixes": {"api": prefix}}})
    assert isinstance(run.error, ConfigError) and run.resources == []
    assert any(p.startswith("platform:redis.keyPrefixes") for p in run.error.problems), run.error.problems


@pytest.mark.parametrize("generation", [0, -1, "2"])
def test_a_rotation_generation_is_a_positive_number(generation: object) -> None:
    run = run_program("staging", {"redis": {"rotations": {"api": generation}}})
    assert isinstance(run.error, ConfigError) and run.resources == []
    assert any(p.startswith("platform:redis.rotations.api") for p in run.error.problems), run.error.problems
