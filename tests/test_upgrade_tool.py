"""tools/upgrade.py, the offline side of the upgrade test: which URNs two checkouts change."""

from __future__ import annotations

import shutil
from pathlib import Path

from tools.engine import ROOT
from tools.realengine import CODE_FILES, LOCAL_OVERRIDES
from tools.upgrade import changed_urns, urn_type

CONFIG = {**LOCAL_OVERRIDES, "platform:namespace": {"name": "it-upgrade"}}


def _copy(target: Path) -> Path:
    for name in [*CODE_FILES, "Pulumi.dev.yaml"]:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_changed_urns_sees_exactly_the_changed_resource(tmp_path: Path) -> None:
    base, head = _copy(tmp_path / "base"), _copy(tmp_path / "head")
    assert changed_urns(base, head, "dev", CONFIG) == set()
    # A code change in the head checkout only (its own components are run, not this repository's).
    redis = head / "components" / "redis.py"
    redis.write_text(redis.read_text().replace('"appendfsync everysec"', '"appendfsync always"'))
    changed = changed_urns(base, head, "dev", CONFIG)
    # The auto-named ConfigMap gets a new name, so the StatefulSet mounting it changes too.
    assert {urn.rsplit("::", 1)[1] for urn in changed} == {"redis-config", "redis-statefulset"}


def test_urn_type_is_the_innermost_type() -> None:
    urn = "urn:pulumi:dev::platform::platform:index:Postgres$kubernetes:apps/v1:StatefulSet::postgres-statefulset"
    assert urn_type(urn) == "kubernetes:apps/v1:StatefulSet"
    assert urn_type("urn:pulumi:dev::platform::random:index/randomPassword:RandomPassword::x") == (
        "random:index/randomPassword:RandomPassword"
    )
