"""Render every Kubernetes object of a stack to YAML, offline: no cluster, no backend, no secrets.

The program runs under the mock engine (tools/engine.py) with the stack's real config; each
captured object becomes one file ``<out>/<stack>/<kind>-<namespace>-<name>.yaml``. The output
is deterministic (fixed auto-name suffix, sorted keys, stable file names) so two renders diff
cleanly, and secret values are masked.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from tools.engine import AUTONAME_SUFFIX, ROOT, Registered, run_program

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
MASK = "<masked>"
# An ephemeral review environment: a stack with no stack file, rendered with the others.
EPHEMERAL_EXAMPLE = "pr-123"
SECRET_DATA_KEYS = ("data", "stringData")


def all_stacks(root: Path = ROOT) -> list[str]:
    """Every stack with a ``Pulumi.<stack>.yaml``, plus one ephemeral stack without a file."""
    return [*sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml")), EPHEMERAL_EXAMPLE]


def api_version_kind(type_token: str) -> tuple[str, str]:
    """``kubernetes:apps/v1:Deployment`` -> ``("apps/v1", "Deployment")``; the core group has no prefix."""
    _, group_version, kind = type_token.split(":")
    group, _, version = group_version.rpartition("/")
    return (version if group in ("core", "") else group_version), kind


def plain(value: Any) -> Any:
    """Undo the wire form's floats where they are integral (replicas: 3.0 -> 3)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: plain(child) for key, child in value.items()}
    if isinstance(value, list):
        return [plain(child) for child in value]
    return value


def masked(value: Any, secret_paths: set[str], path: str = "", secret: bool = False) -> Any:
    """Replace every value the SDK sent as a secret; paths are spelt as ``engine._secret_paths`` spells them.

    A secret map or list keeps its shape (keys stay readable, the object stays valid); its leaves are masked.
    """
    secret = secret or (path or ".") in secret_paths
    if isinstance(value, dict):
        return {key: masked(child, secret_paths, f"{path}.{key}" if path else key, secret) for key, child in value.items()}
    if isinstance(value, list):
        return [masked(child, secret_paths, f"{path}[{i}]", secret) for i, child in enumerate(value)]
    return MASK if secret else value


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(child) for child in value]
    return value


def manifest(resource: Registered) -> dict[str, Any]:
    """One object as it would be applied: apiVersion, kind, metadata first, then the rest sorted."""
    inputs = masked(plain(resource.inputs), resource.secret_inputs)
    autoname = f"{resource.name}-{AUTONAME_SUFFIX}"
    if resource.type == HELM_RELEASE:
        # A release is one object under mocks: show it with its chart and values.
        meta = {"name": inputs.pop("name", None) or autoname, "namespace": inputs.pop("namespace", None)}
        body: dict[str, Any] = {"spec": inputs}
        api_version, kind = "helm.sh/v3", "Release"
    else:
        derived = api_version_kind(resource.type)
        api_version, kind = inputs.pop("apiVersion", derived[0]), inputs.pop("kind", derived[1])
        meta = dict(inputs.pop("metadata", None) or {})
        meta.setdefault("name", autoname)  # what the engine's auto-naming gives
        body = inputs
        if kind == "Secret":
            for key in SECRET_DATA_KEYS:
                if isinstance(body.get(key), dict):
                    body[key] = dict.fromkeys(body[key], MASK)
    meta = {key: value for key, value in meta.items() if value is not None}
    return {"apiVersion": api_version, "kind": kind, "metadata": _sorted(meta), **_sorted(body)}


def file_name(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    parts = [obj["kind"].lower(), meta.get("namespace"), meta["name"]]
    return "-".join(part for part in parts if part) + ".yaml"


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Multi-line strings (config files, alert expressions) as readable literal blocks.
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def dump(obj: dict[str, Any]) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)


def write_stack(resources: list[Registered], out: Path) -> list[Path]:
    """Replace ``out`` with one file per object (a stale file would hide a deletion)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    written: list[Path] = []
    for resource in resources:
        obj = manifest(resource)
        path = out / file_name(obj)
        if path.exists():
            raise ValueError(f"two objects render to {path.name}: {resource.urn}")
        path.write_text(dump(obj))
        written.append(path)
    return written


def render(stack: str, out: Path, root: Path = ROOT) -> list[Path]:
    """Run one stack under mocks and write its objects to ``out/<stack>``; raises on a program error."""
    run = run_program(stack, root=root)
    if run.error is not None:
        raise RuntimeError(f"the program failed: {run.error}")
    for resource in run.resources:
        if resource.type.startswith("kubernetes:") and not resource.custom:
            print(f"{stack}: {resource.type} {resource.name} is opaque under mocks; not rendered", file=sys.stderr)
    return write_stack(run.kubernetes(), out / stack)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.render",
        description="Render the Kubernetes objects of one or more stacks to YAML under the mock engine "
        "(no cluster, no Pulumi backend, no credentials). Secret values are masked.",
    )
    parser.add_argument(
        "--stack",
        action="append",
        help=f"stack to render (repeatable); default: every stack file plus the ephemeral {EPHEMERAL_EXAMPLE}",
    )
    parser.add_argument("--out", type=Path, default=Path("rendered"), help="output directory (default: rendered)")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout of the program to render (default: this one)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    out = args.out.resolve()
    if root != ROOT:
        # Another checkout (the diff's base ref): its components, its relative paths.
        sys.path.insert(0, str(root))
        os.chdir(root)
    failed = 0
    for stack in args.stack or all_stacks(root):
        try:
            written = render(stack, out, root)
        except (RuntimeError, ValueError) as exc:
            message = str(exc).replace("\n", "; ")
            print(f"error: {stack}: {message}", file=sys.stderr)  # one line per stack: tools/diff.py reads it
            failed += 1
            continue
        print(f"{stack}: {len(written)} objects -> {out / stack}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
