"""Settings of one Redis instance (``platform:redis``): image, memory policy, persistence, its users."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from ..errors import PROJECT
from ..profiles import EnvironmentProfile
from ..validation import MemoryQuantity, PriorityClassName, parse_quantity
from .base import (
    Container,
    Exporter,
    Footprint,
    Group,
    Image,
    Model,
    Persistence,
    Resources,
    SecurityIds,
    resources,
    server_pod,
    store_services,
)

# A key prefix becomes an ACL key and channel pattern (``~<prefix>*``): no glob characters, no spaces.
_KEY_PREFIX = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.:/{}]{0,62}")
Generation = Annotated[int, Field(ge=1, le=1_000_000)]


class AclSync(Model):
    """The sidecar that renders the users file and has Redis reload it (``ACL LOAD``)."""

    resources: Resources
    """Its requests and limits (also its init step's)."""


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
    acl_sync: AclSync
    """The users-file sidecar (same image as the server)."""
    rotations: dict[str, Generation] = Field(default_factory=dict)
    """Credential generation per client key (its ApiService name, or metrics for the exporter); unset: 1.
    Raising one (by one per `up`) rotates that client's password without downtime."""
    key_prefixes: dict[str, str] = Field(default_factory=dict)
    """Per client key, the only keys and Pub/Sub channels its user may touch (orders: gives ~orders:*); unset: all keys."""

    @field_validator("key_prefixes")
    @classmethod
    def _prefixes(cls, prefixes: dict[str, str]) -> dict[str, str]:
        bad = {k: v for k, v in prefixes.items() if not _KEY_PREFIX.fullmatch(v)}
        if bad:
            raise ValueError(
                f"{bad}: a prefix is 1 to 63 letters, digits and - _ . : / {{ }} (no glob characters or spaces), "
                "starting with a letter or digit"
            )
        return prefixes

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
            # A shell loop that wakes every few seconds: requests equal limits, so the pod stays Guaranteed.
            "aclSync": {"resources": resources("10m", "24Mi", "10m", "24Mi")},
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
        sync = Container("redis.aclSync", self.acl_sync.resources, self.image, image_key="redis.image")
        server = replace(server, containers=(*server.containers, sync))
        return Footprint((server,), claims, services=store_services(self.metrics))
