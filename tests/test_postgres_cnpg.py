"""Postgres in mode cloudnativepg: the Cluster and its parts per environment, the same connection for
consumers, per-client roles, the mode-switch refusal and the migration, point-in-time recovery, the operator."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cnpg_operator import PLUGIN_IMAGE, SIDECAR_IMAGE, plugin_objects
from components.connections import BINDING_KEYS
from components.errors import ConfigError
from components.history import postgres_deployed
from components.postgres_cnpg import six_field_cron
from environments import load_config
from tests.cloudnativepg_stack import API_SERVER, CLOUDNATIVEPG
from tests.harness import MOCK_PASSWORD_PREFIX, Registered, Run, run_program
from tools.upstream import NotFetched, fetched

INSTANCE = {"cnpg.io/cluster": "postgres", "cnpg.io/podRole": "instance"}
BUCKET = {"endpoint": "minio.storage.svc.cluster.local", "port": 9000, "tls": False, "bucket": "staging-backups",
          "prefix": "platform/staging/", "existingSecret": "backup-s3", "allowedCidrs": ["10.40.0.0/24"]}


def cnpg(extra: dict[str, Any] | None = None, **postgres: Any) -> dict[str, Any]:
    """The cloudnativepg stack config with ``postgres`` keys merged in (cloudnativepg ones under ``extra``)."""
    config = copy.deepcopy(CLOUDNATIVEPG)
    config["postgres"].update(postgres)
    config["postgres"]["cloudnativepg"].update(extra or {})
    return config


def run_ok(stack: str, overrides: dict[str, Any], last: dict[str, Any] | None = None) -> Run:
    run = run_program(stack, overrides, last_outputs=last)
    assert run.error is None, run.error
    return run


@pytest.fixture(scope="module")
def production() -> Run:
    return run_ok("production", CLOUDNATIVEPG)


def cluster(run: Run) -> Registered:
    return run.one("Cluster", "postgres-cluster")


def env_of(run: Run) -> dict[str, Any]:
    (container,) = [c for c in run.one("Deployment", "api-deployment").spec["template"]["spec"]["containers"]
                    if c["name"] == "api"]
    return {e["name"]: e for e in container["env"]}


def db_host(run: Run) -> str:
    """The API's DB_HOST, from its settings ConfigMap."""
    return str(run.one("ConfigMap", "api-config").inputs["data"]["DB_HOST"])


# ---------------------------------------------------------------- default: nothing changes


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_today_s_stacks_stay_statefulset_and_record_it(runs: dict[str, Run], stack: str) -> None:
    run = runs[stack]
    assert load_config(stack, {}).postgres.mode == "statefulset"
    assert not [r for r in run.resources if r.kind in ("Cluster", "ObjectStore", "ScheduledBackup", "CloudNativePGOperator")]
    assert run.one("StatefulSet", "postgres-statefulset")
    assert run.outputs["postgresModes"] == {"postgres": ["statefulset"]}


# ---------------------------------------------------------------- production-shaped Cluster


