"""What an upgrade of a deployed stack may change: the offline side of the upgrade test.

    python -m tools.upgrade --root CHECKOUT --stack dev [--config JSON]

prints ``{urn: {inputs, dependencies}}`` of every resource the program at ``CHECKOUT`` registers
under the mock engine (this checkout's harness, that checkout's program, as tools/render.py does).
``changed_urns`` compares two checkouts: the resources whose inputs differ, or that exist in
only one, plus the dependents of a changed auto-named object (its replacement gets a new name,
which the mock's fixed suffix hides). A real ``pulumi preview`` of the upgrade may touch only those.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.engine import ROOT, run_program

# Deleting or replacing one of these loses data (a Namespace takes everything in it along).
DATA_BEARING_TYPES = {
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:Namespace",
    "random:index/randomPassword:RandomPassword",
}
# Preview step ops that remove the existing object (``pulumi preview --json`` steps[].op).
DESTRUCTIVE_OPS = {"replace", "create-replacement", "delete-replaced", "delete", "discard", "discard-replaced"}


def registered(root: Path, stack: str, config: dict[str, Any]) -> dict[str, Any]:
    """{urn: {"inputs": ..., "dependencies": [...]}} of the program at ``root``, run in a fresh
    interpreter (its own ``components``)."""
    cmd = [sys.executable, "-m", "tools.upgrade", "--root", str(root), "--stack", stack, "--config", json.dumps(config)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"the program at {root} failed under mocks:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def changed_urns(base: Path, head: Path, stack: str, config: dict[str, Any]) -> set[str]:
    old, new = registered(base, stack, config), registered(head, stack, config)
    changed = {urn for urn in old.keys() | new.keys() if (old.get(urn) or {}).get("inputs") != (new.get(urn) or {}).get("inputs")}
    renamed = {urn for urn in changed & new.keys() if not (new[urn]["inputs"].get("metadata") or {}).get("name")}
    return changed | {urn for urn, r in new.items() if renamed & set(r["dependencies"])}


def urn_type(urn: str) -> str:
    """``urn:pulumi:dev::platform::platform:index:Postgres$kubernetes:apps/v1:StatefulSet::postgres-statefulset``
    -> ``kubernetes:apps/v1:StatefulSet``."""
    return urn.split("::")[2].rsplit("$", 1)[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.upgrade", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--config", default="{}", help="config overrides as JSON, as tools.engine.run_program takes them")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    sys.path.insert(0, str(root))  # that checkout's components, not this one's
    os.chdir(root)
    run = run_program(args.stack, json.loads(args.config), root=root)
    if run.error is not None:
        print(f"error: {run.error}", file=sys.stderr)
        return 1
    resources = {r.urn: {"inputs": r.inputs, "dependencies": r.depends_on} for r in run.resources}
    print(json.dumps(resources, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
