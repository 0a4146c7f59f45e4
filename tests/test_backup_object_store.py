"""postgres.backup.objectStore: the upload step, its credentials as files, egress, production's off-cluster rule."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.config import config_warnings
from components.errors import ConfigError
from environments import load_config
from tests.harness import Run, run_program

STORE = {"endpoint": "s3.eu-central-1.amazonaws.com", "bucket": "acme-backups", "prefix": "platform/prod/",
         "existingSecret": "backup-s3"}


def with_store(stack: str, **changes: Any) -> Run:
    run = run_program(stack, {"postgres": {"backup": {"objectStore": {**STORE, **changes}}}})
    assert run.error is None, run.error
    return run


def job_pod(run: Run) -> dict[str, Any]:
    return run.one("CronJob", "postgres-backup").spec["jobTemplate"]["spec"]["template"]["spec"]


def egress_ports(run: Run) -> list[list[float]]:
    policy = run.one("NetworkPolicy", "postgres-backup-policy").spec
    return [[p["port"] for p in rule["ports"]] for rule in policy["egress"]]


def test_without_an_object_store_the_job_is_unchanged(runs: dict[str, Run]) -> None:
    pod = job_pod(runs["staging"])
    assert [c["name"] for c in pod["containers"]] == ["pg-dump"] and "initContainers" not in pod
    assert egress_ports(runs["staging"]) == [[5432]]


def test_the_upload_runs_after_the_dump_with_credentials_as_files() -> None:
    run = with_store("production")
    pod = job_pod(run)
    assert [c["name"] for c in pod["initContainers"]] == ["pg-dump"]  # the upload only runs after a good dump
    upload = pod["containers"][0]
    assert upload["name"] == "upload" and upload["image"] == "docker.io/amazon/aws-cli:2.33.2"
    env = {e["name"]: e for e in upload["env"]}
    assert env["AWS_ENDPOINT_URL"]["value"] == "https://s3.eu-central-1.amazonaws.com"  # TLS by default
    assert env["BUCKET"]["value"] == "acme-backups" and env["PREFIX"]["value"] == "platform/prod/"
    # Issue 23: the keys are never in the pod's env (kubectl describe, /proc/<pid>/environ of every process).
    assert not [e for e in upload["env"] if "valueFrom" in e or e["name"] in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in upload["volumeMounts"]}
    (credentials,) = [name for name, v in volumes.items() if v.get("secret", {}).get("secretName") == "backup-s3"]
    assert mounts[credentials]["readOnly"] is True
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[f"{key}_FILE"]["value"] == f"{mounts[credentials]['mountPath']}/{key}"
        assert f'{key}="$(cat "${key}_FILE")"' in upload["command"][-1]
    assert {"name": "backups", "mountPath": "/backups", "readOnly": True} in upload["volumeMounts"]
    assert upload["securityContext"]["readOnlyRootFilesystem"] is True
    assert egress_ports(run) == [[5432], [443]]


def test_the_upload_never_deletes_so_its_key_needs_no_delete_permission() -> None:
    """Issue 23: pruning with `aws s3 rm` made DeleteObject mandatory; the bucket's lifecycle rule expires dumps."""
    script = job_pod(with_store("production"))["containers"][0]["command"][-1]
    assert "aws s3 cp" in script
    assert not [word for word in (" rm ", "s3 rm", "s3api delete", "sync --delete", " mv ") if word in script], script


def test_the_backup_pods_have_their_own_service_account_ready_for_workload_identity() -> None:
    annotations = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/platform-backup"}
    run = with_store("production", existingSecret=None, serviceAccountAnnotations=annotations)
    pod = job_pod(run)
    assert pod["serviceAccountName"] == "postgres-backup" and pod["automountServiceAccountToken"] is False
    account = next(a for a in run.of_kind("ServiceAccount") if a.metadata["name"] == "postgres-backup")
    assert account.metadata["annotations"] == annotations
    upload = pod["containers"][0]
    assert not [e for e in upload["env"] if e["name"].startswith("AWS_ACCESS") or e["name"].startswith("AWS_SECRET")]
    assert not [v for v in pod["volumes"] if "secret" in v and v["secret"]["secretName"] == "backup-s3"]


def _egress_peers(run: Run) -> list[dict[str, Any]]:
    (_, store_rule) = run.one("NetworkPolicy", "postgres-backup-policy").spec["egress"]
    return store_rule["to"]


