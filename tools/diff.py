"""What a change does to every stack's Kubernetes objects, for a pull request: no cluster, no backend, no secrets.

Renders two versions of the program with tools/render.py (the base ref in a temporary
``git worktree``, the head as the working tree; both with this checkout's renderer, so a
renderer change never shows up as a platform change) and compares them object by object.
It flags what reviewers must not miss: replacements and deletions of data-bearing objects,
changes to immutable fields (which Pulumi applies as a replacement), and anything in production.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools import datasafety

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = "production"
MASK = "<masked>"
# Deleting or replacing these loses data (a Namespace takes everything in it along).
DATA_BEARING = {"StatefulSet", "PersistentVolumeClaim", "PersistentVolume", "Secret", "Namespace"}
# Fields the API server refuses to change: Pulumi deletes and recreates the object instead.
# pulumi-kubernetes also replaces ConfigMaps and Secrets whose data changes (they are immutable to it).
IMMUTABLE = {
    "StatefulSet": ("spec.selector", "spec.serviceName", "spec.volumeClaimTemplates", "spec.podManagementPolicy"),
    "Deployment": ("spec.selector",),
    "DaemonSet": ("spec.selector",),
    "ReplicaSet": ("spec.selector",),
    "Job": ("spec.selector", "spec.template", "spec.completionMode"),
    "Service": ("spec.clusterIP", "spec.clusterIPs", "spec.ipFamilies"),
    "PersistentVolumeClaim": ("spec",),
    "PersistentVolume": ("spec.claimRef", "spec.csi", "spec.hostPath", "spec.local", "spec.nfs", "spec.storageClassName"),
    "Secret": ("data", "stringData", "type"),
    "ConfigMap": ("data", "binaryData"),
    "StorageClass": ("parameters", "provisioner", "reclaimPolicy", "volumeBindingMode"),
}
# The one PVC field that changes in place (volume expansion).
MUTABLE = {"PersistentVolumeClaim": ("spec.resources.requests.storage", "spec.volumeAttributesClassName")}
MAX_VALUE = 300  # characters of a value shown in a report
MISSING = object()  # the side of a field change where the field does not exist

Manifests = dict[str, dict[str, Any]]  # "Kind namespace/name" -> object


@dataclass
class Change:
    path: str
    old: Any
    new: Any


@dataclass
class ObjectDiff:
    key: str
    kind: str
    status: str  # added, removed, changed
    changes: list[Change] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


@dataclass
class StackDiff:
    stack: str
    objects: list[ObjectDiff] = field(default_factory=list)
    error: str = ""

    @property
    def flags(self) -> list[str]:
        found = [f"{obj.key}: {flag}" for obj in self.objects for flag in obj.flags]
        if self.stack == PRODUCTION and (self.objects or self.error):
            found.insert(0, "production: every change here reaches users")
        return found


def key_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def load(directory: Path) -> dict[str, Manifests]:
    """``directory/<stack>/*.yaml`` -> stack -> key -> object."""
    stacks: dict[str, Manifests] = {}
    for stack_dir in sorted(p for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []:
        objects = (yaml.safe_load(path.read_text()) for path in sorted(stack_dir.glob("*.yaml")))
        stacks[stack_dir.name] = {key_of(obj): obj for obj in objects if obj}
    return stacks


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    before, after = datasafety.flat(old), datasafety.flat(new)
    return [
        Change(path, before.get(path, MISSING), after.get(path, MISSING))
        for path in sorted(set(before) | set(after))
        if before.get(path, MISSING) != after.get(path, MISSING)
    ]


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))


def replaced_by(kind: str, changes: list[Change]) -> list[str]:
    """The changed immutable fields (of ``IMMUTABLE``) that make Pulumi replace the object."""
    fields = {
        prefix
        for change in changes
        for prefix in IMMUTABLE.get(kind, ())
        if _under(change.path, prefix) and not any(_under(change.path, ok) for ok in MUTABLE.get(kind, ()))
    }
    return sorted(fields)


def diff_objects(key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> ObjectDiff | None:
    kind = str((new or old or {}).get("kind"))
    data = kind in DATA_BEARING
    if old is None:
        return ObjectDiff(key, kind, "added")
    if new is None:
        return ObjectDiff(key, kind, "removed", flags=["DELETED: data-bearing object, its data goes with it"] if data else [])
    changes = field_changes(old, new)
    if not changes:
        return None
    immutable = replaced_by(kind, changes)
    flags = []
    if immutable:
        what = "REPLACED (data-bearing: data may be lost)" if data else "REPLACED"
        flags.append(f"{what}: immutable {', '.join(immutable)} changed")
    return ObjectDiff(key, kind, "changed", changes, flags)


def diff_stack(stack: str, old: Manifests, new: Manifests) -> StackDiff:
    found = (diff_objects(key, old.get(key), new.get(key)) for key in sorted(set(old) | set(new)))
    return StackDiff(stack, [obj for obj in found if obj is not None])


def safety(old: Path, new: Path, diffs: list[StackDiff]) -> str:
    """The data-safety summary of every stack (tools/datasafety.py), for the top of the PR comment:
    what a pull request from a fork, which gets no preview, can still be told."""
    before, after = load(old), load(new)
    out = []
    for stack in diffs:
        if stack.error:
            out.append(datasafety.markdown(stack.stack, None, "", f"The render failed: {stack.error}"))
            continue
        replaced = [obj.key for obj in stack.objects if any(flag.startswith("REPLACED") for flag in obj.flags)]
        found = datasafety.from_manifests(before.get(stack.stack, {}), after.get(stack.stack, {}), replaced)
        out.append(datasafety.markdown(stack.stack, found, "from the offline render"))
    return "\n".join(out)


def diff_dirs(old: Path, new: Path, stacks: list[str] | None = None, errors: dict[str, str] | None = None) -> list[StackDiff]:
    before, after = load(old), load(new)
    result = []
    for stack in stacks or sorted(set(before) | set(after)):
        if errors and stack in errors:
            result.append(StackDiff(stack, error=errors[stack]))
        else:
            result.append(diff_stack(stack, before.get(stack, {}), after.get(stack, {})))
    return result


def show(value: Any, secret: bool = False) -> str:
    if secret:
        return MASK
    if value is MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…"


def _lines(obj: ObjectDiff) -> list[str]:
    # Secret data never leaves the render masked, but say so again for directories rendered elsewhere.
    lines = []
    for change in obj.changes:
        secret = obj.kind == "Secret" and _under_data(change.path)
        lines.append(f"{change.path}: {show(change.old, secret)} -> {show(change.new, secret)}")
    return lines


def _under_data(path: str) -> bool:
    return _under(path, "data") or _under(path, "stringData")


SIGN = {"added": "+", "removed": "-", "changed": "~"}


def text_report(diffs: list[StackDiff]) -> str:
    out: list[str] = []
    for stack in diffs:
        out.append(f"== {stack.stack}: {summary(stack)}")
        if stack.error:
            out.append(f"   could not render: {stack.error}")
        for flag in stack.flags:
            out.append(f"   !! {flag}")
        for obj in stack.objects:
            out.append(f"   {SIGN[obj.status]} {obj.key}")
            out.extend(f"       {line}" for line in _lines(obj))
    return "\n".join(out) + "\n"


def markdown_report(diffs: list[StackDiff]) -> str:
    out = ["## Rendered changes", ""]
    flags = [(stack.stack, flag) for stack in diffs for flag in stack.flags]
    if flags:
        out += ["### :warning: Reviewers must not miss", ""]
        out += [f"- **{stack}**: {flag}" for stack, flag in flags]
        out.append("")
    for stack in diffs:
        out += [f"### `{stack.stack}`: {summary(stack)}", ""]
        if stack.error:
            out += [f"Could not render: `{stack.error}`", ""]
        if not stack.objects:
            continue
        out += ["| | object | fields |", "|---|---|---|"]
        out += [f"| {SIGN[obj.status]} | `{obj.key}` | {len(obj.changes) or ''} |" for obj in stack.objects]
        out.append("")
        for obj in (o for o in stack.objects if o.changes):
            out += [f"<details><summary><code>{obj.key}</code></summary>", "", "```diff"]
            out += [f"~ {line}" for line in _lines(obj)]
            out += ["```", "</details>", ""]
    return "\n".join(out)


def summary(stack: StackDiff) -> str:
    counts = {status: sum(obj.status == status for obj in stack.objects) for status in SIGN}
    return "no changes" if not stack.objects else ", ".join(f"{n} {status}" for status, n in counts.items() if n)


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()  # noqa: S603, S607


def merge_base(branch: str) -> str:
    """Where HEAD forked from ``branch``; CI checkouts of a pull request often only have ``origin/<branch>``."""
    try:
        return _git("merge-base", branch, "HEAD")
    except subprocess.CalledProcessError:
        return _git("merge-base", f"origin/{branch}", "HEAD")


def render_tree(root: Path, out: Path, stacks: list[str] | None) -> dict[str, str]:
    """This checkout's renderer over the program at ``root``; stack -> error for those that failed."""
    cmd = [sys.executable, "-m", "tools.render", "--root", str(root), "--out", str(out)]
    cmd += [arg for stack in stacks or [] for arg in ("--stack", stack)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    errors = {}
    for line in result.stderr.splitlines():
        if line.startswith("error: ") and ":" in line[7:]:
            stack, _, message = line[7:].partition(": ")
            errors[stack] = message
    if result.returncode != 0 and not errors:
        raise RuntimeError(f"render of {root} failed:\n{result.stderr}")
    return errors


@contextmanager
def worktree(ref: str, tree: Path) -> Iterator[Path]:
    """``ref`` checked out at ``tree``, a temporary git worktree removed afterwards."""
    _git("worktree", "add", "--detach", "--force", str(tree), ref)
    try:
        yield tree
    finally:
        _git("worktree", "remove", "--force", str(tree))


def render_ref(ref: str, out: Path, stacks: list[str] | None, scratch: Path) -> dict[str, str]:
    """Render a git ref from a temporary worktree."""
    with worktree(ref, scratch / "worktree") as tree:
        return render_tree(tree, out, stacks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="git ref to compare against (default: the merge base of --main and HEAD)")
    parser.add_argument("--head", help="git ref to compare (default: the working tree, uncommitted changes included)")
    parser.add_argument("--main", default="main", help="branch the default base forks from (default: main)")
    parser.add_argument("--stack", action="append", help="stack to compare (repeatable; default: all)")
    parser.add_argument(
        "--format", choices=("text", "markdown"), default="text", help="text for a terminal, markdown for a PR comment"
    )
    parser.add_argument("--dirs", nargs=2, type=Path, metavar=("OLD", "NEW"), help="compare two rendered directories instead")
    args = parser.parse_args(argv)
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="platform-diff-") as tmp:
        if args.dirs:
            old, new = args.dirs
        else:
            scratch, old, new = Path(tmp), Path(tmp) / "base", Path(tmp) / "head"
            base = args.base or merge_base(args.main)
            for stack, error in render_ref(base, old, args.stack, scratch).items():
                errors[stack] = f"base {base[:12]}: {error}"
            head = render_ref(args.head, new, args.stack, scratch) if args.head else render_tree(ROOT, new, args.stack)
            errors.update({stack: f"head: {error}" for stack, error in head.items()})
        diffs = diff_dirs(old, new, args.stack, errors)
        safety_md = safety(old, new, diffs)
    print(safety_md + "\n" + (markdown_report(diffs) if args.format == "markdown" else text_report(diffs)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