def test_production_cluster_fails_over_across_nodes_and_zones(production: Run) -> None:
    spec = cluster(production).spec
    assert spec["instances"] == 3
    assert spec["imageName"] == "ghcr.io/cloudnative-pg/postgresql:17.11-system-trixie"
    assert spec["storage"] == {"size": "20Gi"} and spec["walStorage"] == {"size": "4Gi"}
    assert spec["resources"]["requests"] == spec["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert spec["affinity"] == {"enablePodAntiAffinity": True, "topologyKey": "kubernetes.io/hostname",
                                "podAntiAffinityType": "required"}
    (spread,) = spec["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["whenUnsatisfiable"]) == ("topology.kubernetes.io/zone", "DoNotSchedule")
    assert spread["labelSelector"]["matchLabels"] == INSTANCE
    assert spec["enablePDB"] is True
    assert spec["postgresql"]["synchronous"] == {"method": "any", "number": 1, "dataDurability": "required"}
    assert spec["postgresql"]["parameters"] == {"max_connections": "100"}
    assert all(isinstance(v, str) for v in spec["postgresql"]["parameters"].values())
    assert spec["enableSuperuserAccess"] is False and spec["serviceAccountName"] == "postgres-cnpg"
    assert spec["bootstrap"] == {"initdb": {"database": "myapp", "owner": "app"}}
    assert spec["plugins"] == [{"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True,
                                "parameters": {"barmanObjectName": "postgres-archive"}}]
    # The statefulset's selector pair never reaches these pods (its Service would route to them).
    assert "app.kubernetes.io/name" not in spec["inheritedMetadata"]["labels"]
    assert not production.of_kind("StatefulSet") or all("postgres" not in r.name for r in production.of_kind("StatefulSet"))


def test_production_cluster_is_protected_its_credentials_replaceable_as_the_statefulset_s(production: Run) -> None:
    assert cluster(production).protect and cluster(production).retain_on_delete
    # As in mode statefulset: a rotation replaces these, so they are never protected.
    for resource in (production.one("Secret", "postgres-cnpg-api-g1-login"),
                     production.one("Secret", "postgres-cnpg-api-binding"),
                     production.one("RandomPassword", "postgres-cnpg-api-g1-password"),
                     production.one("NetworkPolicy", "postgres-cnpg-policy")):
        assert not resource.protect, resource.name


def test_wal_archive_goes_to_its_own_prefix_with_the_backup_credential(production: Run) -> None:
    store = production.one("ObjectStore", "postgres-archive").spec
    config = store["configuration"]
    assert config["destinationPath"] == "s3://example-platform-backups/platform/production/cnpg/"
    assert config["endpointURL"] == "https://s3.eu-central-1.amazonaws.com"
    assert config["s3Credentials"] == {
        "accessKeyId": {"name": "backup-s3", "key": "AWS_ACCESS_KEY_ID"},
        "secretAccessKey": {"name": "backup-s3", "key": "AWS_SECRET_ACCESS_KEY"},
    }
    assert store["retentionPolicy"] == "30d"
    assert store["instanceSidecarConfiguration"]["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}


def test_scheduled_backup_runs_nightly_not_hourly(production: Run) -> None:
    backup = production.one("ScheduledBackup", "postgres-backup").spec
    assert backup["schedule"] == "0 0 3 * * *"  # second 0 of 03:00, like the platform's "0 3 * * *"
    assert backup["method"] == "plugin" and backup["pluginConfiguration"] == {"name": "barman-cloud.cloudnative-pg.io"}
    assert backup["cluster"] == {"name": "postgres"}


@pytest.mark.parametrize(("five", "six"), [("0 3 * * *", "0 0 3 * * *"), ("*/15 * * * 1-5", "0 */15 * * * 1-5")])
def test_cron_gains_a_seconds_field(five: str, six: str) -> None:
    assert six_field_cron(five) == six


def test_a_six_field_cron_is_not_converted_again() -> None:
    with pytest.raises(ValueError, match="five-field"):
        six_field_cron("0 0 3 * * *")


def test_staging_and_dev_defaults(runs: dict[str, Run]) -> None:
    staging = run_ok("staging", cnpg(backup={"objectStore": BUCKET}))
    spec = cluster(staging).spec
    assert (spec["instances"], spec["affinity"]["podAntiAffinityType"], spec["enablePDB"]) == (2, "preferred", True)
    assert "synchronous" not in spec["postgresql"] and "walStorage" not in spec
    assert spec["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "ScheduleAnyway"
    store = staging.one("ObjectStore", "postgres-archive").spec["configuration"]
    assert store["endpointURL"] == "http://minio.storage.svc.cluster.local:9000"
    egress = staging.one("NetworkPolicy", "postgres-cnpg-egress").spec["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.40.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 9000}]} in egress

    dev = run_ok("dev", cnpg())
    spec = cluster(dev).spec
    # One instance: no PodDisruptionBudget (it would block every drain), no spread, no archive (dev has no backups).
    assert (spec["instances"], spec["enablePDB"]) == (1, False)
    assert "topologySpreadConstraints" not in spec and "plugins" not in spec
    assert not dev.of_kind("ObjectStore") and not dev.of_kind("ScheduledBackup")


# ---------------------------------------------------------------- the same connection


def test_the_api_connects_to_the_primary_with_its_own_login(production: Run) -> None:
    env = env_of(production)
    assert db_host(production) == "postgres-rw"
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "postgres-cnpg-api-g1", "key": "password"}
    assert env["DB_USER"]["valueFrom"]["secretKeyRef"] == {"name": "postgres-cnpg-api-g1", "key": "username"}
    egress = production.one("NetworkPolicy", "api-allow-egress").spec["egress"]
    assert {"to": [{"podSelector": {"matchLabels": INSTANCE}}], "ports": [{"protocol": "TCP", "port": 5432}]} in egress


def _without(value: Any, *pairs: tuple[str, str]) -> Any:
    text = json.dumps(value, sort_keys=True)
    for a, b in pairs:
        text = text.replace(a, b)
    return json.loads(text)


def test_the_api_service_is_the_same_in_both_modes_but_the_host_and_binding_names(
    runs: dict[str, Run], production: Run
) -> None:
    today = runs["production"]
    for kind, name in (("Deployment", "api-deployment"), ("ConfigMap", "api-config")):
        statefulset, cnpg_mode = today.one(kind, name).inputs, production.one(kind, name).inputs
        assert statefulset != cnpg_mode  # the host and Secret names do differ ...
        # ... and nothing else does.
        assert _without(cnpg_mode, ('"postgres-cnpg-api-g1"', '"postgres-api-g1"'), ("postgres-rw", "postgres")) == statefulset
    assert production.one("ConfigMap", "api/postgres-ack").metadata["name"] == "postgres-cnpg-api-ack"


def test_instances_admit_clients_each_other_the_operator_and_prometheus(production: Run) -> None:
    policy = production.one("NetworkPolicy", "postgres-cnpg-policy").spec
    assert policy["podSelector"]["matchLabels"] == INSTANCE
    rules = policy["ingress"]
    api = {"app.kubernetes.io/name": "api", "app.kubernetes.io/instance": "production", "app.kubernetes.io/component": "api"}
    assert rules[0] == {"from": [{"podSelector": {"matchLabels": api}}], "ports": [{"protocol": "TCP", "port": 5432}]}
    assert rules[1]["from"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "postgres"}}}]
    operator = rules[2]["from"][0]
    assert operator["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "cnpg-system"}
    assert {"protocol": "TCP", "port": 8000} in rules[2]["ports"]
    assert rules[3]["ports"] == [{"protocol": "TCP", "port": 9187}]
    egress = production.one("NetworkPolicy", "postgres-cnpg-egress").spec
    assert egress["podSelector"]["matchLabels"] == {"cnpg.io/cluster": "postgres"}  # instances and their jobs
    assert {"to": [{"ipBlock": {"cidr": "127.0.0.1/32"}}], "ports": [{"protocol": "TCP", "port": 6443}]} in egress["egress"]


def test_each_client_gets_a_group_role_a_login_per_generation_and_a_binding_secret(production: Run) -> None:
    group, login_role = cluster(production).spec["managed"]["roles"]
    assert group == {"name": "api", "ensure": "present", "login": False, "inherit": True, "inRoles": ["app"],
                     "comment": "platform: client api"}
    login = production.one("Secret", "postgres-cnpg-api-g1-login")
    assert login_role["name"] == "api_g1" and login_role["login"] is True and login_role["inRoles"] == ["api"]
    assert login_role["passwordSecret"] == {"name": "postgres-cnpg-api-g1-login"} == {"name": login.metadata["name"]}
    assert login.inputs["type"] == "kubernetes.io/basic-auth" and login.metadata["labels"]["cnpg.io/reload"] == "true"
    assert login.inputs["stringData"]["username"] == "api_g1"
    binding = production.one("Secret", "postgres-cnpg-api-binding")
    assert binding.metadata["name"] == "postgres-cnpg-api-g1" and binding.inputs["immutable"] is True
    data = binding.inputs["stringData"]
    statefulset_keys = {"type", "provider", "host", "port", "database", "username", "password", "uri", "jdbc-url", "dsn"}
    assert set(BINDING_KEYS) <= statefulset_keys == set(data)
    assert (data["host"], data["username"], data["type"]) == ("postgres-rw", "api_g1", "postgresql")
    assert data["jdbc-url"] == "jdbc:postgresql://postgres-rw:5432/myapp"
    assert data["password"] == login.inputs["stringData"]["password"] == f"{MOCK_PASSWORD_PREFIX}postgres-cnpg-api-g1-password"
    # The operator's exporter and barman: no login of the platform's.
    assert not [r for r in production.resources if r.name.startswith(("postgres-metrics-", "postgres-backup-g"))]


def _roles(run: Run) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in cluster(run).spec["managed"]["roles"]}


