"""PostgreSQL: StatefulSet rules, generated password, backups, policies; helpers shared with Redis."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.errors import ConfigError
from components.labels import identity_labels, selector_labels
from components.namespace import NamespaceRef
from components.postgres import BACKUP_MOUNT, BACKUP_SCRIPT, Postgres, PostgresArgs, PostgresSpec, resolve, statefulset_spec
from environments import load_config
from tests.harness import MOCK_PASSWORD_PREFIX, ROOT, Registered, Run, run_program

DATA_KINDS = {"StatefulSet", "Secret", "RandomPassword", "PersistentVolumeClaim"}


# ---------------------------------------------------------------- helpers (Redis uses them too)


def statefulset(run: Run, app: str) -> Registered:
    return run.one("StatefulSet", f"{app}-statefulset")


def pod(run: Run, app: str) -> dict[str, Any]:
    return statefulset(run, app).spec["template"]["spec"]


def container(pod_spec: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in pod_spec["containers"] if c["name"] == name]
    return found


def env(container_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container_spec.get("env", [])}


def mounts(container_spec: dict[str, Any]) -> dict[str, str]:
    """mountPath -> volume name."""
    return {m["mountPath"]: m["name"] for m in container_spec.get("volumeMounts", [])}


def secret_name(run: Run, app: str) -> str:
    """The auto-named Secret's name, as the harness's mock names it."""
    assert "name" not in run.one("Secret", f"{app}-secret").metadata
    return f"{app}-secret-a1b2c3d4"


def secret_dir(run: Run, app: str, pod_spec: dict[str, Any], container_spec: dict[str, Any], secret: str = "") -> str:
    """Where the container reads a Secret (default: the store's superuser Secret) as files; never as env vars."""
    wanted = secret or secret_name(run, app)
    (volume,) = [v for v in pod_spec["volumes"] if v.get("secret", {}).get("secretName") == wanted]
    assert not [e for e in container_spec.get("env", []) if "valueFrom" in e], "secrets as files, not env vars"
    return next(path for path, name in mounts(container_spec).items() if name == volume["name"])


def assert_restricted_pod(pod_spec: dict[str, Any], uid: int, gid: int) -> None:
    """Pod Security `restricted` plus the house rules, for the image's real user."""
    security = pod_spec["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"], security["fsGroup"]) == (uid, gid, gid)
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod_spec["automountServiceAccountToken"] is False
    emptydirs = {v["name"] for v in pod_spec.get("volumes", []) if "emptyDir" in v}
    for c in pod_spec["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc["capabilities"] == {"drop": ["ALL"]}, c["name"]
        kinds = {"cpu", "memory", "ephemeral-storage"}
        assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == kinds, c["name"]
        if "/tmp" in mounts(c):
            assert mounts(c)["/tmp"] in emptydirs, c["name"]


def assert_probed(pod_spec: dict[str, Any]) -> None:
    for c in pod_spec["containers"]:
        assert "readinessProbe" in c and "livenessProbe" in c, c["name"]


def secret_free(value: Any, secret_paths: set[str], path: str = "") -> Any:
    """The inputs without the values the SDK sent as secrets."""
    if path in secret_paths:
        return None
    if isinstance(value, dict):
        return {k: secret_free(v, secret_paths, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [secret_free(v, secret_paths, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def assert_no_plaintext_password(run: Run) -> None:
    for resource in run.resources:
        visible = json.dumps(secret_free(resource.inputs, resource.secret_inputs))
        assert MOCK_PASSWORD_PREFIX not in visible, f"{resource.kind} {resource.name} carries a password in the clear"


def policy_rules(run: Run, app: str) -> list[tuple[dict[str, Any], set[int]]]:
    """(peer, ports) of every ingress rule of the store's NetworkPolicy."""
    policy = run.one("NetworkPolicy", f"{app}-policy").spec
    assert policy["podSelector"]["matchLabels"] == selector_labels(app, run.stack)
    assert policy["policyTypes"] == ["Ingress"]
    return [(peer, {int(p["port"]) for p in rule["ports"]}) for rule in policy["ingress"] for peer in rule["from"]]


def monitoring_peer(run: Run) -> dict[str, Any]:
    monitoring = load_config(run.stack, {}).monitoring
    # Only the Prometheus pods of that namespace (issue 23: not Grafana, Alertmanager or a log shipper).
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring.namespace}},
            "podSelector": {"matchLabels": monitoring.prometheus_pod_labels}}


def assert_only_the_uid_exception(resource: Registered) -> None:
    """The one Checkov exception: the image's own UID (initdb needs its passwd entry), with a reason."""
    annotations = resource.metadata.get("annotations", {})
    assert list(annotations) == ["checkov.io/skip1"] and annotations["checkov.io/skip1"].startswith("CKV_K8S_40=")


def assert_data_safety(runs: dict[str, Run], app: str) -> None:
    """Retain + protect in production, Retain in staging, Delete and unprotected elsewhere."""
    for stack, run in runs.items():
        config = load_config(stack, {})
        children = [r for r in run.resources if r.parent.endswith(f"::{app}")]
        expected = DATA_KINDS & {r.kind for r in children} if config.profile.protect_data else set()
        assert {r.kind for r in children if r.protect} == expected, stack
        spec = statefulset(run, app).spec
        if getattr(config, app).persistence.enabled:
            want = "Retain" if stack in ("staging", "production") else "Delete"
            assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": want, "whenScaled": want}, stack
            assert statefulset(run, app).retain_on_delete is (stack in ("staging", "production"))


# ---------------------------------------------------------------- the program, per stack


def test_one_postgres_statefulset(run: Run) -> None:
    sts = statefulset(run, "postgres")
    assert [s.metadata["name"] for s in run.of_kind("StatefulSet")].count("postgres") == 1
    spec = sts.spec
    assert sts.metadata["namespace"] == run.stack and spec["replicas"] == 1
    selector = spec["selector"]["matchLabels"]
    assert selector == selector_labels("postgres", run.stack)
    assert selector.items() <= spec["template"]["metadata"]["labels"].items()
    assert spec["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "17.11-alpine"
    # The governing Service exists and is headless.
    headless = run.one("Service", "postgres-headless")
    assert headless.metadata["name"] == spec["serviceName"] and headless.spec["clusterIP"] == "None"
    assert container(spec["template"]["spec"], "postgres")["image"] == "docker.io/library/postgres:17.11-alpine"
    assert_only_the_uid_exception(sts)


def test_pgdata_is_a_subdirectory_of_the_volume(run: Run) -> None:
    postgres = container(pod(run, "postgres"), "postgres")
    data_mount = next(path for path, volume in mounts(postgres).items() if volume == "data")
    pgdata = env(postgres)["PGDATA"]["value"]
    assert pgdata.startswith(data_mount + "/") and pgdata != data_mount + "/"


def test_runs_as_the_image_user_with_writable_scratch(run: Run) -> None:
    spec = pod(run, "postgres")
    assert_restricted_pod(spec, 70, 70)
    postgres = container(spec, "postgres")
    emptydirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    assert mounts(postgres)["/var/run/postgresql"] in emptydirs and mounts(postgres)["/tmp"] in emptydirs


def test_probes_and_clean_shutdown(run: Run) -> None:
    spec = pod(run, "postgres")
    assert_probed(spec)
    postgres = container(spec, "postgres")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert postgres[probe]["exec"]["command"][0] == "pg_isready", probe
    assert postgres["startupProbe"]["periodSeconds"] * postgres["startupProbe"]["failureThreshold"] >= 300
    grace = spec["terminationGracePeriodSeconds"]
    assert grace >= 120
    stop = postgres["lifecycle"]["preStop"]["exec"]["command"]
    assert stop[:2] == ["pg_ctl", "stop"] and "fast" in stop and int(stop[stop.index("-t") + 1]) < grace


def test_volume_claim_per_environment(run: Run) -> None:
    config = load_config(run.stack, {}).postgres
    (claim,) = statefulset(run, "postgres").spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == config.persistence.size


def test_retention_and_protect(runs: dict[str, Run]) -> None:
    assert_data_safety(runs, "postgres")
    production = runs["production"]
    assert statefulset(production, "postgres").protect and production.one("PersistentVolumeClaim", "postgres-backups").protect


def test_generated_password_in_a_secret(run: Run) -> None:
    password = run.one("RandomPassword", "postgres-password")
    assert password.inputs["length"] >= 32 and "keepers" not in password.inputs
    secret = run.one("Secret", "postgres-secret")
    assert "name" not in secret.inputs["metadata"]  # auto-named
    assert "stringData" in secret.secret_inputs
    assert secret.inputs["stringData"]["password"] == f"{MOCK_PASSWORD_PREFIX}postgres-password"
    spec = pod(run, "postgres")
    postgres = container(spec, "postgres")
    directory = secret_dir(run, "postgres", spec, postgres)
    assert env(postgres)["POSTGRES_PASSWORD_FILE"]["value"] == f"{directory}/password"
    assert "postgresPassword" in run.secret_outputs
    assert_no_plaintext_password(run)


def test_no_password_in_stack_files() -> None:
    for stack_file in ROOT.glob("Pulumi*.yaml"):
        assert "password" not in stack_file.read_text().lower(), stack_file.name


def test_exporter_sidecar(run: Run) -> None:
    exporter = container(spec := pod(run, "postgres"), "metrics")
    assert exporter["image"] == "quay.io/prometheuscommunity/postgres-exporter:v0.20.0"
    assert exporter["ports"] == [{"name": "metrics", "containerPort": 9187, "protocol": "TCP"}]
    variables = env(exporter)
    assert variables["DATA_SOURCE_URI"]["value"] == "127.0.0.1:5432/myapp?sslmode=disable"
    # Its own pg_monitor login, from its own binding Secret; the superuser's Secret is not even mounted.
    assert variables["DATA_SOURCE_USER"]["value"] == "metrics_g1"
    own = secret_dir(run, "postgres", spec, exporter, "postgres-metrics-g1")
    assert variables["DATA_SOURCE_PASS_FILE"]["value"] == f"{own}/password"
    assert set(mounts(exporter).values()) == {"metrics-credentials"}
    metrics = run.one("Service", "postgres-metrics")
    assert metrics.metadata["labels"]["app.kubernetes.io/component"] == "metrics"
    assert [(p["name"], p["port"]) for p in metrics.spec["ports"]] == [("metrics", 9187)]


def test_client_service_is_the_stable_db_host(run: Run) -> None:
    service = run.one("Service", "postgres-service")
    assert service.metadata["name"] == "postgres" and service.spec["type"] == "ClusterIP"
    assert service.spec["selector"] == selector_labels("postgres", run.stack)
    assert [(p["port"], p["targetPort"]) for p in service.spec["ports"]] == [(5432, "postgres")]


def test_only_api_backup_and_monitoring_reach_postgres(run: Run) -> None:
    config = load_config(run.stack, {})
    # Each peer is a workload's name AND kind: an ApiService named "postgres-backup" is not the backup job.
    expected = [({"podSelector": {"matchLabels": identity_labels("api", run.stack, "api")}}, {5432})]
    if config.postgres.backup.enabled:
        expected.append(({"podSelector": {"matchLabels": identity_labels("postgres-backup", run.stack, "backup")}}, {5432}))
    if config.monitoring.mode != "off":
        expected.append((monitoring_peer(run), {9187}))
    assert policy_rules(run, "postgres") == expected


def test_backup_cronjob_in_staging_and_production(runs: dict[str, Run]) -> None:
    for stack, run in runs.items():
        config = load_config(stack, {}).postgres
        if stack not in ("staging", "production"):
            assert not run.of_kind("CronJob") and not run.of_kind("PersistentVolumeClaim"), stack
            continue
        assert_only_the_uid_exception(run.one("CronJob", "postgres-backup"))
        cron = run.one("CronJob", "postgres-backup").spec
        assert cron["schedule"] == config.backup.schedule and cron["concurrencyPolicy"] == "Forbid"
        job_pod = cron["jobTemplate"]["spec"]["template"]["spec"]
        assert_restricted_pod(job_pod, 70, 70)
        # With an objectStore (production) the dump is the init container, the upload follows it.
        (dump,) = [c for c in job_pod.get("initContainers", job_pod["containers"]) if c["name"] == "pg-dump"]
        script = dump["command"][-1]
        assert "pg_dump --format=custom" in script
        variables = env(dump)
        assert variables["KEEP"]["value"] == str(config.backup.keep)
        # The read-only backup login, never the superuser's Secret.
        own = secret_dir(run, "postgres", job_pod, dump, "postgres-backup-g1")
        assert variables["PASSWORD_FILE"]["value"] == f"{own}/password" and variables["PGUSER"]["value"] == "backup_g1"
        assert secret_name(run, "postgres") not in json.dumps(job_pod)
        assert 'PGPASSWORD="$(cat "$PASSWORD_FILE")"' in script
        claim = run.one("PersistentVolumeClaim", "postgres-backups")
        (volume,) = [v for v in job_pod["volumes"] if "persistentVolumeClaim" in v]
        assert volume["persistentVolumeClaim"]["claimName"] == claim.metadata["name"]
        assert claim.spec["resources"]["requests"]["storage"] == config.backup.size
        labels = cron["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        egress = run.one("NetworkPolicy", "postgres-backup-policy").spec
        assert egress["podSelector"]["matchLabels"].items() <= labels.items()
        to_postgres = {"podSelector": {"matchLabels": selector_labels("postgres", stack)}}
        assert egress["podSelector"]["matchLabels"] == identity_labels("postgres-backup", stack, "backup")
        assert egress["egress"][0] == {"to": [to_postgres], "ports": [{"protocol": "TCP", "port": 5432}]}
        assert len(egress["egress"]) == (2 if config.backup.object_store else 1)


# ---------------------------------------------------------------- rules that must fail


def test_production_without_persistence_is_rejected_before_any_resource() -> None:
    run = run_program("production", {"postgres": {"persistence": {"enabled": False}, "backup": {"enabled": False}}})
    assert isinstance(run.error, ConfigError)
    assert any(p.startswith("platform:postgres.persistence.enabled:") for p in run.error.problems)
    assert run.resources == []


def test_the_restricted_check_catches_a_root_pod(runs: dict[str, Run]) -> None:
    spec = json.loads(json.dumps(pod(runs["dev"], "postgres")))
    spec["securityContext"]["runAsUser"] = 0
    with pytest.raises(AssertionError):
        assert_restricted_pod(spec, 70, 70)
    container(spec, "metrics")["securityContext"]["readOnlyRootFilesystem"] = False
    spec["securityContext"]["runAsUser"] = 70
    with pytest.raises(AssertionError):
        assert_restricted_pod(spec, 70, 70)


# ---------------------------------------------------------------- pure specs and the backup script


def _args(stack: str = "dev", **postgres: Any) -> PostgresSpec:
    config = load_config(stack, {"postgres": postgres})
    where = NamespaceRef(name=stack, environment=config.environment)
    return resolve("postgres", PostgresArgs(environment=where, settings=config.postgres, clients=["api"]))


def test_without_persistence_the_data_is_an_emptydir() -> None:
    spec = statefulset_spec(_args(persistence={"enabled": False}, backup={"enabled": False}), "s")
    assert "volumeClaimTemplates" not in spec and "persistentVolumeClaimRetentionPolicy" not in spec
    assert {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}} in spec["template"]["spec"]["volumes"]


def test_storage_class_and_digest_are_used() -> None:
    digest = "sha256:" + "a" * 64
    spec = statefulset_spec(_args(persistence={"storageClass": "fast-ssd"}, image={"digest": digest}), "s")
    assert spec["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast-ssd"
    assert container(spec["template"]["spec"], "postgres")["image"].endswith(f"17.11-alpine@{digest}")


def test_metrics_off_means_no_sidecar() -> None:
    spec = statefulset_spec(_args(metrics={"enabled": False}), "s")
    assert [c["name"] for c in spec["template"]["spec"]["containers"]] == ["postgres", "roles"]


def test_backup_script_keeps_the_newest_dumps(tmp_path: Path) -> None:
    backups, bin_dir = tmp_path / "backups", tmp_path / "bin"
    backups.mkdir()
    bin_dir.mkdir()
    for day in range(1, 6):
        (backups / f"2020010{day}T030000Z.dump").write_text("old")
    (backups / "20200106T030000Z.dump.partial").write_text("a failed run")
    password = tmp_path / "password"
    password.write_text("s3cret")
    fake = bin_dir / "pg_dump"  # writes its --file, and fails unless the password reached it
    fake.write_text('#!/bin/sh\n[ "$PGPASSWORD" = s3cret ] || exit 9\n'
                    'for a; do case "$a" in --file=*) echo dump > "${a#--file=}";; esac; done\n')
    fake.chmod(0o755)
    script = BACKUP_SCRIPT.replace(BACKUP_MOUNT, str(backups))
    result = subprocess.run(
        ["sh", "-c", script], env={"PATH": f"{bin_dir}:/usr/bin:/bin", "KEEP": "3", "PASSWORD_FILE": str(password)},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    left = sorted(p.name for p in backups.iterdir())
    assert len(left) == 3 and left[:2] == ["20200104T030000Z.dump", "20200105T030000Z.dump"]
    assert not any(name.endswith(".partial") for name in left)


# ---------------------------------------------------------------- the connection object


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"generated-{args.name}"
        if isinstance(state.get("metadata"), dict):
            state["metadata"] = {"name": f"{args.name}-generated", **state["metadata"]}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


@pytest.fixture
def mocked() -> None:
    from pulumi.runtime import settings

    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(_Mocks(), project="platform", stack="dev", preview=False)


@pulumi.runtime.test
def test_connection_object(mocked: None) -> pulumi.Output:
    # The instance name is the identity: a Postgres called "pg" serves as host "pg".
    component = Postgres("pg", PostgresArgs(environment=NamespaceRef(name="dev", environment="dev"),
                                            settings=load_config("dev", {}).postgres, clients=["api"]))
    connection = component.connection
    # Nothing of the superuser: no shared password, no user; the client's own login instead.
    assert (connection.host, connection.port, connection.database, connection.user) == ("pg", 5432, "myapp", "")
    assert connection.password is None
    assert connection.pod_labels == identity_labels("pg", "dev", "database")
    assert connection.admits(identity_labels("api", "dev", "api"))
    assert not connection.admits(identity_labels("api", "dev", "backup"))
    assert list(connection.ready) == [component.statefulset]
    assert component.metrics_target is not None and component.metrics_target.port == "metrics"
    api = connection.credentials_for("api")
    assert api is not None and (api.client, api.user, api.generation, api.acknowledge) == ("api", "api_g1", 1, "pg-api-ack")
    assert list(connection.credentials) == ["api"]  # the exporter's and backup's logins are the store's own

    def check(name: str) -> None:
        assert name == "pg-api-g1"

    return pulumi.Output.from_input(api.secret).apply(check)
