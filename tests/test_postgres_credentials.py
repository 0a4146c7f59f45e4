"""A login per client (#22): validation, binding Secrets, rotation and acknowledgement, the superuser kept to the server.

The SQL itself is proven on a real server (tests/realservers/test_postgres_roles_real.py); here, what is rendered.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.api import BINDING_ROOT
from components.connections import BINDING_KEYS
from components.errors import ConfigError
from components.namespace import NamespaceRef
from components.pgroles import hba_conf
from components.postgres import Postgres, PostgresArgs, resolve
from environments import load_config
from tests.harness import MOCK_PASSWORD_PREFIX, Registered, Run, run_program
from tests.test_postgres import container, env, mounts, pod

STACKS = ("dev", "staging", "production", "pr-123")


def pod_specs(run: Run) -> list[tuple[str, dict[str, Any]]]:
    """(workload, pod spec) of every Deployment, StatefulSet and CronJob."""
    found = []
    for r in run.of_kind("Deployment") + run.of_kind("StatefulSet"):
        found.append((r.name, r.spec["template"]["spec"]))
    for r in run.of_kind("CronJob"):
        found.append((r.name, r.spec["jobTemplate"]["spec"]["template"]["spec"]))
    return found


def superuser_secret(run: Run) -> str:
    assert "name" not in run.one("Secret", "postgres-secret").metadata
    return "postgres-secret-a1b2c3d4"  # the mock's auto-name


def by_name(run: Run, kind: str, name: str) -> Registered:
    (found,) = [r for r in run.of_kind(kind) if r.metadata.get("name") == name]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_server_container_reads_the_superusers_secret(stack: str) -> None:
    run = run_program(stack)
    assert run.error is None, run.error
    secret = superuser_secret(run)
    readers = []
    for workload, spec in pod_specs(run):
        volumes = [v["name"] for v in spec.get("volumes", []) if v.get("secret", {}).get("secretName") == secret]
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            if set(volumes) & {m["name"] for m in c.get("volumeMounts", [])} or secret in json.dumps(c.get("env", [])):
                readers.append((workload, c["name"]))
    assert readers == [("postgres-statefulset", "postgres")]
    # Every TCP login needs a password, 127.0.0.1 included; the superuser never logs in over TCP.
    hba = [line.split() for line in hba_conf(load_config(stack, {}).postgres).splitlines() if line and line[0] != "#"]
    assert all("trust" not in line for line in hba)
    assert [line for line in hba if line[2] == "app"] == [
        ["local", "all", "app", "peer", "map=server"], ["host", "all", "app", "0.0.0.0/0", "reject"],
        ["host", "all", "app", "::/0", "reject"],
    ]
    postgres = container(pod(run, "postgres"), "postgres")
    assert "hba_file=/etc/postgresql/platform/pg_hba.conf" in postgres["args"]


def test_binding_secret_per_client_with_the_contracts_keys() -> None:
    run = run_program("staging")
    assert run.error is None, run.error
    secret = by_name(run, "Secret", "postgres-api-g1")
    data = secret.inputs["stringData"]
    assert set(BINDING_KEYS) | {"database", "jdbc-url", "dsn"} == set(data)
    assert secret.inputs["immutable"] is True and secret.inputs["type"] == "servicebinding.io/postgresql"
    password = f"{MOCK_PASSWORD_PREFIX}postgres-api-g1-password"
    assert data["uri"] == f"postgresql://api_g1:{password}@postgres:5432/myapp"
    assert (data["username"], data["password"], data["jdbc-url"]) == ("api_g1", password, "jdbc:postgresql://postgres:5432/myapp")
    assert "stringData" in secret.secret_inputs
    # The logins Secret (the roles container's) holds every login's password; no ConfigMap holds any.
    logins = by_name(run, "Secret", "postgres-logins").inputs["stringData"]
    assert set(logins) == {"api_g1", "metrics_g1", "backup_g1"}
    for config_map in run.of_kind("ConfigMap"):
        assert MOCK_PASSWORD_PREFIX not in json.dumps(config_map.inputs), config_map.name
    assert "api_g1" in by_name(run, "ConfigMap", "postgres-roles").inputs["data"]["roles.sql"]


def test_rotation_rolls_each_consumer_and_acknowledges_after_it() -> None:
    run = run_program("staging", {"postgres": {"rotations": {"api": 2, "metrics": 3, "backup": 2}}})
    assert run.error is None, run.error
    bindings = sorted(r.metadata["name"] for r in run.of_kind("Secret") if r.metadata.get("name", "").startswith("postgres-"))
    # Only the current generation's binding Secret: the previous one is deleted at the end of the up.
    assert bindings == ["postgres-api-g2", "postgres-backup-g2", "postgres-logins", "postgres-metrics-g3"]
    # Both generations' passwords stay for the server, until the clients acknowledged.
    assert set(by_name(run, "Secret", "postgres-logins").inputs["stringData"]) == {
        "api_g1", "api_g2", "metrics_g2", "metrics_g3", "backup_g1", "backup_g2"}
    passwords = {r.name for r in run.of_kind("RandomPassword")}
    assert {"postgres-api-g1-password", "postgres-api-g2-password", "postgres-metrics-g2-password"} <= passwords
    assert "postgres-metrics-g1-password" not in passwords
    # Each consumer's pod template names the new Secret (so it rolls), and its acknowledgement follows it.
    api = run.one("Deployment", "api-deployment")
    app = api.spec["template"]["spec"]["containers"][0]
    assert env(app)["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "postgres-api-g2"
    exporter = container(pod(run, "postgres"), "metrics")
    assert env(exporter)["DATA_SOURCE_USER"]["value"] == "metrics_g3"
    job = run.one("CronJob", "postgres-backup").spec["jobTemplate"]["spec"]["template"]["spec"]
    assert "postgres-backup-g2" in json.dumps(job["volumes"])
    server, cronjob = run.one("StatefulSet", "postgres-statefulset"), run.one("CronJob", "postgres-backup")
    for ack, generation, after in (("postgres-api-ack", "2", api), ("postgres-metrics-ack", "3", server),
                                   ("postgres-backup-ack", "2", cronjob)):
        config_map = by_name(run, "ConfigMap", ack)
        assert config_map.inputs["data"] == {"generation": generation}
        assert after.urn in config_map.depends_on, ack
    # The roles container watches each acknowledgement, an optional ConfigMap mounted by name (no restart when it appears).
    roles = container(pod(run, "postgres"), "roles")
    volumes = {v["name"]: v for v in pod(run, "postgres")["volumes"]}
    watched = {path: volumes[name]["configMap"] for path, name in mounts(roles).items() if path.startswith("/run/postgres-acks/")}
    keys = ("api", "metrics", "backup")
    assert watched == {f"/run/postgres-acks/{k}": {"name": f"postgres-{k}-ack", "optional": True} for k in keys}


def test_credentials_as_files_under_the_service_binding_root() -> None:
    run = run_program("staging", {"api": {"bindings": "files"}})
    assert run.error is None, run.error
    spec = run.one("Deployment", "api-deployment").spec["template"]["spec"]
    app = spec["containers"][0]
    assert mounts(app)[f"{BINDING_ROOT}/postgres"] == "binding-0"
    assert {"name": "binding-0", "secret": {"secretName": "postgres-api-g1", "defaultMode": 0o440}} in spec["volumes"]
    variables = env(app)
    assert not {"DB_USER", "DB_PASSWORD", "DATABASE_URL"} & set(variables)
    config = next(r for r in run.of_kind("ConfigMap") if r.name == "api-config").inputs["data"]
    assert config["SERVICE_BINDING_ROOT"] == BINDING_ROOT and config["DB_HOST"] == "postgres"


def args(clients: list[Any], rotations: dict[str, int] | None = None) -> PostgresArgs:
    settings = load_config("dev", {"postgres": {"rotations": rotations or {}}}).postgres
    return PostgresArgs(environment=NamespaceRef(name="dev", environment="dev"), settings=settings, clients=clients)


@pytest.mark.parametrize(("clients", "rotations", "message"), [
    (["api"], {"web": 2}, "platform:postgres.rotations.web: not a client of 'pg'; allowed: api, metrics, backup"),
    ([{"team": "x"}], None, "PostgresArgs.clients[0]: a label-set client needs a app.kubernetes.io/name label"),
    (["metrics"], None, "PostgresArgs.clients[0]: 'metrics' names one of the store's own logins (metrics, backup)"),
    (["app"], None, "PostgresArgs.clients[0]: 'app' is the superuser's name (postgres.user)"),
    (["api-g2"], None, "PostgresArgs.clients[0]: client key 'api-g2' ends like a credential generation"),
    (["public"], None, "PostgresArgs.clients[0]: role 'public' is reserved by Postgres"),
    (["platform-upgrade"], None, "PostgresArgs.clients[0]: role 'platform_upgrade' is reserved"),  # the upgrade's own role
    (["api", {"app.kubernetes.io/name": "api", "team": "x"}], None,
     "PostgresArgs.clients[1]: client key 'api' is also clients[0]'s"),
])
def test_bad_clients_and_rotations_are_refused_by_key(clients: list[Any], rotations: dict[str, int] | None, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve("pg", args(clients, rotations))
    assert message in str(raised.value)


def test_a_label_set_client_is_keyed_by_its_name_label() -> None:
    spec = resolve("pg", args([{"app.kubernetes.io/name": "etl", "team": "data"}], {"etl": 3}))
    assert spec.store.client_keys == ("etl",)


def test_rotation_generations_start_at_one() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config("dev", {"postgres": {"rotations": {"api": 0}}})
    assert "postgres.rotations.api" in str(raised.value)


def test_acknowledgements_of_two_kinds_of_store_cannot_share_a_name() -> None:
    """Postgres 'a' with client 'b-c' and Redis 'a-b' with client 'c' would both read ConfigMap a-b-c-ack."""
    from components.redis import Redis, RedisArgs
    from tools.engine import run_function

    config = load_config("staging", {})

    def program() -> None:
        where = NamespaceRef(name="shop", environment="staging")
        Postgres("a", PostgresArgs(environment=where, settings=config.postgres, clients=["b-c"]))
        Redis("a-b", RedisArgs(environment=where, settings=config.redis, clients=["c"]))

    run = run_function("staging", program)
    assert isinstance(run.error, ConfigError), run.error
    assert any("a-b-c-ack" in p and "Postgres 'a'" in p for p in run.error.problems), run.error.problems
    assert not [r for r in run.resources if r.type == "platform:index:Redis"]
