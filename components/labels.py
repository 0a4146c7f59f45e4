"""The one place that spells Kubernetes labels and object metadata."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, TypeVar

from .config import ConfigError

Args = TypeVar("Args")
# A DNS-1035 label (Service names need one) short enough for the longest derived name, such as
# `<instance>-headless` or a StatefulSet pod's controller-revision-hash label.
INSTANCE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?")  # fullmatch: "$" passes "api\n"

PART_OF = "platform"
ENVIRONMENT_LABEL = "platform.example.com/environment"
# On every Service with a selector and a cluster IP. The provider's Service await
# (pulumi-kubernetes pkg/await/service.go) sleeps 10 s after each Endpoints event and then passes
# even when the Service selects no pod; what it was meant to prove is proven elsewhere: the policy
# `services-select-workloads` (the selector and port names match a workload of the stack) and the
# workload's own await (its pods are ready). Each Service is also created after that workload.
SKIP_SERVICE_AWAIT = {"pulumi.com/skipAwait": "true"}


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
    unless set: by default the Pulumi name and every Kubernetes name derived from it agree.
    Raises before the component registers anything if the name cannot name Kubernetes objects."""
    result = args if getattr(args, "name", None) else replace(args, name=name)  # type: ignore[type-var]
    instance = str(getattr(result, "name", ""))
    if not INSTANCE_NAME.fullmatch(instance):
        raise ConfigError([
            f"instance name {instance!r}: must be 1 to 40 lowercase letters, digits and '-', starting with a letter "
            "and ending with a letter or digit (every Kubernetes name of the instance derives from it)"
        ])
    return result


def metadata(namespace: str, labels: dict[str, str], name: str | None = None, **extra: Any) -> dict[str, Any]:
    """ObjectMeta with an explicit namespace; ``name=None`` lets Pulumi auto-name the object."""
    meta: dict[str, Any] = {"namespace": namespace, "labels": labels, **extra}
    if name is not None:
        meta["name"] = name
    return meta
