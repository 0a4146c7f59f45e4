"""The per-environment namespace: Pod Security, quota, limit range and default-deny policies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .config import NamespaceConfig
from .labels import labels, metadata

DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


@dataclass(frozen=True)
class EnvironmentArgs:
    """The environment's name (a label) and its namespace settings."""

    environment: str
    settings: NamespaceConfig


def namespace_manifest(args: EnvironmentArgs) -> dict[str, Any]:
    meta_labels = labels("namespace", args.settings.name, "namespace", args.environment)
    for mode in ("enforce", "audit", "warn"):
        meta_labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        meta_labels[f"pod-security.kubernetes.io/{mode}-version"] = "latest"
    return {"metadata": {"name": args.settings.name, "labels": meta_labels}}


def quota_spec(args: EnvironmentArgs) -> dict[str, Any]:
    quota = args.settings.quota
    return {
        "hard": {
            "requests.cpu": quota.requests_cpu,
            "requests.memory": quota.requests_memory,
            "limits.cpu": quota.limits_cpu,
            "limits.memory": quota.limits_memory,
            "requests.storage": quota.requests_storage,
            "persistentvolumeclaims": str(quota.persistent_volume_claims),
            "pods": str(quota.pods),
            "services": str(quota.services),
            # This platform never asks for either; a quota of zero makes that a rule.
            "services.loadbalancers": "0",
            "services.nodeports": "0",
        }
    }


def limit_range_spec(args: EnvironmentArgs) -> dict[str, Any]:
    limits = args.settings.limit_range
    return {
        "limits": [
            {
                "type": "Container",
                "defaultRequest": {"cpu": limits.default_request.cpu, "memory": limits.default_request.memory},
                "default": {"cpu": limits.default_limit.cpu, "memory": limits.default_limit.memory},
                "max": {"cpu": limits.max.cpu, "memory": limits.max.memory},
            }
        ]
    }


def default_deny_spec() -> dict[str, Any]:
    """Nothing in, nothing out, for every pod; components open what they need."""
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def dns_egress_spec() -> dict[str, Any]:
    return {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": DNS_PORTS,
            }
        ],
    }


class Environment(pulumi.ComponentResource):
    """Owns the namespace every other component deploys into."""

    namespace: pulumi.Output[str]
    namespace_resource: k8s.core.v1.Namespace

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:index:Environment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = args.settings.name
        common = labels("namespace", ns, "namespace", args.environment)

        namespace = k8s.core.v1.Namespace(f"{name}-namespace", **namespace_manifest(args), opts=child)
        self.namespace = namespace.metadata.apply(lambda m: m["name"])
        self.namespace_resource = namespace
        # Everything else waits for the namespace to exist, and goes when it goes (where the
        # namespace is retained or protected, so is everything here: the options are inherited).
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace], deleted_with=namespace)
        k8s.core.v1.ResourceQuota(
            f"{name}-quota", metadata=metadata(ns, common, "quota"), spec=quota_spec(args), opts=in_ns
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits", metadata=metadata(ns, common, "limits"), spec=limit_range_spec(args), opts=in_ns
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny", metadata=metadata(ns, common, "default-deny"), spec=default_deny_spec(), opts=in_ns
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns", metadata=metadata(ns, common, "allow-dns-egress"), spec=dns_egress_spec(), opts=in_ns
        )
        self.register_outputs({"namespace": self.namespace})
