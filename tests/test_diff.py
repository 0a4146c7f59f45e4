"""The PR diff: added/removed/changed objects per stack, with the changes reviewers must not miss flagged."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ROOT
from tools.diff import StackDiff, diff_dirs, markdown_report, text_report
from tools.render import MASK, dump, file_name

SELECTOR = {"matchLabels": {"app.kubernetes.io/name": "postgres", "app.kubernetes.io/instance": "dev"}}


def statefulset() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "postgres", "namespace": "dev"},
        "spec": {
            "serviceName": "postgres-headless",
            "selector": copy.deepcopy(SELECTOR),
            "template": {
                "spec": {"containers": [{"name": "postgres", "image": "postgres:17.1"}, {"name": "exporter", "image": "e:1"}]}
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}],
        },
    }


def pvc() -> dict[str, Any]:
    spec = {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard", "resources": {"requests": {"storage": "1Gi"}}}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "backups", "namespace": "dev"},
        "spec": spec,
    }


def secret(value: str = MASK) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "dev"},
        "stringData": {"password": value},
    }


def write(root: Path, stacks: dict[str, list[dict[str, Any]]]) -> Path:
    for stack, objects in stacks.items():
        (root / stack).mkdir(parents=True)
        for obj in objects:
            (root / stack / file_name(obj)).write_text(dump(obj))
    return root


def compare(tmp_path: Path, old: list[dict[str, Any]], new: list[dict[str, Any]], stack: str = "dev") -> StackDiff:
    (diff,) = diff_dirs(write(tmp_path / "old", {stack: old}), write(tmp_path / "new", {stack: new}))
    return diff


def test_a_statefulset_selector_change_is_flagged_as_a_data_bearing_replacement(tmp_path: Path):
    new = statefulset()
    new["spec"]["selector"]["matchLabels"]["app.kubernetes.io/version"] = "17.2"
    diff = compare(tmp_path, [statefulset()], [new])
    (obj,) = diff.objects
    assert obj.status == "changed" and obj.key == "StatefulSet dev/postgres"
    assert obj.flags == ["REPLACED (data-bearing: data may be lost): immutable spec.selector changed"]
    assert "StatefulSet dev/postgres: REPLACED" in text_report([diff])


def test_a_volume_claim_template_change_is_flagged_as_a_replacement(tmp_path: Path):
    new = statefulset()
    new["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "5Gi"
    (obj,) = compare(tmp_path, [statefulset()], [new]).objects
    assert obj.flags == ["REPLACED (data-bearing: data may be lost): immutable spec.volumeClaimTemplates changed"]
    assert [c.path for c in obj.changes] == ["spec.volumeClaimTemplates[data].spec.resources.requests.storage"]


def test_an_image_change_is_a_plain_field_change_addressed_by_container_name(tmp_path: Path):
    new = statefulset()
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "postgres:17.2"
    (obj,) = compare(tmp_path, [statefulset()], [new]).objects
    assert obj.flags == []
    assert [(c.path, c.old, c.new) for c in obj.changes] == [
        ("spec.template.spec.containers[postgres].image", "postgres:17.1", "postgres:17.2")
    ]


def test_pvc_expansion_is_in_place_but_other_pvc_changes_replace(tmp_path: Path):
    bigger, other_class = pvc(), pvc()
    bigger["spec"]["resources"]["requests"]["storage"] = "10Gi"
    other_class["spec"]["storageClassName"] = "fast"
    assert compare(tmp_path / "a", [pvc()], [bigger]).objects[0].flags == []
    assert compare(tmp_path / "b", [pvc()], [other_class]).objects[0].flags == [
        "REPLACED (data-bearing: data may be lost): immutable spec changed"
    ]


def test_deleting_a_credentials_secret_is_flagged_and_adding_an_object_is_not(tmp_path: Path):
    diff = compare(tmp_path, [secret()], [statefulset()])
    by_key = {obj.key: obj for obj in diff.objects}
    assert by_key["Secret dev/db"].status == "removed"
    assert by_key["Secret dev/db"].flags == ["DELETED: data-bearing object, its data goes with it"]
    assert by_key["StatefulSet dev/postgres"].status == "added" and by_key["StatefulSet dev/postgres"].flags == []


def test_secret_values_never_reach_the_report(tmp_path: Path):
    # Even if a directory rendered elsewhere held real values, the report masks Secret data.
    diff = compare(tmp_path, [secret("hunter2")], [secret("correct-horse")])
    (obj,) = diff.objects
    assert obj.flags == ["REPLACED (data-bearing: data may be lost): immutable stringData changed"]
    for report in (text_report([diff]), markdown_report([diff])):
        assert "hunter2" not in report and "correct-horse" not in report and MASK in report


def test_any_change_in_production_is_flagged_and_no_change_is_quiet(tmp_path: Path):
    new = statefulset()
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "postgres:17.2"
    production = compare(tmp_path / "a", [statefulset()], [new], stack="production")
    assert production.flags == ["production: every change here reaches users"]
    unchanged = compare(tmp_path / "b", [statefulset()], [statefulset()], stack="production")
    assert unchanged.objects == [] and unchanged.flags == []
    assert "no changes" in text_report([unchanged])


def test_markdown_puts_the_flags_first(tmp_path: Path):
    new = statefulset()
    new["spec"]["serviceName"] = "db"
    report = markdown_report([compare(tmp_path, [statefulset()], [new], stack="production")])
    flags_at, details_at = report.index("Reviewers must not miss"), report.index("<details>")
    assert flags_at < details_at
    assert "**production**: StatefulSet dev/postgres: REPLACED" in report
    assert '~ spec.serviceName: "postgres-headless" -> "db"' in report


def diff_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.diff", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout")
def test_the_command_renders_a_git_ref_against_the_working_tree():
    """HEAD versus the working tree through a temporary worktree: no cluster, no backend, no secrets."""
    result = diff_cli("--base", "HEAD", "--stack", "dev", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    # The data-safety summary opens the comment (tests/test_datasafety.py), then the diff.
    assert result.stdout.startswith("#### :white_check_mark: Data safety of `dev`"), result.stdout[:300]
    assert "\n## Rendered changes" in result.stdout and "### `dev`" in result.stdout
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "platform-diff-" not in worktrees, "the temporary worktree was left behind"


def test_the_command_compares_rendered_directories(tmp_path: Path):
    new = statefulset()
    new["spec"]["selector"] = {"matchLabels": {"app": "db"}}
    write(tmp_path / "old", {"dev": [statefulset()]})
    write(tmp_path / "new", {"dev": [new]})
    result = diff_cli("--dirs", str(tmp_path / "old"), str(tmp_path / "new"))
    assert result.returncode == 0, result.stderr
    assert "!! StatefulSet dev/postgres: REPLACED (data-bearing" in result.stdout
    assert "- **StatefulSet** `dev/postgres`: REPLACED (an immutable field changed" in result.stdout


def test_help():
    result = diff_cli("--help")
    assert result.returncode == 0 and "--format" in result.stdout