def test_rotation_keeps_the_previous_login_until_the_next_and_then_drops_it() -> None:
    second = run_ok("production", cnpg(rotations={"api": 2}))
    roles = _roles(second)
    assert set(roles) == {"api", "api_g1", "api_g2"}
    assert roles["api_g1"]["login"] is True and roles["api_g1"]["ensure"] == "present"  # clients still rolling
    assert {r.metadata["name"] for r in second.of_kind("Secret") if r.name.endswith("-login")} == {
        "postgres-cnpg-api-g1-login", "postgres-cnpg-api-g2-login"}
    assert second.one("Secret", "postgres-cnpg-api-binding").metadata["name"] == "postgres-cnpg-api-g2"
    assert env_of(second)["DB_USER"]["valueFrom"]["secretKeyRef"]["name"] == "postgres-cnpg-api-g2"
    third = run_ok("production", cnpg(rotations={"api": 3}))
    roles = _roles(third)
    assert roles["api_g1"] == {"name": "api_g1", "ensure": "absent"}  # its window ended with this rotation
    assert roles["api_g2"]["ensure"] == "present" and roles["api_g3"]["ensure"] == "present"
    assert {r.metadata["name"] for r in third.of_kind("Secret") if r.name.endswith("-login")} == {
        "postgres-cnpg-api-g2-login", "postgres-cnpg-api-g3-login"}


