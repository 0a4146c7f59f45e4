"""renovate.json: valid against Renovate's schema (check-jsonschema's bundled copy, offline), and
every pin it is meant to keep current is really found by it: each custom regex manager is run
(translated to Python's syntax) over the files it names, and must match what the files pin.
A reformatted config default or a moved version variable fails here instead of going stale.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.test_workflows import schema

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "renovate.json"


def config() -> dict[str, Any]:
    return dict(json.loads(CONFIG.read_text()))


def tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def pattern(manager_file_pattern: str) -> re.Pattern[str]:
    assert manager_file_pattern.startswith("/") and manager_file_pattern.endswith("/"), manager_file_pattern
    return re.compile(manager_file_pattern[1:-1])


def python_regex(renovate_regex: str) -> re.Pattern[str]:
    """Renovate's regexes are JavaScript's: named groups are (?<name>...)."""
    return re.compile(renovate_regex.replace("(?<", "(?P<"))


def found(description: str) -> list[tuple[str, dict[str, str]]]:
    """(file, named groups) of every match of the custom manager with this description."""
    (manager,) = [m for m in config()["customManagers"] if m["description"].startswith(description)]
    files = [f for f in tracked() if any(pattern(p).search(f) for p in manager["managerFilePatterns"])]
    return [
        (f, match.groupdict())
        for f in files
        for regex in manager["matchStrings"]
        for match in python_regex(regex).finditer((ROOT / f).read_text())
    ]


def test_the_config_matches_renovates_schema() -> None:
    out = schema("vendor.renovate", CONFIG)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_schema_check_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = config()
    broken["customManagers"][0]["matchStrings"] = "not a list"
    bad = tmp_path / "renovate.json"
    bad.write_text(json.dumps(broken))
    out = schema("vendor.renovate", bad)
    assert out.returncode != 0 and "matchStrings" in out.stdout + out.stderr


def test_every_pip_requirements_file_is_covered() -> None:
    patterns = [pattern(p) for p in config()["pip_requirements"]["managerFilePatterns"]]
    files = [f for f in tracked() if re.search(r"(^|/)requirements[^/]*\.txt$", f)]
    assert {"requirements.txt", "requirements-dev.txt", "requirements-gates.txt", "policy/requirements.txt"} <= set(files)
    for f in files:
        assert any(p.search(f) for p in patterns), f


def test_actions_stay_pinned_by_sha() -> None:
    data = config()
    assert "helpers:pinGitHubActionDigests" in data["extends"]
    (rule,) = [r for r in data["packageRules"] if r.get("matchManagers") == ["github-actions"]]
    assert rule["pinDigests"] is True


# Where image and chart defaults live: each component's settings, and this program's own choices.
DEFAULTS = [*sorted((ROOT / "components" / "settings").glob("*.py")), ROOT / "environments.py"]


def test_every_image_in_the_config_defaults_is_found() -> None:
    source = "".join(path.read_text() for path in DEFAULTS)
    images = found("Container images")
    assert len(images) == source.count('"repository":') >= 5
    names = {groups["depName"] for _, groups in images}
    assert {"docker.io/library/postgres", "docker.io/library/redis", "ghcr.io/stefanprodan/podinfo"} <= names
    assert all(groups["currentValue"] and groups["currentValue"] != "latest" for _, groups in images)


@pytest.mark.parametrize(("description", "count"), [("kube-prometheus-stack chart", 1), ("fluent-bit", 1)])
def test_both_chart_versions_are_found(description: str, count: int) -> None:
    source = "".join(path.read_text() for path in DEFAULTS)
    versions = [groups["currentValue"] for _, groups in found(description)]
    assert len(versions) == count and all(f'"chartVersion": "{v}"' in source for v in versions)
    assert len(found("kube-prometheus-stack chart")) + len(found("fluent-bit")) == source.count('"chartVersion":')


def test_the_pulumi_cli_of_the_workflows_is_found_and_matches_the_sdk() -> None:
    sdk = re.search(r"^pulumi==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert sdk
    hits = found("The Pulumi CLI the workflows install")
    assert {f for f, _ in hits} == {".github/actions/pulumi/action.yml"}  # the only place pulumi is installed
    assert {g["currentValue"] for _, g in hits} == {sdk.group(1)}


@pytest.mark.parametrize(
    ("description", "file"),
    [
        ("The Go version CI", ".github/workflows/test.yml"),
        ("Kubernetes control plane", "scripts/toolchain.sh"),
        ("etcd", "scripts/toolchain.sh"),
        ("Upstream modules", "scripts/upstream.lock"),
        ("The Pulumi CLI built", "scripts/toolchain.sh"),
        ("promtool", "scripts/promtool.sh"),
        ("actionlint", "Makefile"),
    ],
)
def test_every_go_toolchain_pin_is_found(description: str, file: str) -> None:
    hits = found(description)
    assert hits and {f for f, _ in hits} == {file}
    for _, groups in hits:
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", groups["currentValue"]), groups


def test_the_go_modules_of_the_toolchain_are_renovates_own() -> None:
    """gomod is on by default for every go.mod; only the pseudo-version provider is left to a person."""
    mods = [f for f in tracked() if f.startswith("scripts/toolchain/") and f.endswith("go.mod")]
    assert len(mods) >= 5
    kubernetes = (ROOT / "scripts/toolchain/kubernetes/go.mod").read_text()
    (k8s,) = [g["currentValue"] for _, g in found("Kubernetes control plane")]
    assert f"k8s.io/kubernetes {k8s}" in kubernetes  # the two pins Renovate groups agree today
