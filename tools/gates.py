"""The external checkers every rendered object must pass: schemas, CRD schemas, Checkov.

Runs inside the gates venv (requirements-gates.txt: kubernetes-validate, checkov, jsonschema have
dependencies the program's venv must not get), so it imports nothing from Pulumi:

    .venv-gates/bin/python -m tools.gates rendered/

* built-in kinds: ``kubernetes-validate --strict`` against the oldest and newest supported minor;
* custom resources: the openAPIV3Schema of their CRD, from the upstream modules pinned in
  scripts/upstream.lock and fetched into a cache by scripts/fetch-upstream.sh (unknown fields
  rejected, as kubectl's strict field validation does); a custom resource without a CRD fails;
* every object: Checkov, with the few deliberate exceptions in .checkov.yaml.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tools.upstream import NotFetched, fetched

ROOT = Path(__file__).resolve().parent.parent
CHECKOV_CONFIG = ROOT / ".checkov.yaml"
# Oldest and newest Kubernetes minor the project supports (newest: what kubernetes-validate ships).
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")
# Not Kubernetes API objects: rendered for review, not validated.
UNVALIDATED_API_VERSIONS = ("helm.sh/v3",)
BIN = Path(sys.executable).parent

Key = tuple[str, str, str]  # (group, version, kind)


def strict(schema: Any) -> Any:
    """Reject unknown fields wherever the CRD does not preserve them (structural schemas prune them silently)."""
    if isinstance(schema, list):
        return [strict(child) for child in schema]
    if not isinstance(schema, dict):
        return schema
    result = {
        key: strict(child) if key != "properties" else {k: strict(v) for k, v in child.items()} for key, child in schema.items()
    }
    if "properties" in result and "additionalProperties" not in result and not result.get("x-kubernetes-preserve-unknown-fields"):
        result["additionalProperties"] = False
    return result


def crd_schemas(crd_dir: Path | None = None) -> dict[Key, dict[str, Any]]:
    """Every served version of every CRD in ``crd_dir`` (default: the fetched CRDs), keyed by (group, version, kind)."""
    return _crd_schemas(crd_dir or fetched("crds"))


@cache
def _crd_schemas(crd_dir: Path) -> dict[Key, dict[str, Any]]:
    schemas: dict[Key, dict[str, Any]] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    key = (spec["group"], version["name"], spec["names"]["kind"])
                    schemas[key] = strict(version["schema"]["openAPIV3Schema"])
    return schemas


def key_of(obj: dict[str, Any]) -> Key:
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    return group, version, str(obj.get("kind", ""))


def is_custom(obj: dict[str, Any], crd_dir: Path | None = None) -> bool:
    """A kind whose group some CRD in ``crd_dir`` defines (built-in groups have no CRD there)."""
    groups = {group for group, _, _ in crd_schemas(crd_dir)}
    return key_of(obj)[0] in groups


def validate_custom(obj: dict[str, Any], crd_dir: Path | None = None) -> list[str]:
    """Errors of one custom resource against its CRD schema (empty: valid)."""
    from jsonschema import Draft4Validator  # OpenAPI v3.0 schemas follow draft 4 semantics

    schema = crd_schemas(crd_dir).get(key_of(obj))
    if schema is None:
        return [f"no CRD in {(crd_dir or fetched('crds')).name}/ serves {obj.get('apiVersion')} {obj.get('kind')}"]
    errors = Draft4Validator(schema).iter_errors(obj)
    return [f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}" for error in errors]


def load(paths: list[Path]) -> dict[Path, dict[str, Any]]:
    return {path: yaml.safe_load(path.read_text()) for path in paths}


def kubernetes_validate(paths: list[Path], version: str) -> list[str]:
    """``kubernetes-validate --strict`` on every file at once; its failure lines (empty: all valid)."""
    if not paths:
        return []
    cmd = [str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-k", version, *map(str, paths)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 - our own tool, no shell
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    if result.returncode != 0 and not lines:
        lines = [f"kubernetes-validate exited {result.returncode}"]
    return lines if result.returncode != 0 else []


def checkov(directory: Path, config: Path = CHECKOV_CONFIG) -> list[str]:
    """Failed Checkov checks over every manifest under ``directory``: ``CHECK_ID resource (file): name``."""
    cmd = [str(BIN / "checkov"), "-d", str(directory), "--framework", "kubernetes", "--config-file", str(config),
           "--output", "json", "--quiet", "--compact", "--skip-download"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 - our own tool, no shell
    # Checkov exits 0 (all passed) or 1 (failures) with a JSON report; anything else, or no
    # report at all (a bad config file stops it at start-up), is an error, never a pass.
    try:
        reports = json.loads(result.stdout)
    except json.JSONDecodeError:
        reports = None
    if result.returncode not in (0, 1) or reports is None:
        return [f"checkov exited {result.returncode} without a report: {result.stderr.strip()[-2000:]}"]
    failed = []
    for report in reports if isinstance(reports, list) else [reports]:
        for check in (report.get("results") or {}).get("failed_checks", []):
            failed.append(f"{check['check_id']} {check['resource']} ({check['file_path'].lstrip('/')}): {check['check_name']}")
    return sorted(failed)


def run_gates(
    directory: Path, versions: tuple[str, ...] = KUBERNETES_VERSIONS, schemas: bool = True, with_checkov: bool = True
) -> dict[str, list[str]]:
    """The gates over every ``*.yaml`` under ``directory``: gate name -> failures."""
    objects = load(sorted(directory.rglob("*.yaml")))
    failures: dict[str, list[str]] = {}
    if with_checkov:
        failures[f"checkov ({len(objects)} objects)"] = checkov(directory)
    if not schemas:
        return failures
    builtin = [
        path for path, obj in objects.items() if not is_custom(obj) and obj.get("apiVersion") not in UNVALIDATED_API_VERSIONS
    ]
    for version in versions:
        failures[f"kubernetes-validate --strict {version} ({len(builtin)} objects)"] = kubernetes_validate(builtin, version)
    custom = {path: obj for path, obj in objects.items() if is_custom(obj)}
    failures[f"CRD schemas ({len(custom)} objects)"] = [
        f"{path.relative_to(directory)}: {error}" for path, obj in custom.items() for error in validate_custom(obj)
    ]
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.gates", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "directory", type=Path, nargs="?", default=Path("rendered"), help="rendered manifests (default: rendered)"
    )
    parser.add_argument("--kubernetes-version", action="append", help=f"default: {' and '.join(KUBERNETES_VERSIONS)}")
    parser.add_argument("--no-checkov", action="store_true", help="skip Checkov (the slowest gate)")
    parser.add_argument("--no-schemas", action="store_true", help="skip kubernetes-validate and the CRD schemas")
    args = parser.parse_args(argv)
    versions = tuple(args.kubernetes_version or KUBERNETES_VERSIONS)
    try:
        failures = run_gates(args.directory, versions, not args.no_schemas, not args.no_checkov)
    except NotFetched as missing:
        print(f"FAIL {missing}")
        return 2
    for gate, errors in failures.items():
        print(f"{'FAIL' if errors else 'ok  '} {gate}: {len(errors)} failed")
        for error in errors:
            print(f"     {error}")
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
