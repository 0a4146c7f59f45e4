"""Settings of the per-environment namespace (``platform:namespace``): its name, quota and limit range."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from ..errors import PROJECT
from ..profiles import EnvironmentProfile
from ..validation import CpuQuantity, DnsLabel, MemoryQuantity, StorageQuantity, parse_quantity
from .base import Footprint, Group, Model, ResourceList


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


class LimitRangeConfig(Model):
    """Defaults for containers that set nothing, and a per-container ceiling."""

    default_request: ResourceList
    """Requests of a container that sets none."""
    default_limit: ResourceList
    """Limits of a container that sets none."""
    max: ResourceList
    """The most one container may ask for."""


class NamespaceConfig(Group):
    """The environment's namespace, its quota and limit range (``platform:namespace``)."""

    KEY = "namespace"

    name: DnsLabel
    """The namespace every component of the environment deploys into (stack config: the stack name)."""
    quota: Quota
    """The namespace's ResourceQuota."""
    limit_range: LimitRangeConfig
    """The namespace's LimitRange."""

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
