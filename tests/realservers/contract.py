"""The Postgres and Redis metric names and labels that alerts and dashboards rely on."""

from __future__ import annotations

import json
import re

import yaml

from tools.engine import ROOT

# Labels Prometheus adds from the scrape target (ServiceMonitor), not the exporter.
TARGET_LABELS = {"namespace", "job", "instance", "pod", "service", "endpoint", "container"}
_METRIC = re.compile(r"\b((?:pg|redis)_[A-Za-z0-9_]+)\b")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHER = re.compile(r"\b((?:pg|redis)_[A-Za-z0-9_]+)\s*\{([^}]*)\}")


def expressions() -> list[str]:
    found = []
    for path in sorted((ROOT / "monitoring" / "rules").glob("*.yaml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            found += [rule["expr"] for rule in group["rules"]]
    for path in sorted((ROOT / "monitoring" / "dashboards").glob("*.json")):
        found += _targets(json.loads(path.read_text()))
    return found


def _targets(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return own + [e for child in node.values() for e in _targets(child)]
    if isinstance(node, list):
        return [e for child in node for e in _targets(child)]
    return []


def used(prefix: str) -> dict[str, set[str]]:
    """{metric: exporter labels the expressions group or match it by} for one exporter's prefix."""
    contract: dict[str, set[str]] = {}
    for expr in expressions():
        metrics = [m for m in _METRIC.findall(expr) if m.startswith(prefix)]
        if not metrics:
            continue
        grouping = {label.strip() for labels in _GROUPING.findall(expr) for label in labels.split(",") if label.strip()}
        for metric in metrics:
            contract.setdefault(metric, set()).update(grouping - TARGET_LABELS)
        for metric, matchers in _MATCHER.findall(expr):
            if metric.startswith(prefix):
                names = {m.split("=")[0].strip().rstrip("!~") for m in matchers.split(",") if "=" in m}
                contract[metric].update(names - TARGET_LABELS)
    return contract


def missing(scrape: str, contract: dict[str, set[str]]) -> list[str]:
    """What the contract names and the scrape lacks: a metric, or a label on that metric."""
    problems = []
    for metric, labels in sorted(contract.items()):
        samples = re.findall(rf"^{re.escape(metric)}(\{{[^}}]*\}})? ", scrape, re.MULTILINE)
        if not samples and not re.search(rf"^{re.escape(metric)}(\{{[^}}]*\}})? ", scrape, re.MULTILINE):
            problems.append(f"metric {metric}")
            continue
        present = {name for sample in samples for name in re.findall(r"(\w+)=\"", sample)}
        problems += [f"label {label} of {metric}" for label in sorted(labels - present)]
    return problems
