"""Settings of the per-environment namespace (``platform:namespace``): its name, quota and limit range."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from ..errors import PROJECT
from ..profiles import EnvironmentProfile
from ..validation import CpuQuantity, DnsLabel, MemoryQuantity, StorageQuantity, parse_quantity
from .base import Cidr, Footprint, Group, Model, ResourceList


class Quota(Model):
    """The namespace's ResourceQuota: a ceiling every component's footprint is checked against."""

    requests_cpu: CpuQuantity
    """Sum of CPU requests of every pod in the namespace."""
    requests_memory: MemoryQuantity
    """Sum of memory requests."""
    limits_cpu: CpuQuantity
    """Sum of CPU limits."""
    limits_memory: MemoryQuantity
    """Sum of memory limits."""
    requests_storage: StorageQuantity
    """Sum of the sizes of every PersistentVolumeClaim."""
    persistent_volume_claims: int = Field(ge=0, le=1000)
    """Number of PersistentVolumeClaims."""
    pods: int = Field(ge=1, le=10000)
    """Number of pods (rollout surge pods and Jobs included)."""
    services: int = Field(ge=1, le=1000)
    """Number of Services."""

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Quota:
        for resource in ("cpu", "memory"):
            request, limit = getattr(self, f"requests_{resource}"), getattr(self, f"limits_{resource}")
            if parse_quantity(request) > parse_quantity(limit):
                raise ValueError(f"requests{resource.capitalize()} {request} is more than limits{resource.capitalize()} {limit}")
        return self


class LimitRangeConfig(Model):
    """Defaults for containers that set nothing, and a per-container ceiling."""

    default_request: ResourceList
    """Requests of a container that sets none."""
    default_limit: ResourceList
    """Limits of a container that sets none."""
    max: ResourceList
    """The most one container may ask for."""

    @model_validator(mode="after")
    def _ordered(self) -> LimitRangeConfig:
        """defaultRequest <= defaultLimit <= max, or the API server rejects the LimitRange."""
        for resource in ("cpu", "memory"):
            chain = [(key, getattr(getattr(self, attr), resource)) for key, attr in
                     (("defaultRequest", "default_request"), ("defaultLimit", "default_limit"), ("max", "max"))]
            for (low_key, low), (high_key, high) in itertools.pairwise(chain):
                if parse_quantity(low) > parse_quantity(high):
                    raise ValueError(f"{low_key}.{resource} {low} is more than {high_key}.{resource} {high}")
        return self


class NamespaceConfig(Group):
    """The environment's namespace, its quota and limit range (``platform:namespace``)."""

    KEY = "namespace"

    name: DnsLabel
    """The namespace every component of the environment deploys into (stack config: the stack name)."""
    quota: Quota
    """The namespace's ResourceQuota."""
    limit_range: LimitRangeConfig
    """The namespace's LimitRange."""
    dns_addresses: list[Cidr] = Field(default_factory=lambda: ["169.254.20.10/32"])
    """Addresses every pod may send DNS to besides the kube-dns pods: NodeLocal DNSCache's link-local address (and,
    where it also intercepts the kube-dns Service address, that ClusterIP as a /32)."""

    @classmethod
    def defaults(cls, env: EnvironmentProfile) -> dict[str, Any]:
        big = env.strict
        return {
            "quota": {
                "requestsCpu": "8" if big else "4",
                "requestsMemory": "16Gi" if big else "8Gi",
                "limitsCpu": "16" if big else "8",
                "limitsMemory": "32Gi" if big else "16Gi",
                "requestsStorage": "200Gi" if big else "50Gi",
                "persistentVolumeClaims": 10,
                "pods": 40 if big else 20,
                "services": 10,
            },
            "limitRange": {
                "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
                "defaultLimit": {"cpu": "500m", "memory": "512Mi"},
                "max": {"cpu": "4", "memory": "8Gi"},
            },
        }


def limit_range_problems(limits: LimitRangeConfig, footprint: Footprint) -> list[str]:
    """Containers whose limits pass the LimitRange's per-container max: admission rejects their pods."""
    return [
        f"{PROJECT}:{c.key}.resources.limits.{resource}: {getattr(c.resources.limits, resource)} is more than the "
        f"namespace's limitRange.max.{resource} {getattr(limits.max, resource)}; the pods would be rejected"
        for w in footprint.workloads
        for c in w.containers
        for resource in ("cpu", "memory")
        if parse_quantity(getattr(c.resources.limits, resource)) > parse_quantity(getattr(limits.max, resource))
    ]


def quota_problems(quota: Quota, footprint: Footprint) -> list[str]:
    """Where ``footprint`` (every component of a namespace, at peak) does not fit ``quota``: each would
    otherwise fail inside the cluster, half-way through an `up` or at the first scale-up."""
    key = f"{PROJECT}:namespace.quota"
    problems = []
    claims, pods = len(footprint.claims), sum(w.count for w in footprint.workloads)
    if quota.persistent_volume_claims < claims:
        problems.append(
            f"{key}.persistentVolumeClaims: {quota.persistent_volume_claims} is fewer than the {claims} volumes "
            "this environment claims"
        )
    if pods > quota.pods:
        problems.append(f"{key}.pods: {quota.pods} is fewer than the {pods} pods this environment can run")
    if footprint.services > quota.services:
        problems.append(
            f"{key}.services: {quota.services} is fewer than the {footprint.services} Services this environment creates"
        )
    who = ", ".join(dict.fromkeys(w.name for w in footprint.workloads))
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            need = sum(
                (w.count * parse_quantity(getattr(getattr(c.resources, kind), resource))
                 for w in footprint.workloads for c in w.containers),
                Decimal(0),
            )
            limit = getattr(quota, f"{kind}_{resource}")
            if need > parse_quantity(limit):
                problems.append(
                    f"{key}.{kind}{resource.capitalize()}: {limit} is less than the {_pretty(need, resource)} of "
                    f"{kind}.{resource} that {who} need; scale-up would stall"
                )
    storage = sum((parse_quantity(size) for _, size in footprint.claims), Decimal(0))
    if storage > parse_quantity(quota.requests_storage):
        problems.append(
            f"{key}.requestsStorage: {quota.requests_storage} is less than the {_pretty(storage, 'memory')} "
            "the volumes of this environment claim"
        )
    return problems


def _pretty(value: Decimal, resource: str) -> str:
    if resource == "cpu":
        return f"{value.normalize():f} CPU"
    return f"{(value / 2**20).quantize(Decimal(1))}Mi"
