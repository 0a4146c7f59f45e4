"""The one place that spells Kubernetes labels and object metadata."""

from __future__ import annotations

from typing import Any

PART_OF = "platform"
ENVIRONMENT_LABEL = "platform.example.com/environment"
COMPONENT_LABEL = "app.kubernetes.io/component"
API_COMPONENT = "api"  # the component label of ApiService pods: what a store's client name stands for
# On every Service with a selector and a cluster IP. The provider's Service await
# (pulumi-kubernetes pkg/await/service.go) sleeps 10 s after each Endpoints event and then passes
# even when the Service selects no pod; what it was meant to prove is proven elsewhere: the policy
# `services-select-workloads` (the selector and port names match a workload of the stack) and the
# workload's own await (its pods are ready). Each Service is also created after that workload.
SKIP_SERVICE_AWAIT = {"pulumi.com/skipAwait": "true"}


def selector_labels(app: str, instance: str) -> dict[str, str]:
    """Labels that identify pods for selectors: never a version or image tag (selectors are immutable)."""
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": instance}


def identity_labels(app: str, instance: str, component: str) -> dict[str, str]:
    """Who a pod is, for network policies: its instance name AND its kind of workload. The component
    value is fixed by the component's code, so no instance name can produce another kind's identity
    (an ApiService named ``db-backup`` is not the backup job of Postgres ``db``). Workload selectors
    keep ``selector_labels`` alone: a selector of a running StatefulSet or Deployment is immutable."""
    return {**selector_labels(app, instance), COMPONENT_LABEL: component}


def labels(app: str, instance: str, component: str, environment: str, version: str | None = None) -> dict[str, str]:
    """The recommended ``app.kubernetes.io/*`` set plus the environment."""
    result = {
        **selector_labels(app, instance),
        COMPONENT_LABEL: component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        ENVIRONMENT_LABEL: environment,
    }
    if version:
        # Label values allow at most 63 characters of [A-Za-z0-9_.-].
        result["app.kubernetes.io/version"] = version[:63].strip("-_.")
    return result


def metadata(namespace: str, labels: dict[str, str], name: str | None = None, **extra: Any) -> dict[str, Any]:
    """ObjectMeta with an explicit namespace; ``name=None`` lets Pulumi auto-name the object."""
    meta: dict[str, Any] = {"namespace": namespace, "labels": labels, **extra}
    if name is not None:
        meta["name"] = name
    return meta
