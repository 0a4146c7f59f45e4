"""What dev, staging, production and review environments mean for THIS program.

The components' library gives neutral defaults per environment profile; this table holds this
team's own choices over them: the seed's API image and its contract, the hosts, the sizes.
Stack files (``Pulumi.<stack>.yaml``) override both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components import config as library
from components.config import PlatformConfig
from components.profiles import EnvironmentProfile

# Per environment: (Postgres volume and its backups, Redis volume).
VOLUME_SIZES = {"production": ("20Gi", "5Gi"), "staging": ("10Gi", "2Gi")}
HOSTS = {"staging": "api.staging.example.com", "production": "api.example.com"}
# Production's public entry: the cluster's shared Gateway (ingress-nginx left maintenance in March 2026);
# its HTTPS listener holds the certificate, and the API admits that Gateway's own data plane pods.
# Staging keeps an Ingress (cert-manager, HTTP-01) until its cluster has the Gateway too.
# Where production copies every dump, off the cluster. The cluster's owners create the Secret backup-s3
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY of a key allowed s3:PutObject on the prefix only) and the
# bucket's lifecycle rule that expires old dumps (README, Backups and restore).
OBJECT_STORES = {
    "production": {"endpoint": "s3.eu-central-1.amazonaws.com", "region": "eu-central-1",
                   "bucket": "example-platform-backups", "prefix": "platform/production/", "existingSecret": "backup-s3"},
}


def overrides(env: EnvironmentProfile, stack: str) -> Mapping[str, Mapping[str, Any]]:
    """This program's choices over the library's defaults, as stack config would spell them."""
    postgres_size, redis_size = VOLUME_SIZES.get(env.name, ("1Gi", "1Gi"))
    if env.durable:
        # The seed's API (port 8080, /health, /ready, /metrics), its metrics on a private port.
        api: dict[str, Any] = {
            "image": {"repository": "registry.example.com/platform/api-fpc", "tag": "1.0.0"},
            "metricsPort": 9090,
            "probes": {
                "startup": {"path": "/health"},
                "liveness": {"path": "/health", "initialDelaySeconds": 30},
                "readiness": {"path": "/ready"},
            },
        }
    else:
        # Dev and review apps run a public demo image that serves probes and metrics; podinfo opens
        # its private metrics port when PODINFO_PORT_METRICS is set (its --port-metrics).
        api = {
            "image": {"repository": "ghcr.io/stefanprodan/podinfo", "tag": "6.7.1"},
            "containerPort": 9898,
            "metricsPort": 9797,
            "env": {"PODINFO_PORT_METRICS": "9797"},
        }
    result: dict[str, Mapping[str, Any]] = {
        "api": {**api, "appName": "api-fpc"},
        "postgres": {"database": "myapp", "persistence": {"size": postgres_size},
                     "backup": {"size": postgres_size, **({"objectStore": OBJECT_STORES[env.name]} if env.name in OBJECT_STORES
                                                           else {})}},
        "redis": {"persistence": {"size": redis_size}},
    }
    # Staging and production enter through an Ingress. Moving production to a Gateway (ingress.kind
    # gateway, README) is a migration its cluster's owners prepare (the Gateway serving the host, its
    # certificate, DNS): a stack file change made on purpose, never a side effect of a merge.
    if env.durable:
        tls = {"enabled": True, "clusterIssuer": "letsencrypt"}
        result["ingress"] = {"kind": "ingress", "host": HOSTS.get(env.name), "tls": tls}
    return result


def load_config(stack: str, raw: Mapping[str, Any]) -> PlatformConfig:
    """One stack's config with this program's choices: pure, for tests and tools."""
    return library.load_config(stack, raw, overrides)


def environment_defaults(environment: str, stack: str) -> dict[str, Any]:
    """Every group's defaults for one environment in this program, as stack config spells them."""
    return library.environment_defaults(environment, stack, overrides)


def from_pulumi() -> PlatformConfig:
    """The running stack's config; raises ConfigError before any resource."""
    return library.from_pulumi(overrides)
