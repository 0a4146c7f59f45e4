"""Settings of one Redis instance (``platform:redis``): image, memory policy, persistence."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..errors import PROJECT
from ..profiles import EnvironmentProfile
from ..validation import MemoryQuantity, PriorityClassName, parse_quantity
from .base import Exporter, Footprint, Group, Image, Persistence, Resources, SecurityIds, resources, server_pod, store_services


class RedisConfig(Group):
    """Settings of one Redis instance (``platform:redis``): image, memory policy, persistence."""

    KEY = "redis"

    image: Image
    """The server's image (the official redis image)."""
    resources: Resources
    """The server container's requests and limits."""
    persistence: Persistence
    """The data volume (AOF); disabled: a bounded emptyDir."""
    security: SecurityIds
    """The image's own UID/GID (999/1000)."""
    maxmemory: MemoryQuantity
    """Redis' own memory ceiling; at most half the container's memory limit (an AOF rewrite forks)."""
    maxmemory_policy: Literal[
        "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
        "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
    ]
    """What Redis does at maxmemory."""
    disable_dangerous_commands: bool
    """Rename FLUSHALL, FLUSHDB, CONFIG, DEBUG, SHUTDOWN, MODULE and REPLICAOF away."""
    termination_grace_period_seconds: int = Field(ge=10, le=600)
    """Seconds for a clean shutdown (AOF flush)."""
    metrics: Exporter
    """The redis_exporter sidecar."""
    priority_class_name: PriorityClassName | None = None
    """An existing PriorityClass for the server pod."""

    @classmethod
    def defaults(cls, env: EnvironmentProfile) -> dict[str, Any]:
        durable = env.durable
        return {
            "image": {"repository": "docker.io/library/redis", "tag": "7.4.10-alpine"},
            "resources": resources("250m", "512Mi", "250m", "512Mi") if durable else resources("50m", "64Mi", "250m", "192Mi"),
            "persistence": {"enabled": durable, "size": "1Gi"},
            "security": {"runAsUser": 999, "runAsGroup": 1000},
            # A cache: evict least-recently-used keys; maxmemory is half the limit, the room an AOF
            # rewrite's fork may need when copy-on-write duplicates every page under heavy writes.
            "maxmemory": "256Mi" if durable else "96Mi",
            "maxmemoryPolicy": "allkeys-lru",
            "disableDangerousCommands": env.strict,
            "terminationGracePeriodSeconds": 30,
            "metrics": {
                "enabled": True,
                "image": {"repository": "docker.io/oliver006/redis_exporter", "tag": "v1.90.0"},
                "resources": resources("100m", "64Mi", "100m", "64Mi") if durable else resources("10m", "32Mi", "100m", "64Mi"),
            },
        }

    def rules(self, env: EnvironmentProfile) -> list[str]:
        problems = []
        if parse_quantity(self.maxmemory) * 2 > parse_quantity(self.resources.limits.memory):
            problems.append(
                f"{PROJECT}:redis.maxmemory: {self.maxmemory} must be at most half of redis.resources.limits.memory "
                f"{self.resources.limits.memory}: an AOF rewrite forks Redis, and copy-on-write can double its memory "
                "until the kernel kills it"
            )
        if env.strict and not self.persistence.enabled:
            problems.append(f"{PROJECT}:redis.persistence.enabled: {env.name} data must be persistent; set it to true")
        return problems

    def footprint(self) -> Footprint:
        claims = (("redis.persistence", self.persistence.size),) if self.persistence.enabled else ()
        server = server_pod("redis", self.resources, self.image, self.metrics)
        return Footprint((server,), claims, services=store_services(self.metrics))
