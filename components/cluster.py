"""The explicit Kubernetes provider every resource of the platform uses."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .settings import ClusterConfig


def kubernetes_provider(name: str, settings: ClusterConfig) -> k8s.Provider:
    """Ambient kubeconfig unless config names one; server-side apply always.

    ``deleteUnreachable`` lets ``pulumi destroy`` of a review environment clean the state
    when its throwaway cluster is already gone.
    """
    return k8s.Provider(
        name,
        kubeconfig=settings.kubeconfig,
        context=settings.context,
        enable_server_side_apply=True,
        delete_unreachable=settings.delete_unreachable,
        opts=pulumi.ResourceOptions(),
    )
