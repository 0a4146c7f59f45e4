"""Redis: a StatefulSet with AOF, a generated password enforced with requirepass, per-environment limits."""

from __future__ import annotations

import json

import pytest

from components.errors import ConfigError
from components.labels import identity_labels, selector_labels
from components.namespace import NamespaceRef
from components.redis import DANGEROUS_COMMANDS, RedisArgs, redis_conf, resolve, statefulset_spec
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
    secret_dir,
    statefulset,
)


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


def test_password_enforced_without_leaking(run: Run) -> None:
    assert run.one("RandomPassword", "redis-password").inputs["length"] >= 32
    secret = run.one("Secret", "redis-secret")
    assert "stringData" in secret.secret_inputs
    files = secret.inputs["stringData"]
    password = f"{MOCK_PASSWORD_PREFIX}redis-password"
    assert files["password"] == password and files["requirepass.conf"] == f"requirepass {password}\n"
    spec = pod(run, "redis")
    redis = container(spec, "redis")
    directory = secret_dir(run, "redis", spec, redis)
    # requirepass comes from a file of the Secret that redis.conf includes; never from argv or the ConfigMap.
    assert redis["command"] == ["redis-server", "/etc/redis/redis.conf"]
    assert f"include {directory}/requirepass.conf\n" in conf(run)
    assert "requirepass " not in conf(run).replace("requirepass.conf", "") and MOCK_PASSWORD_PREFIX not in conf(run)
    exporter = container(spec, "metrics")
    address = env(exporter)["REDIS_ADDR"]["value"]
    assert env(exporter)["REDIS_PASSWORD_FILE"]["value"] == f"{secret_dir(run, 'redis', spec, exporter)}/exporter-passwords.json"
    assert json.loads(files["exporter-passwords.json"]) == {address: password}
    assert "redisPassword" in run.secret_outputs
    assert_no_plaintext_password(run)


def test_probes_authenticate_through_the_environment(run: Run) -> None:
    spec = pod(run, "redis")
    redis = container(spec, "redis")
    directory = secret_dir(run, "redis", spec, redis)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = " ".join(redis[probe]["exec"]["command"])
        assert f'REDISCLI_AUTH="$(cat {directory}/password)" redis-cli' in command and "ping" in command, probe
        assert " -a " not in command and "--pass" not in command and "--user" not in command, probe


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
    text = redis_conf(config.redis, "/run/secrets/redis")
    assert f"maxmemory {90 * 2**20}\n" in text and f"maxmemory-policy {policy}\n" in text
    assert all(f'rename-command {c} ""\n' in text for c in DANGEROUS_COMMANDS)


def test_storage_class_and_retention_from_args() -> None:
    config = load_config("staging", {"redis": {"persistence": {"enabled": True, "storageClass": "fast"}}})
    # A staging namespace keeps its volumes.
    args = resolve("redis", RedisArgs(environment=NamespaceRef(name="dev", environment="staging"), settings=config.redis,
                                      clients=[{"app.kubernetes.io/name": "x"}]))
    spec = statefulset_spec(args, "secret", "config")
    assert spec["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert "secret" in json.dumps(spec) and MOCK_PASSWORD_PREFIX not in json.dumps(spec)


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
