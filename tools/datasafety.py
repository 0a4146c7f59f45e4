"""Does this change destroy data? The answer a reviewer wants first, at the top of every preview comment.

Two sources, one set of rules:
- ``from_preview``: the JSON of ``pulumi preview --json --show-secrets`` (tools/delivery.py runs it;
  the plaintext never leaves this process: Secret values appear only as keyed fingerprints);
- ``from_manifests``: the offline render of base and head (tools/diff.py), for pull requests from
  forks, which get no credentials. Rendered Secret values are already masked there, so only added
  and removed keys show, and objects that are not Kubernetes objects (RandomPassword) do not.

What is flagged: a replace or delete of a StatefulSet, PersistentVolumeClaim, PersistentVolume,
Secret, RandomPassword or Namespace; backups disabled, suspended or their schedule removed; a
retention or ``keep`` lowered or removed; a StatefulSet that stops retaining its volumes;
``protect`` or ``retainOnDelete`` removed; each changed Secret key by name.

Standard library only: tools/delivery.py imports it on a bare runner.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DATA_TYPES = {
    "kubernetes:apps/v1:StatefulSet": "StatefulSet",
    "kubernetes:core/v1:PersistentVolumeClaim": "PersistentVolumeClaim",
    "kubernetes:core/v1:PersistentVolume": "PersistentVolume",
    "kubernetes:core/v1:Secret": "Secret",
    "kubernetes:core/v1:Namespace": "Namespace",
    "random:index/randomPassword:RandomPassword": "RandomPassword",
}
DATA_KINDS = set(DATA_TYPES.values())
CRONJOB = "kubernetes:batch/v1:CronJob"
REPLACE_OPS = {"replace", "create-replacement", "delete-replaced"}
DELETE_OPS = {"delete"}
# Settings whose value is how much (or how long) data is kept: lowering one loses history.
RETENTION_KEYS = {"retention", "retentionsize", "keep"}
COMPONENT_LABEL = "app.kubernetes.io/component"
SECRET_KEYS = ("data", "stringData")
ABSENT = object()
# How the CLI's JSON spells a value known only after `up` (plugin.UnknownStringValue).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
MASKED = "[secret]"  # how the CLI's JSON prints a secret value
# One random key per run: fingerprints compare old and new within one report, and cannot be
# reversed or looked up (not even for a short, guessable value), because the key is never kept.
_RUN_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class Finding:
    kind: str  # StatefulSet, Secret, CronJob, ... (the Kubernetes kind, or RandomPassword)
    name: str  # the Pulumi resource name, or namespace/name for a rendered object
    what: str  # what happens to the data

    def line(self) -> str:
        return f"- **{self.kind}** `{self.name}`: {self.what}"


def fingerprint(value: Any) -> str:
    if value is ABSENT or value is None:
        return "(none)"
    if value == UNKNOWN:
        return "(new, known at up)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hmac.new(_RUN_KEY, text.encode(), hashlib.sha256).hexdigest()[:8]


# ---------------------------------------------------------------- values


def flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf paths; list items with a unique name are addressed by it (``containers[api].image``,
    ``env[KEEP].value``), by ``metadata.name`` (volumeClaimTemplates), else by index."""
    if isinstance(value, dict) and value:
        items = [(f"{prefix}.{key}" if prefix else str(key), child) for key, child in value.items()]
    elif isinstance(value, list) and value:
        names = [_item_name(item) for item in value]
        named = None not in names and len(set(names)) == len(names)
        items = [(f"{prefix}[{name if named else i}]", child) for i, (name, child) in enumerate(zip(names, value, strict=True))]
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for path, child in items:
        out.update(flat(child, path))
    return out


def _other_container_list(path: str) -> str:
    """The same path in the pod's other container list (``containers`` <-> ``initContainers``)."""
    if ".initContainers[" in path:
        return path.replace(".initContainers[", ".containers[", 1)
    return path.replace(".containers[", ".initContainers[", 1)


def _item_name(item: Any) -> Any:
    if not isinstance(item, dict):
        return None
    return item.get("name") or (item.get("metadata") or {}).get("name")


UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
SIZES = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3,
         "TiB": 1024**4, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}
DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$")
SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B|)$")


def magnitude(value: Any) -> float | None:
    """A number, a Prometheus duration (15d) or a size (10GB, 8Gi) as one comparable number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if match := DURATION.match(text):
        return float(match[1]) * UNITS[match[2]]
    if match := SIZE.match(text):
        return float(match[1]) * SIZES.get(match[2], 1)
    return None


def retention_key(path: str) -> str | None:
    """The retention setting a path is, if any: ``...retention``, ``...env[KEEP].value``."""
    if path.endswith(".value") and (env := re.search(r"env\[([A-Za-z_]+)\]\.value$", path)):
        return env[1] if env[1].lower() in RETENTION_KEYS else None
    last = re.split(r"[.\[\]]", path.rstrip("]"))[-1]
    return last if last.lower() in RETENTION_KEYS else None


# ---------------------------------------------------------------- the rules, over two flattened objects


def field_findings(kind: str, name: str, old: dict[str, Any], new: dict[str, Any], labels: dict[str, Any]) -> list[Finding]:
    """What a changed object's fields do to data; ``old``/``new`` are ``flat()`` objects."""
    found = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path, ABSENT), new.get(path, ABSENT)
        if before == after:
            continue
        key = retention_key(path)
        if key and before is not ABSENT:
            if after is ABSENT:  # a container moved between containers and initContainers keeps its env
                after = new.get(_other_container_list(path), ABSENT)
            a, b = magnitude(before), magnitude(after) if after is not ABSENT else None
            if after is ABSENT:
                found.append(Finding(kind, name, f"`{path}` removed (was {before}): the default may keep less"))
            elif a is not None and b is not None and b < a:
                found.append(Finding(kind, name, f"{key} lowered: `{path}` {before} → {after}"))
        if path.endswith("persistentVolumeClaimRetentionPolicy.whenDeleted") and after == "Delete":
            found.append(Finding(kind, name, "volumes are now DELETED with the StatefulSet (whenDeleted: Delete)"))
    if is_backup(kind, name, labels):
        if new.get("spec.suspend") is True and old.get("spec.suspend") is not True:
            found.append(Finding(kind, name, "backups SUSPENDED (spec.suspend: true)"))
        if old.get("spec.schedule", ABSENT) is not ABSENT and new.get("spec.schedule", ABSENT) is ABSENT:
            found.append(Finding(kind, name, "backup schedule removed"))
    return found


def secret_key_findings(kind: str, name: str, old: dict[str, Any], new: dict[str, Any], masked: bool) -> list[Finding]:
    """Each Secret key whose value changed, by name; values only as fingerprints (or not at all).
    The CLI's JSON (3.274.1, backend/display/json.go) prints a secret map as "[secret]" even with
    --show-secrets, and pulumi-kubernetes keeps a Secret's whole data map secret: then only the
    fact that the section changed is known, and the summary says so instead of guessing keys."""
    found = []
    for section in SECRET_KEYS:
        before, after = old.get(section, ABSENT), new.get(section, ABSENT)
        if MASKED in (before, after) and before is not after:
            found.append(Finding(kind, name, f"`{section}` changed; its keys and values are masked by the CLI ({MASKED})"))
            continue
        before, after = before if isinstance(before, dict) else {}, after if isinstance(after, dict) else {}
        for key in sorted(set(before) | set(after)):
            a, b = before.get(key, ABSENT), after.get(key, ABSENT)
            if a == b:
                continue
            if masked:
                change = "added" if a is ABSENT else "removed" if b is ABSENT else "changed"
                found.append(Finding(kind, name, f"key `{key}` {change} (values masked offline)"))
            else:
                found.append(Finding(kind, name, f"key `{key}` changed: {fingerprint(a)} → {fingerprint(b)}"))
    return found


def is_backup(kind: str, name: str, labels: dict[str, Any]) -> bool:
    return kind == "CronJob" and (labels.get(COMPONENT_LABEL) == "backup" or "backup" in name)