def test_the_upload_reaches_named_ranges_or_public_addresses_never_any_destination() -> None:
    """Issue 23: an egress rule without `to` let the pod holding both credentials reach anything on 443,
    the API server and every in-cluster Service included. A policy cannot name a host, only addresses."""
    (peer,) = _egress_peers(with_store("production"))
    assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(peer["ipBlock"]["except"])
    peers = _egress_peers(with_store("production", allowedCidrs=["52.219.0.0/16", "3.5.0.0/16"]))
    assert peers == [{"ipBlock": {"cidr": "52.219.0.0/16"}}, {"ipBlock": {"cidr": "3.5.0.0/16"}}]


def test_a_plain_http_store_on_its_own_port() -> None:
    run = with_store("staging", tls=False, port=9000)
    env = {e["name"]: e.get("value") for e in job_pod(run)["containers"][0]["env"]}
    assert env["AWS_ENDPOINT_URL"] == "http://s3.eu-central-1.amazonaws.com:9000"
    assert egress_ports(run) == [[5432], [9000]]


def test_a_plain_http_store_without_a_port_is_reached_on_80() -> None:
    """The egress rule follows the scheme: 443 would leave the upload blocked by the policy."""
    run = with_store("staging", tls=False)
    env = {e["name"]: e.get("value") for e in job_pod(run)["containers"][0]["env"]}
    assert env["AWS_ENDPOINT_URL"] == "http://s3.eu-central-1.amazonaws.com"
    assert egress_ports(run) == [[5432], [80]]


@pytest.mark.parametrize(
    ("tls", "port", "expected"), [(True, None, 443), (False, None, 80), (True, 8443, 8443), (False, 9000, 9000)]
)
def test_the_store_port_follows_tls_unless_set(tls: bool, port: int | None, expected: int) -> None:
    store = {**STORE, "tls": tls} | ({"port": port} if port else {})
    settings = load_config("production", {"postgres": {"backup": {"objectStore": store}}}).postgres.backup.object_store
    assert settings is not None and settings.effective_port == expected
    assert settings.url == f"{'https' if tls else 'http'}://{STORE['endpoint']}" + (f":{port}" if port else "")


NO_STORE = {"postgres": {"backup": {"objectStore": None}}}


@pytest.mark.parametrize("raw", [NO_STORE, {"postgres": {"backup": {"enabled": False}}}])
def test_production_without_an_off_cluster_copy_is_refused_unless_acknowledged(raw: dict[str, Any]) -> None:
    """Issue 23: production only warned; its dumps sat beside the data (same namespace, cluster, StorageClass)."""
    with pytest.raises(ConfigError, match=r"platform:postgres.backup.objectStore: production needs backups copied off "
                                          r".*postgres.backup.acknowledgeNoOffClusterCopy: true"):
        load_config("production", raw)
    acknowledged = {"postgres": {**raw["postgres"], "backup": {**raw["postgres"]["backup"],
                                                               "acknowledgeNoOffClusterCopy": True}}}
    assert load_config("production", acknowledged).postgres.backup.acknowledge_no_off_cluster_copy
    load_config("staging", raw)  # staging may keep its dumps on the volume
    # The library's own production defaults hold no bucket: they are refused too, naming the key.
    from components.settings import PostgresConfig

    with pytest.raises(ConfigError, match=r"platform:postgres.backup.objectStore"):
        PostgresConfig.for_environment("production")


def test_an_open_upload_egress_is_warned_at_preview() -> None:
    def about_the_store(raw: dict[str, Any], stack: str = "production") -> list[str]:
        return [w for w in config_warnings(load_config(stack, raw)) if w.startswith("platform:postgres.backup.objectStore")]

    (warning,) = about_the_store({})
    assert warning.startswith("platform:postgres.backup.objectStore.allowedCidrs: unset")
    assert about_the_store({"postgres": {"backup": {"objectStore": {**STORE, "allowedCidrs": ["52.219.0.0/16"]}}}}) == []
    assert config_warnings(load_config("staging", {})) == []


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"bucket": "Bad_Bucket"}, "postgres.backup.objectStore.bucket"),
        ({"prefix": "no-trailing-slash"}, "postgres.backup.objectStore.prefix"),
        ({"existingSecret": "Backup_S3"}, "postgres.backup.objectStore.existingSecret"),
        ({"allowedCidrs": ["10.0.0.1/8"]}, "postgres.backup.objectStore.allowedCidrs.0"),
        ({"accessKey": "AKIA..."}, "postgres.backup.objectStore.accessKey"),
    ],
)
def test_bad_object_store_settings_name_their_key(change: dict[str, Any], key: str) -> None:
    store = {k: v for k, v in {**STORE, **change}.items() if v is not None}
    with pytest.raises(ConfigError) as error:
        load_config("production", {"postgres": {"backup": {"objectStore": store}}})
    assert any(key in problem for problem in error.value.problems), error.value.problems


