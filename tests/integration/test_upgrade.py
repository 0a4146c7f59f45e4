"""The upgrade check every change gets: deploy dev with the program at a base revision, then
preview the working tree on the same state.

Base: the merge-base with `main` on a branch, the previous commit (HEAD^) on `main` itself, so
CI on main always compares two different revisions. No data-bearing object (StatefulSet, PVC,
Secret, Namespace, RandomPassword) may be replaced or deleted, and the preview may change only
what the offline render says changed between the two revisions (tools/upgrade.py): with no
intended change, nothing.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.diff import _git, worktree
from tools.engine import ROOT
from tools.realengine import CODE_FILES, LOCAL_OVERRIDES, Workspace, copy_project, write_local_config
from tools.upgrade import DATA_BEARING_TYPES, DESTRUCTIVE_OPS, changed_urns, urn_type

pytestmark = pytest.mark.integration
NAMESPACE = "it-upgrade"
CONFIG = {**LOCAL_OVERRIDES, "platform:namespace": {"name": NAMESPACE}}


def base_revision() -> str:
    head = _git("rev-parse", "HEAD")
    for main in ("main", "origin/main"):
        try:
            main_commit = _git("rev-parse", "--verify", "--quiet", f"{main}^{{commit}}")
        except subprocess.CalledProcessError:
            continue
        return _git("rev-parse", "HEAD^") if main_commit == head else _git("merge-base", main, "HEAD")
    return _git("rev-parse", "HEAD^")  # no main branch in this clone: the previous commit


@pytest.fixture(scope="module")
def base_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with worktree(base_revision(), tmp_path_factory.mktemp("upgrade") / "base") as tree:
        yield tree


def test_upgrade_from_the_base_revision_keeps_data_and_changes_only_what_the_diff_shows(
    workspace: Workspace, base_tree: Path, tmp_path: Path
) -> None:
    extra = {"platform:namespace": {"name": NAMESPACE}}
    ws = Workspace.create(tmp_path, workspace.env, root=base_tree)
    ws.init_stack("dev", extra, root=base_tree)  # the base's code and stack file
    try:
        ws.pulumi("up", "--yes", "--skip-preview", stack="dev", timeout=1200)
        # The working tree's program and stack config, on the base's state.
        copy_project(ws.dir, ROOT, CODE_FILES)
        write_local_config(ws.dir / "Pulumi.dev.yaml", "dev", extra)
        # A preview that fails (say, a replacement the provider refuses) still lists its steps.
        preview = ws.pulumi("preview", "--json", stack="dev", check=False)
        steps = json.loads(preview.stdout or "{}").get("steps", [])
        changed = {s["urn"]: s["op"] for s in steps if s["op"] != "same"}
        destructive = {urn: op for urn, op in changed.items() if urn_type(urn) in DATA_BEARING_TYPES and op in DESTRUCTIVE_OPS}
        assert destructive == {}, f"the upgrade would replace or delete data-bearing objects: {destructive}"
        assert preview.returncode == 0, f"the preview of the upgrade failed:\n{preview.stdout[-3000:]}\n{preview.stderr[-3000:]}"
        assert steps, "the preview returned no steps: nothing was compared"
        intended = changed_urns(base_tree, ROOT, "dev", CONFIG)
        assert set(changed) <= intended, {urn: op for urn, op in changed.items() if urn not in intended}
    finally:
        ws.pulumi("destroy", "--yes", "--remove", "--skip-preview", stack="dev", timeout=1200, check=False)
        ws.delete_namespaces(NAMESPACE)