@pytest.mark.parametrize(("clients_key", "message"), [
    ({"rotations": {"metrics": 2}}, "postgres.rotations.metrics: not a client of 'postgres'; allowed: api"),
    ({"rotations": {"web": 2}}, "postgres.rotations.web: not a client of 'postgres'"),
])
def test_rotations_name_only_clients_in_this_mode(clients_key: dict[str, Any], message: str) -> None:
    run = run_program("production", cnpg(**clients_key))
    assert isinstance(run.error, ConfigError) and message in str(run.error), run.error


def test_pod_monitor_and_alert_rules_follow_the_cluster(production: Run) -> None:
    monitor = production.one("PodMonitor", "monitoring-postgres-monitor").spec
    assert monitor["selector"]["matchLabels"] == INSTANCE
    assert monitor["podMetricsEndpoints"][0]["port"] == "metrics"
    assert not [r for r in production.of_kind("ServiceMonitor") if r.name.endswith("postgres-monitor")]
    groups = {g["name"]: g for g in production.one("PrometheusRule").spec["groups"]}
    # Named after the instance: the Cluster's kind (postgres-cnpg) is not its name.
    assert {"postgres-postgres-cnpg", "postgres-postgres-cnpg-backup"} <= set(groups)
    missing = next(r for r in groups["postgres-postgres-cnpg"]["rules"] if r["alert"] == "PostgresInstancesMissing")
    assert "< 3" in missing["expr"]