def test_the_warning_reaches_the_engine_at_preview(caplog: pytest.LogCaptureFixture) -> None:
    """What `pulumi preview` prints: the mock engine logs the program's warnings like the CLI shows them."""
    with caplog.at_level("WARNING"):
        production = run_program("production")
    assert production.error is None and production.resources  # a warning, not an error
    assert [r for r in caplog.records if "postgres.backup.objectStore.allowedCidrs" in r.getMessage()]
    caplog.clear()
    with caplog.at_level("WARNING"):
        with_store("production", allowedCidrs=["52.219.0.0/16"])
    assert not [r for r in caplog.records if "postgres.backup.objectStore.allowedCidrs" in r.getMessage()]


def test_the_upload_step_passes_every_policy() -> None:
    from policy import validators
    from tests.test_policy import subjects

    assert validators.violations(subjects(with_store("production"))) == {}


# ---------------------------------------------------------------- the upload script, run


FAKES = Path(__file__).parent / "fakes"


def upload(
    tmp_path: Path, local: list[str], remote: list[str], bucket: bool = True, keys: bool = True
) -> tuple[int, str, Path, list[dict]]:
    """Run the rendered upload step with the fake `aws` first on PATH and each of its volumes at a
    temporary directory; return (exit code, output, the bucket's prefix, aws calls)."""
    run = run_program("production", {"postgres": {"backup": {"objectStore": STORE}}})
    assert run.error is None, run.error
    container = job_pod(run)["containers"][0]
    assert container["command"][:2] == ["/bin/sh", "-c"]
    mounts = {m["mountPath"]: tmp_path / m["name"] for m in container["volumeMounts"]}

    paths = re.compile("|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True)))

    def relocated(text: str) -> str:  # one pass: a relocated path is never relocated again
        return paths.sub(lambda m: str(mounts[m[0]]), text)

    for directory in mounts.values():
        directory.mkdir()
    backups, prefix = tmp_path / "backups", tmp_path / "s3" / "acme-backups" / "platform" / "prod"
    for name in local:
        (backups / name).write_text(f"dump {name}")
    if bucket:
        prefix.mkdir(parents=True)
        for name in remote:
            (prefix / name).write_text("old")
    env = {e["name"]: relocated(e["value"]) for e in container["env"] if "value" in e}
    if keys:
        for variable in ("AWS_ACCESS_KEY_ID_FILE", "AWS_SECRET_ACCESS_KEY_FILE"):
            Path(env[variable]).write_text("fake")
    env |= {"FAKE_DIR": str(tmp_path), "HOME": str(tmp_path), "PATH": f"{FAKES}:/usr/bin:/bin"}
    script = relocated(container["command"][2])
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False)
    log = tmp_path / "calls.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done.returncode, done.stdout + done.stderr, prefix, calls


def test_the_upload_copies_the_newest_dump_and_never_deletes_in_the_bucket(tmp_path: Path) -> None:
    # Written out of order: the newest is chosen by its name (the UTC time stamp), not the listing.
    local = ["20260103T030000Z.dump", "20260101T030000Z.dump", "20260104T030000Z.dump", "20260102T030000Z.dump"]
    remote = ["20251230T030000Z.dump", "20251231T030000Z.dump", "restore-notes.txt"]
    code, output, prefix, calls = upload(tmp_path, local, remote)
    assert code == 0, output
    assert [c["args"] for c in calls] == [["s3", "cp", str(tmp_path / "backups" / "20260104T030000Z.dump"),
                                           "s3://acme-backups/platform/prod/20260104T030000Z.dump"]]
    assert (prefix / "20260104T030000Z.dump").read_text() == "dump 20260104T030000Z.dump"
    assert sorted(p.name for p in prefix.iterdir()) == sorted([*remote, "20260104T030000Z.dump"])  # nothing removed
    assert {c["env"]["AWS_ENDPOINT_URL"] for c in calls} == {"https://s3.eu-central-1.amazonaws.com"}
    assert {c["env"]["AWS_ACCESS_KEY_ID"] for c in calls} == {"fake"}  # read from the mounted Secret's file
    assert "uploaded 20260104T030000Z.dump to s3://acme-backups/platform/prod/" in output


def test_a_failed_upload_fails_the_job(tmp_path: Path) -> None:
    code, output, _, calls = upload(tmp_path, ["20260104T030000Z.dump"], [], bucket=False)
    assert code != 0 and "NoSuchBucket" in output and "uploaded" not in output
    assert [c["args"][1] for c in calls] == ["cp"]


def test_missing_credentials_fail_before_any_upload(tmp_path: Path) -> None:
    code, output, _, calls = upload(tmp_path, ["20260104T030000Z.dump"], [], keys=False)
    assert code != 0 and "postgres.backup.objectStore.existingSecret" in output and calls == []
