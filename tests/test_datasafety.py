"""tools/datasafety.py: the "does this destroy data?" summary at the top of every preview comment.

From the preview JSON: real `pulumi preview --json --show-secrets` output of the local engine
(tests/fixtures/delivery/, made by tests/integration/test_datasafety_real.py, which also asserts
the summary against the engine directly). From the offline render: rendered objects as
tools/render.py writes them (Secret values masked).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tools import datasafety

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "delivery"


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text()))


def lines(found: list[datasafety.Finding]) -> list[str]:
    return [f.line() for f in found]


# ---------------------------------------------------------------- from the real preview JSON


def test_a_replaced_statefulset_is_named_with_its_reason() -> None:
    found = datasafety.from_preview(fixture("preview-replace-statefulset.json"))
    replaced = [f for f in found if f.kind == "StatefulSet" and "REPLACED" in f.what]
    assert len(replaced) == 1 and replaced[0].name == "redis-statefulset", lines(found)
    assert replaced[0].what.startswith("REPLACED") and "spec" in replaced[0].what  # replaceReasons of the real JSON


def test_lowering_keep_is_reported_with_both_values() -> None:
    found = datasafety.from_preview(fixture("preview-lower-keep.json"))
    assert any(f.kind == "CronJob" and "KEEP lowered" in f.what and "7 → 2" in f.what for f in found), lines(found)
    # The same preview replaced the password (`--replace`): that, and nothing else, is replaced.
    assert {f.kind for f in found if "REPLACED" in f.what} == {"RandomPassword", "Secret"}, lines(found)
    assert not any("DELETED" in f.what for f in found), lines(found)


def secret_step(preview: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in preview["steps"] if s.get("newState", {}).get("type") == "kubernetes:core/v1:Secret")


def test_a_changed_secret_is_reported_though_the_cli_masks_it() -> None:
    """The real JSON prints the Secret's maps as "[secret]" (even with --show-secrets): the summary
    says the section changed and that its keys are masked, and invents no key."""
    found = [f for f in datasafety.from_preview(fixture("preview-lower-keep.json")) if f.kind == "Secret"]
    lines_ = "\n".join(f.line() for f in found)
    assert "`stringData` changed; its keys and values are masked by the CLI ([secret])" in lines_, lines_
    assert "key `" not in lines_


def test_where_values_are_visible_each_key_gets_fingerprints_never_the_value() -> None:
    """The same real step with the maps as a provider that does not mask them would give."""
    preview = fixture("preview-lower-keep.json")
    step = secret_step(preview)
    step["oldState"]["inputs"]["data"] = {"password": "b2xkLXNlY3JldA==", "user": "YXBw"}
    step["newState"]["inputs"]["data"] = {"password": "bmV3LXNlY3JldA==", "user": "YXBw", "token": "dG9r"}
    step["newState"]["inputs"].pop("stringData", None)
    step["oldState"]["inputs"].pop("stringData", None)
    found = [f for f in datasafety.from_preview(preview) if f.kind == "Secret" and "key `" in f.what]
    report = datasafety.markdown("dev", found, "test")
    assert [f.what.split(":")[0] for f in found] == ["key `password` changed", "key `token` changed"], report
    for value in ("b2xkLXNlY3JldA==", "bmV3LXNlY3JldA==", "dG9r", "old-secret", "new-secret"):
        assert value not in report
    before, _, after = found[0].what.rpartition(": ")[2].partition(" → ")
    assert len(before) == len(after) == 8 and before != after
    assert found[1].what.endswith(f"(none) → {datasafety.fingerprint('dG9r')}")


def test_no_risky_step_says_so() -> None:
    preview = fixture("preview-lower-keep.json")
    preview["steps"] = [s for s in preview["steps"] if s["op"] in ("same", "create")]
    assert preview["steps"]
    report = datasafety.markdown("dev", datasafety.from_preview(preview), "from `pulumi preview --json`")
    assert report.startswith("#### :white_check_mark: Data safety of `dev`: nothing")


@pytest.mark.parametrize("option", ["protect", "retainOnDelete"])
def test_removing_protect_or_retain_on_delete_is_reported(option: str) -> None:
    preview = fixture("preview-lower-keep.json")
    step = next(s for s in preview["steps"] if s["op"] == "update")
    step["oldState"][option] = True
    step["newState"].pop(option, None)
    found = datasafety.from_preview(preview)
    assert any(f.what == f"`{option}` removed" and f.name == step["urn"].split("::")[-1] for f in found), lines(found)


def test_a_deleted_data_object_is_deleted_unless_retained() -> None:
    preview = fixture("preview-replace-statefulset.json")
    step = copy.deepcopy(next(s for s in preview["steps"] if s["op"] in ("replace", "create-replacement")))
    step["op"] = "delete"
    preview["steps"] = [step]
    assert "DELETED" in datasafety.from_preview(preview)[0].what
    step["oldState"]["retainOnDelete"] = True
    assert "kept in the cluster" in datasafety.from_preview(preview)[0].what


def test_fingerprints_compare_within_one_report_only() -> None:
    assert datasafety.fingerprint("s3cret") == datasafety.fingerprint("s3cret") != datasafety.fingerprint("s3cret!")
    assert datasafety.fingerprint(datasafety.ABSENT) == "(none)"


# ---------------------------------------------------------------- from the offline render (fork pull requests)


def cronjob(keep: str = "7", suspend: bool = False, init: bool = False) -> dict[str, Any]:
    container = {"name": "pg-dump", "env": [{"name": "PGHOST", "value": "postgres"}, {"name": "KEEP", "value": keep}]}
    # init: the dump runs as an init container before an upload (backup.objectStore)
    steps = {"initContainers": [container], "containers": [{"name": "upload"}]} if init else {"containers": [container]}
    spec: dict[str, Any] = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": steps}}}}
    if suspend:
        spec["suspend"] = True
    meta = {"name": "postgres-backup", "namespace": "dev", "labels": {"app.kubernetes.io/component": "backup"}}
    return {"kind": "CronJob", "metadata": meta, "spec": spec}


def secret(**data: str) -> dict[str, Any]:
    return {"kind": "Secret", "metadata": {"name": "postgres-a1b2c3d4", "namespace": "dev"}, "data": data}


def statefulset(when_deleted: str = "Retain") -> dict[str, Any]:
    policy = {"whenDeleted": when_deleted, "whenScaled": "Retain"}
    return {"kind": "StatefulSet", "metadata": {"name": "postgres", "namespace": "dev"},
            "spec": {"serviceName": "postgres", "persistentVolumeClaimRetentionPolicy": policy}}


def release(retention: str) -> dict[str, Any]:
    values = {"prometheus": {"prometheusSpec": {"retention": retention, "retentionSize": "9GB"}}}
    return {"kind": "Release", "metadata": {"name": "monitoring", "namespace": "monitoring"}, "spec": {"values": values}}


def keyed(*objects: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{o['kind']} {o['metadata']['namespace']}/{o['metadata']['name']}": o for o in objects}


MASK = "<masked>"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ([statefulset()], [], "**StatefulSet** `dev/postgres`: DELETED"),
        ([cronjob()], [], "backups DISABLED"),
        ([cronjob("7")], [cronjob("3")], "KEEP lowered: `spec.jobTemplate.spec.template.spec.containers[pg-dump].env[KEEP].value` 7 → 3"),  # noqa: E501
        ([cronjob("7")], [cronjob("3", init=True)], "KEEP lowered"),  # moved to initContainers and lowered
        ([cronjob("7")], [{**cronjob(), "spec": {"schedule": "0 3 * * *"}}], "`spec.jobTemplate.spec.template.spec.containers[pg-dump].env[KEEP].value` removed"),  # noqa: E501
        ([cronjob()], [cronjob(suspend=True)], "backups SUSPENDED"),
        ([release("15d")], [release("36h")], "retention lowered: `spec.values.prometheus.prometheusSpec.retention` 15d → 36h"),
        ([statefulset()], [statefulset("Delete")], "volumes are now DELETED with the StatefulSet"),
        ([secret(password=MASK)], [secret(password=MASK, token=MASK)], "key `token` added (values masked offline)"),
        ([secret(password=MASK, old=MASK)], [secret(password=MASK)], "key `old` removed (values masked offline)"),
    ],
)
def test_the_render_diff_flags_what_loses_data(old: list[dict[str, Any]], new: list[dict[str, Any]], expected: str) -> None:
    found = datasafety.from_manifests(keyed(*old), keyed(*new))
    assert any(expected in line for line in lines(found)), lines(found)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ([cronjob("7")], [cronjob("14")]),  # keeping more is safe
        ([cronjob("7")], [cronjob("7", init=True)]),  # the dump moved to an init container, KEEP kept
        ([cronjob("7", init=True)], [cronjob("7")]),
        ([release("7d")], [release("15d")]),
        ([secret(password=MASK)], [secret(password=MASK)]),
        ([], [statefulset()]),  # a new object destroys nothing
    ],
)
def test_the_render_diff_stays_quiet_about_safe_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    assert datasafety.from_manifests(keyed(*old), keyed(*new)) == []


def test_a_replacement_found_by_the_render_diff_is_reported() -> None:
    old, new = statefulset(), statefulset()
    new["spec"]["serviceName"] = "db"
    found = datasafety.from_manifests(keyed(old), keyed(new), replaced=["StatefulSet dev/postgres"])
    assert lines(found) == ["- **StatefulSet** `dev/postgres`: REPLACED (an immutable field changed; data may be lost)"]


@pytest.mark.parametrize(
    ("value", "seconds"), [("15d", 15 * 86400), ("36h", 36 * 3600), ("9GB", 9e9), ("8Gi", 8 * 1024**3), ("7", 7)]
)
def test_magnitudes_compare_durations_and_sizes(value: str, seconds: float) -> None:
    assert datasafety.magnitude(value) == seconds