# ---------------------------------------------------------------- config rules


@pytest.mark.parametrize(
    ("postgres", "expected"),
    [
        ({"cloudnativepg": {"parameters": {"max_wal_senders": 10}}}, "postgres.cloudnativepg.parameters: values must be strings"),
        ({"cloudnativepg": {"instances": 1}}, "postgres.cloudnativepg.instances: production needs at least 2"),
        ({"cloudnativepg": {"synchronous": {"number": 3}}}, "postgres.cloudnativepg.synchronous.number: 3 synchronous"),
        ({"cloudnativepg": {"image": {"tag": "18.6-system-trixie"}}}, "postgres.cloudnativepg.image.tag: '18.6-system-trixie'"),
        ({"cloudnativepg": {"kubernetesApiEndpoints": []}}, "postgres.cloudnativepg.kubernetesApiEndpoints: each instance"),
        ({"mode": "statefulset", "cloudnativepg": {"migration": {}}}, "postgres.cloudnativepg.migration: only for postgres.mode"),
        ({"cloudnativepg": {"migration": {"keepStatefulSet": False}}}, "keepStatefulSet: false removes the database"),
        ({"cloudnativepg": {"recovery": {"sourceCluster": "old", "targetTime": "yesterday"}}}, "RFC 3339"),
    ],
)
def test_config_refuses_what_the_cluster_would_get_wrong(postgres: dict[str, Any], expected: str) -> None:
    config = cnpg(postgres.get("cloudnativepg"), **{k: v for k, v in postgres.items() if k != "cloudnativepg"})
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.").replace("(", r"\(")):
        load_config("production", config)


def test_backups_in_this_mode_need_the_object_store() -> None:
    with pytest.raises(ConfigError, match=r"postgres\.backup\.objectStore: in mode cloudnativepg"):
        load_config("staging", cnpg())


# ---------------------------------------------------------------- switching modes, migration


STATEFULSET_BEFORE = {"namespace": "production", "postgresModes": {"postgres": ["statefulset"]}}


@pytest.mark.parametrize("last", [STATEFULSET_BEFORE, {"namespace": "production", "apiUrl": "http://api"}])
def test_switching_an_existing_database_is_refused_before_anything_registers(last: dict[str, Any]) -> None:
    run = run_program("production", CLOUDNATIVEPG, last_outputs=last)
    assert isinstance(run.error, ConfigError)
    message = str(run.error)
    assert "platform:postgres.mode: switching Postgres 'postgres' from statefulset to cloudnativepg" in message
    assert "postgres.cloudnativepg.migration" in message
    assert run.resources == []  # not even the namespace or the operator: the program stops at its config


def test_a_new_stack_starts_in_cloudnativepg_without_a_migration() -> None:
    assert postgres_deployed({}, "postgres") is None
    run_ok("production", CLOUDNATIVEPG, last={})


def test_switching_back_is_refused() -> None:
    last = {"postgresModes": {"postgres": ["cloudnativepg"]}}
    run = run_program("production", {}, last_outputs=last)
    assert isinstance(run.error, ConfigError)
    assert "switching Postgres 'postgres' back to statefulset would delete its CloudNativePG Cluster" in str(run.error)


def test_migration_imports_beside_the_unchanged_statefulset(runs: dict[str, Run]) -> None:
    run = run_ok("production", cnpg({"migration": {}}), STATEFULSET_BEFORE)
    today = runs["production"]
    for kind, name in (("StatefulSet", "postgres-statefulset"), ("Service", "postgres-service"), ("Secret", "postgres-secret")):
        assert run.one(kind, name).inputs == today.one(kind, name).inputs, name
    spec = cluster(run).spec
    assert spec["bootstrap"]["initdb"]["import"] == {
        "type": "microservice", "databases": ["myapp"], "source": {"externalCluster": "statefulset"}}
    (source,) = spec["externalClusters"]
    assert source["connectionParameters"]["host"] == "postgres"
    # The superuser has no TCP login (#22): the import reads as the backup's login, from its binding Secret.
    assert source["connectionParameters"]["user"] == "backup_g1"
    assert source["password"] == {"name": "postgres-backup-g1", "key": "password"}
    # Both credential sets exist until the cutover, apart; the clients keep the statefulset's.
    assert run.one("Secret", "postgres-api-binding").metadata["name"] == "postgres-api-g1"
    assert run.one("Secret", "postgres-cnpg-api-binding").metadata["name"] == "postgres-cnpg-api-g1"
    assert env_of(run)["DB_USER"]["valueFrom"]["secretKeyRef"]["name"] == "postgres-api-g1"
    # The import job may leave the Cluster's pods and enter the old one's.
    old_policy = run.one("NetworkPolicy", "postgres-policy").spec["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"cnpg.io/cluster": "postgres", "cnpg.io/jobRole": "import"}}} in old_policy
    egress = run.one("NetworkPolicy", "postgres-cnpg-egress").spec["egress"]
    assert egress[-1]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "postgres"
    # Until the cutover the clients stay on the statefulset.
    assert db_host(run) == "postgres"
    assert run.outputs["postgresModes"] == {"postgres": ["statefulset", "cloudnativepg"]}


def test_cutover_then_removal_as_a_step_of_its_own() -> None:
    both = {"postgresModes": {"postgres": ["statefulset", "cloudnativepg"]}}
    cutover = run_ok("production", cnpg({"migration": {"cutover": True}}), both)
    assert db_host(cutover) == "postgres-rw"
    assert env_of(cutover)["DB_USER"]["valueFrom"]["secretKeyRef"]["name"] == "postgres-cnpg-api-g1"
    assert cutover.one("StatefulSet", "postgres-statefulset")
    # Dropping the migration block would delete the statefulset by surprise: refused.
    run = run_program("production", CLOUDNATIVEPG, last_outputs=both)
    assert isinstance(run.error, ConfigError) and "postgres.cloudnativepg.migration" in str(run.error)
    removed = run_ok("production", cnpg({"migration": {"cutover": True, "keepStatefulSet": False}}), both)
    assert not [r for r in removed.of_kind("StatefulSet") if r.name.startswith("postgres")]
    assert removed.outputs["postgresModes"] == {"postgres": ["cloudnativepg"]}


# ---------------------------------------------------------------- point-in-time recovery


def test_point_in_time_recovery_into_a_new_cluster() -> None:
    recovery = {"sourceCluster": "postgres", "sourcePrefix": "platform/production-old/", "targetTime": "2026-12-06T04:55:00Z"}
    run = run_ok("production", cnpg({"recovery": recovery}))
    spec = cluster(run).spec
    assert spec["bootstrap"]["recovery"]["recoveryTarget"] == {"targetTime": "2026-12-06T04:55:00Z"}
    (source,) = spec["externalClusters"]
    assert source["plugin"]["parameters"] == {"barmanObjectName": "postgres-archive-source", "serverName": "postgres"}
    old = run.one("ObjectStore", "postgres-archive-source").spec["configuration"]
    assert old["destinationPath"] == "s3://example-platform-backups/platform/production-old/cnpg/"
    assert "retentionPolicy" not in run.one("ObjectStore", "postgres-archive-source").spec  # read only: never pruned


def test_recovery_into_its_own_archive_is_refused() -> None:
    run = run_program("production", cnpg({"recovery": {"sourceCluster": "postgres"}}))
    assert isinstance(run.error, ConfigError) and "recovery.sourcePrefix" in str(run.error)


# ---------------------------------------------------------------- the operator prerequisite


def test_production_expects_the_operator_and_reads_its_crds(production: Run) -> None:
    assert production.one("CloudNativePGOperator")
    assert not [r for r in production.resources if r.kind in ("ConfigGroup", "ConfigFile")]
    assert "cnpg-operator" in " ".join(cluster(production).depends_on)


def test_install_mode_applies_the_pinned_releases_with_released_plugin_images() -> None:
    try:
        directory = fetched("cnpg")
    except NotFetched as error:
        pytest.fail(str(error))
    run = run_ok("dev", cnpg({"operator": {"mode": "install", "manifestsPath": str(directory)}}))
    (group,) = run.of_kind("ConfigGroup")
    objects = group.inputs["objs"]
    kinds = {o["kind"] for o in objects}
    assert {"CustomResourceDefinition", "Deployment", "ValidatingWebhookConfiguration", "Certificate"} <= kinds
    images = [c["image"] for o in objects if o["kind"] == "Deployment" for c in o["spec"]["template"]["spec"]["containers"]]
    assert sorted(images) == sorted(["ghcr.io/cloudnative-pg/cloudnative-pg:1.30.1", PLUGIN_IMAGE])
    assert "cnpg-operator" in " ".join(cluster(run).depends_on)


def test_plugin_objects_replace_the_development_images() -> None:
    documents = [
        {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"image": "x-testing:main"}]}}}},
        {"kind": "Secret", "data": {"SIDECAR_IMAGE": base64.b64encode(b"sidecar-testing:main").decode()}},
    ]
    fixed = plugin_objects(documents)
    assert fixed[0]["spec"]["template"]["spec"]["containers"][0]["image"] == PLUGIN_IMAGE
    assert base64.b64decode(fixed[1]["data"]["SIDECAR_IMAGE"]).decode() == SIDECAR_IMAGE


