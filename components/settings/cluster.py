"""Settings of the Kubernetes provider (``platform:cluster``)."""

from __future__ import annotations

from typing import Any

from ..profiles import EnvironmentProfile
from .base import Group


class ClusterConfig(Group):
    """How to reach the cluster. Both empty: the ambient kubeconfig and its current context."""

    KEY = "cluster"

    kubeconfig: str | None = None
    """A kubeconfig (path or contents); unset: the ambient one ($KUBECONFIG, ~/.kube/config)."""
    context: str | None = None
    """A context of that kubeconfig; unset: its current context."""
    delete_unreachable: bool
    """Let `pulumi destroy` clear the state when the cluster is already gone (review environments)."""

    @classmethod
    def defaults(cls, env: EnvironmentProfile) -> dict[str, Any]:
        return {"deleteUnreachable": env.delete_unreachable}
