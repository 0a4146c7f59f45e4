"""postgres.backup.objectStore: the upload step, its credentials by reference, egress, the production warning."""

from __future__ import annotations

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
