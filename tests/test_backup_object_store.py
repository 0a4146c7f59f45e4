"""postgres.backup.objectStore: the upload step, its credentials by reference, egress, the production warning."""

from __future__ import annotations

import json
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
    pod = job_pod(runs["production"])
    assert [c["name"] for c in pod["containers"]] == ["pg-dump"] and "initContainers" not in pod
    assert egress_ports(runs["production"]) == [[5432]]


def test_the_upload_runs_after_the_dump_with_credentials_only_by_reference() -> None:
    run = with_store("production")
    pod = job_pod(run)
    assert [c["name"] for c in pod["initContainers"]] == ["pg-dump"]  # the upload only runs after a good dump
    upload = pod["containers"][0]
    assert upload["name"] == "upload" and upload["image"] == "docker.io/amazon/aws-cli:2.33.2"
    env = {e["name"]: e for e in upload["env"]}
    assert env["AWS_ENDPOINT_URL"]["value"] == "https://s3.eu-central-1.amazonaws.com"  # TLS by default
    assert env["BUCKET"]["value"] == "acme-backups" and env["PREFIX"]["value"] == "platform/prod/"
    assert env["KEEP"]["value"] == "14"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key] == {"name": key, "valueFrom": {"secretKeyRef": {"name": "backup-s3", "key": key}}}
    assert {"name": "backups", "mountPath": "/backups", "readOnly": True} in upload["volumeMounts"]
    assert upload["securityContext"]["readOnlyRootFilesystem"] is True
    assert egress_ports(run) == [[5432], [443]]


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


def test_production_without_an_object_store_is_warned_not_refused() -> None:
    production = load_config("production", {})
    assert len(config_warnings(production)) == 1 and "postgres.backup.objectStore" in config_warnings(production)[0]
    assert config_warnings(load_config("production", {"postgres": {"backup": {"objectStore": STORE}}})) == []
    assert config_warnings(load_config("staging", {})) == []


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"bucket": "Bad_Bucket"}, "postgres.backup.objectStore.bucket"),
        ({"prefix": "no-trailing-slash"}, "postgres.backup.objectStore.prefix"),
        ({"existingSecret": None}, "postgres.backup.objectStore.existingSecret"),
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
    assert [r for r in caplog.records if "postgres.backup.objectStore" in r.getMessage()]
    caplog.clear()
    with caplog.at_level("WARNING"):
        with_store("production")
    assert not [r for r in caplog.records if "postgres.backup.objectStore" in r.getMessage()]


def test_the_upload_step_passes_every_policy() -> None:
    from policy import validators
    from tests.test_policy import subjects

    assert validators.violations(subjects(with_store("production"))) == {}


# ---------------------------------------------------------------- the upload script, run


FAKES = Path(__file__).parent / "fakes"


def upload(tmp_path: Path, local: list[str], remote: list[str], bucket: bool = True) -> tuple[int, str, Path, list[dict]]:
    """Run the rendered upload step (KEEP 3) with the fake `aws` first on PATH and the backups
    volume at a temporary directory; return (exit code, output, the bucket's prefix, aws calls)."""
    run = run_program("production", {"postgres": {"backup": {"keep": 3, "objectStore": STORE}}})
    assert run.error is None, run.error
    container = job_pod(run)["containers"][0]
    assert container["command"][:2] == ["/bin/sh", "-c"]
    (mount,) = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == "backups"]
    backups, prefix = tmp_path / "backups", tmp_path / "s3" / "acme-backups" / "platform" / "prod"
    backups.mkdir()
    for name in local:
        (backups / name).write_text(f"dump {name}")
    if bucket:
        prefix.mkdir(parents=True)
        for name in remote:
            (prefix / name).write_text("old")
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env |= {"AWS_ACCESS_KEY_ID": "fake", "AWS_SECRET_ACCESS_KEY": "fake", "FAKE_DIR": str(tmp_path),
            "HOME": str(tmp_path), "PATH": f"{FAKES}:/usr/bin:/bin"}
    script = container["command"][2].replace(mount, str(backups))
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False)
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    return done.returncode, done.stdout + done.stderr, prefix, calls


def test_the_upload_copies_the_newest_dump_and_keeps_the_newest_in_the_bucket(tmp_path: Path) -> None:
    # Written out of order: the newest is chosen by its name (the UTC time stamp), not the listing.
    local = ["20260103T030000Z.dump", "20260101T030000Z.dump", "20260104T030000Z.dump", "20260102T030000Z.dump"]
    remote = ["20251230T030000Z.dump", "20251231T030000Z.dump", "20260101T030000Z.dump", "20260102T030000Z.dump",
              "20260103T030000Z.dump", "restore-notes.txt"]
    code, output, prefix, calls = upload(tmp_path, local, remote)
    assert code == 0, output
    copies = [c["args"] for c in calls if c["args"][:2] == ["s3", "cp"]]
    assert copies == [["s3", "cp", str(tmp_path / "backups" / "20260104T030000Z.dump"),
                       "s3://acme-backups/platform/prod/20260104T030000Z.dump"]]
    assert (prefix / "20260104T030000Z.dump").read_text() == "dump 20260104T030000Z.dump"
    # The newest KEEP (3) dumps stay; a file that is no dump is never touched.
    assert sorted(p.name for p in prefix.iterdir()) == [
        "20260102T030000Z.dump", "20260103T030000Z.dump", "20260104T030000Z.dump", "restore-notes.txt"]
    assert {c["env"]["AWS_ENDPOINT_URL"] for c in calls} == {"https://s3.eu-central-1.amazonaws.com"}
    assert "uploaded 20260104T030000Z.dump to s3://acme-backups/platform/prod/" in output


def test_a_failed_upload_fails_the_job_and_deletes_nothing(tmp_path: Path) -> None:
    code, output, _, calls = upload(tmp_path, ["20260104T030000Z.dump"], [], bucket=False)
    assert code != 0 and "NoSuchBucket" in output
    assert [c["args"][1] for c in calls] == ["cp"]  # no listing, no deletion after the failure
