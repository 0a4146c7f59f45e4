"""The one place that spells Kubernetes labels and object metadata."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

Args = TypeVar("Args")

PART_OF = "platform"
ENVIRONMENT_LABEL = "platform.example.com/environment"


def selector_labels(app: str, instance: str) -> dict[str, str]:
    """Labels that identify pods for selectors: never a version or image tag (selectors are immutable)."""
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": instance}


def labels(app: str, instance: str, component: str, environment: str, version: str | None = None) -> dict[str, str]:
    """The recommended ``app.kubernetes.io/*`` set plus the environment."""
    result = {
        **selector_labels(app, instance),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        ENVIRONMENT_LABEL: environment,
    }
    if version:
        # Label values allow at most 63 characters of [A-Za-z0-9_.-].
        result["app.kubernetes.io/version"] = version[:63].strip("-_.")
    return result


def with_name(args: Args, name: str) -> Args:
    """``args`` with its instance name (``args.name``) taken from the component's resource name
    unless set: by default the Pulumi name and every Kubernetes name derived from it agree."""
    return args if getattr(args, "name", None) else replace(args, name=name)  # type: ignore[type-var]


def metadata(namespace: str, labels: dict[str, str], name: str | None = None, **extra: Any) -> dict[str, Any]:
    """ObjectMeta with an explicit namespace; ``name=None`` lets Pulumi auto-name the object."""
    meta: dict[str, Any] = {"namespace": namespace, "labels": labels, **extra}
    if name is not None:
        meta["name"] = name
    return meta