def test_the_stack_file_change_in_readme_is_the_tested_one() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("<!-- cloudnativepg-stack -->", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    config = yaml.safe_load("config:\n" + block)["config"]["platform:postgres"]
    assert config["mode"] == "cloudnativepg" and set(API_SERVER) <= set(config["cloudnativepg"])
    stack = {"postgres": {"mode": config["mode"], "cloudnativepg": {**config["cloudnativepg"], "migration": None}}}
    assert load_config("production", stack).postgres.cloudnativepg.instances == 3


def test_the_policy_pack_passes_the_cluster_and_refuses_it_unprotected(production: Run) -> None:
    from policy import validators as v
    from tests.test_policy import subjects

    assert v.violations(subjects(production)) == {}
    unprotected = [s._replace(protect=False) if s.kind == "Cluster" else s for s in subjects(production)]
    assert "protected-production-data" in v.violations(unprotected)


def test_dev_installs_the_operator_from_the_release_urls_by_default() -> None:
    run = run_ok("dev", {"postgres": {"mode": "cloudnativepg", "cloudnativepg": API_SERVER}})
    files = {r.inputs["file"] for r in run.of_kind("ConfigFile")}
    assert files == {
        "https://github.com/cloudnative-pg/cloudnative-pg/releases/download/v1.30.1/cnpg-1.30.1.yaml",
        "https://github.com/cloudnative-pg/plugin-barman-cloud/releases/download/v0.15.0/manifest.yaml",
    }


def test_without_backups_the_migration_imports_as_the_first_client_s_current_login() -> None:
    config = cnpg({"migration": {}}, rotations={"api": 2})
    config["postgres"]["backup"] = {"enabled": False}
    run = run_ok("dev", config, {"postgresModes": {"postgres": ["statefulset"]}})
    (source,) = cluster(run).spec["externalClusters"]
    assert source["connectionParameters"]["user"] == "api_g2"
    assert source["password"] == {"name": "postgres-api-g2", "key": "password"}
