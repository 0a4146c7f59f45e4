"""The per-environment namespace: Pod Security, quota, limit range and default-deny policies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .contracts import of_type, raise_if, require
from .errors import ConfigError
from .labels import labels, metadata
from .namespace import NamespaceRef
from .settings import NamespaceConfig
from .settings.base import settings_problems

DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
# The oldest Kubernetes this platform supports (fields it uses: native preStop sleep, 1.30; the schema
# gate validates every object against 1.31); the Pod Security version enforced in its namespaces.
MINIMUM_KUBERNETES = "1.31"
PSA_ENFORCE_VERSION = f"v{MINIMUM_KUBERNETES}"


@dataclass(frozen=True, kw_only=True)
class EnvironmentArgs:
    """Attributes:
        environment: dev, staging, production or ephemeral: the profile every component follows here
            (durability, protection, deletion with the namespace).
        settings: the namespace's name, quota and limit range (``NamespaceConfig.for_environment``).
        provider: the Kubernetes provider every component in the namespace uses (None: the ambient one).
    """

    environment: str
    settings: NamespaceConfig
    provider: k8s.Provider | None = None


def namespace_manifest(args: EnvironmentArgs) -> dict[str, Any]:
    meta_labels = labels("namespace", args.settings.name, "namespace", args.environment)
    # Enforce the restricted profile as of the oldest supported Kubernetes: a cluster upgrade never
    # tightens it under running pods. Audit and warn use the newest, so a tightening shows up first.
    for mode, version in (("enforce", PSA_ENFORCE_VERSION), ("audit", "latest"), ("warn", "latest")):
        meta_labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        meta_labels[f"pod-security.kubernetes.io/{mode}-version"] = version
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


def dns_egress_spec(args: EnvironmentArgs) -> dict[str, Any]:
    """DNS for every pod: the cluster DNS pods, and the node-local cache's addresses (NodeLocal DNSCache answers
    from the node's own network, which no pod selector matches)."""
    peers: list[dict[str, Any]] = [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    peers += [{"ipBlock": {"cidr": cidr}} for cidr in args.settings.dns_addresses]
    return {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": peers, "ports": DNS_PORTS}]}


# Names of the objects the Environment itself creates in its namespace.
OWN_NAMES = (("ResourceQuota", "quota"), ("LimitRange", "limits"),
             ("NetworkPolicy", "default-deny"), ("NetworkPolicy", "allow-dns-egress"))


class Environment(pulumi.ComponentResource):
    """Owns the namespace every other component deploys into, and hands them what ties them to it.

    Pass the Environment as each component's ``environment``: the component then deploys into its
    namespace with its provider, after it, deleted with it where the profile says so (dev and review
    environments: destroy deletes one object), protected and retained where it says so (production,
    staging), its names claimed and its footprint checked against the quota before it registers.

    Outputs:
        namespace: the namespace's name, once it exists.
        ref: the ``NamespaceRef`` (name, profile, quota, claimed names).
        namespace_resource: the Namespace object.
    """

    namespace: pulumi.Output[str]
    namespace_resource: k8s.core.v1.Namespace
    ref: NamespaceRef
    provider: k8s.Provider | None

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        require(args, EnvironmentArgs, "Environment", name)
        raise_if(
            of_type(args.settings, NamespaceConfig, "EnvironmentArgs.settings", "a NamespaceConfig")
            + of_type(args.provider, (k8s.Provider, type(None)), "EnvironmentArgs.provider", "a kubernetes Provider or None")
        )
        try:
            self.ref = NamespaceRef(
                name=args.settings.name, environment=args.environment, quota=args.settings.quota,
                limit_range=args.settings.limit_range,
            )
        except ConfigError as error:
            spelled = [p.replace("NamespaceRef.name", "EnvironmentArgs.settings.name") for p in error.problems]
            raise ConfigError([p.replace("NamespaceRef.", "EnvironmentArgs.") for p in spelled]) from None
        raise_if(settings_problems(args.settings, NamespaceConfig, self.ref.profile, "EnvironmentArgs.settings"))
        self.ref.claim(f"Environment {name!r}", OWN_NAMES)
        self.provider = args.provider
        env = self.ref.profile
        own = pulumi.ResourceOptions(
            providers=[args.provider] if args.provider else None, protect=env.protect_data, retain_on_delete=env.retain_data
        )
        super().__init__("platform:index:Environment", name, None, pulumi.ResourceOptions.merge(own, opts))
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
            f"{name}-allow-dns", metadata=metadata(ns, common, "allow-dns-egress"), spec=dns_egress_spec(args), opts=in_ns
        )
        self.register_outputs({"namespace": self.namespace})

    def options(self, *, data: bool) -> pulumi.ResourceOptions:
        """A component's options in this namespace: its provider, after the namespace, deleted with it
        where the profile says so; ``data``: protected and retained where the profile says so."""
        env = self.ref.profile
        return pulumi.ResourceOptions(
            providers=[self.provider] if self.provider else None,
            protect=env.protect_data if data else None,
            retain_on_delete=env.retain_data if data else None,
            depends_on=[self],
            deleted_with=self.namespace_resource if env.deleted_with_namespace else None,
        )


Where = Environment | NamespaceRef


def namespace_of(where: Where, argument: str) -> NamespaceRef:
    """The namespace a component's ``environment`` argument names, or a ConfigError naming it."""
    if isinstance(where, Environment):
        return where.ref
    if isinstance(where, NamespaceRef):
        return where
    raise ConfigError([f"{argument}: must be an Environment or a NamespaceRef (got {type(where).__name__} {where!r})"])


def options_in(where: Where, opts: pulumi.ResourceOptions | None, *, data: bool) -> pulumi.ResourceOptions:
    """The Environment's options for a component, with the caller's over them. In a NamespaceRef (a
    namespace owned elsewhere) data is still protected and retained where its profile says so."""
    if isinstance(where, Environment):
        own = where.options(data=data)
    else:
        env = where.profile
        own = pulumi.ResourceOptions(
            protect=env.protect_data if data else None, retain_on_delete=env.retain_data if data else None
        )
    return pulumi.ResourceOptions.merge(own, opts)
