"""Checkov exceptions scoped to single objects must be the ones .checkov.yaml lists."""

from __future__ import annotations

import re

import yaml

from tests.harness import ROOT, Run

SKIP = re.compile(r"^checkov\.io/skip\d+$")
LISTED = re.compile(r"^# object-exception: (CKV_\w+) ((?:\w+/[\w-]+ )+)- \S", re.MULTILINE)


def documented() -> set[tuple[str, str]]:
    text = (ROOT / ".checkov.yaml").read_text()
    return {(check, target) for check, targets in LISTED.findall(text) for target in targets.split()}


def test_the_list_is_parsed() -> None:
    assert ("CKV_K8S_35", "Deployment/api") in documented()
    assert len(documented()) == 4


def test_object_skips_are_documented_in_checkov_yaml(run: Run) -> None:
    allowed = documented()
    for resource in run.kubernetes():
        for key, value in (resource.metadata.get("annotations") or {}).items():
            if SKIP.match(key):
                check = value.split("=", 1)[0]
                assert (check, f"{resource.kind}/{resource.metadata.get('name')}") in allowed, (
                    resource.kind,
                    resource.name,
                    value,
                )
                assert "=" in value and len(value.split("=", 1)[1]) > 20, f"{resource.name}: a skip needs its reason"


def test_global_skips_stay_few() -> None:
    assert yaml.safe_load((ROOT / ".checkov.yaml").read_text())["skip-check"] == ["CKV_K8S_43"]