def removal(kind: str, name: str, labels: dict[str, Any], retained: bool) -> list[Finding]:
    if retained:
        return [Finding(kind, name, "removed from the stack; kept in the cluster (retainOnDelete)")] if kind in DATA_KINDS else []
    if kind in DATA_KINDS:
        return [Finding(kind, name, "DELETED: its data goes with it")]
    if is_backup(kind, name, labels):
        return [Finding(kind, name, "backups DISABLED (the backup CronJob is deleted)")]
    return []


# ---------------------------------------------------------------- source 1: pulumi preview --json


def _kind(step: dict[str, Any]) -> str:
    state = step.get("newState") or step.get("oldState") or {}
    token = str(state.get("type") or str(step.get("urn", "")).split("::")[-2].split("$")[-1])
    return DATA_TYPES.get(token) or token.rsplit(":", 1)[-1]


def _inputs(state: dict[str, Any] | None) -> dict[str, Any]:
    return dict((state or {}).get("inputs") or {})


def _labels(*states: dict[str, Any] | None) -> dict[str, Any]:
    for state in states:
        labels = (_inputs(state).get("metadata") or {}).get("labels")
        if isinstance(labels, dict):
            return labels
    return {}


def from_preview(preview: dict[str, Any]) -> list[Finding]:
    found: list[Finding] = []
    for step in preview.get("steps", []):
        op = str(step.get("op", "same"))
        if op in ("same", "read", "refresh", "create"):
            continue
        old, new = step.get("oldState"), step.get("newState")
        kind, name = _kind(step), str(step.get("urn", "")).split("::")[-1]
        labels = _labels(new, old)
        if op in REPLACE_OPS and op != "delete-replaced" and kind in DATA_KINDS:
            why = ", ".join(map(str, step.get("replaceReasons") or [])) or "the provider requires it"
            found.append(Finding(kind, name, f"REPLACED (deleted and recreated; data may be lost): {why}"))
        if op in DELETE_OPS:
            found += removal(kind, name, labels, bool((old or {}).get("retainOnDelete")))
        if old and new:
            for option in ("protect", "retainOnDelete"):
                if old.get(option) and not new.get(option):
                    found.append(Finding(kind, name, f"`{option}` removed"))
            found += field_findings(kind, name, flat(_inputs(old)), flat(_inputs(new)), labels)
            if kind == "Secret":
                found += secret_key_findings(kind, name, _inputs(old), _inputs(new), masked=False)
    return _unique(found)


# ---------------------------------------------------------------- source 2: the offline render


def from_manifests(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], replaced: Iterable[str] = ()) -> list[Finding]:
    """``old``/``new``: rendered objects by key ("Kind namespace/name"); ``replaced``: the keys
    tools.diff found replaced (an immutable field changed)."""
    found: list[Finding] = []
    replaced = set(replaced)
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        kind, _, name = key.partition(" ")
        labels = ((after or before or {}).get("metadata") or {}).get("labels") or {}
        if after is None and before is not None:
            found += removal(kind, name, labels, retained=False)
        elif before is not None and after is not None and before != after:
            if key in replaced and kind in DATA_KINDS:
                found.append(Finding(kind, name, "REPLACED (an immutable field changed; data may be lost)"))
            found += field_findings(kind, name, flat(before), flat(after), labels)
            if kind == "Secret":
                found += secret_key_findings(kind, name, before, after, masked=True)
    return _unique(found)


def _unique(found: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------- the report


def markdown(stack: str, found: list[Finding] | None, source: str, note: str = "") -> str:
    """The summary that opens a preview comment; ``found`` None: it could not be computed."""
    if found is None:
        head = f"#### :grey_question: Data safety of `{stack}`: unknown"
        return f"{head}\n\n{note or 'The preview did not complete, so nothing can be said about data.'}\n"
    if not found:
        return f"#### :white_check_mark: Data safety of `{stack}`: nothing replaces, deletes or unprotects data ({source})\n"
    lines = "\n".join(f.line() for f in found)
    return (
        f"#### :warning: Data safety of `{stack}`: {len(found)} finding(s) ({source})\n\n{lines}\n\n"
        + (f"{note}\n\n" if note else "")
        + "Secret values are never shown: a fingerprint is a keyed hash, comparable within this report only.\n"
    )
