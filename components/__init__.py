"""Reusable Pulumi components of the platform, one per file; this module is their public API.

Installed as the ``platform-components`` distribution, the package imports as
``platform_components``; inside this repository it is ``components``. Every component takes an
instance name from which all its Kubernetes names derive, so any number share a namespace.
"""

from .api import ApiService, ApiServiceArgs
from .cluster import kubernetes_provider
from .config import (
    ApiConfig,
    ClusterConfig,
    ConfigError,
    IngressConfig,
    MonitoringConfig,
    NamespaceConfig,
    PlatformConfig,
    PostgresConfig,
    RedisConfig,
    environment_for,
    load_config,
    settings,
)
from .connections import MetricsTarget, PostgresConnection, RedisConnection, SecretKeyRef
from .datastore import DataStoreArgs
from .environment import Environment, EnvironmentArgs
from .ingress import Ingress, IngressArgs
from .labels import selector_labels
from .monitoring import Monitoring, MonitoringArgs
from .postgres import Postgres, PostgresArgs
from .redis import Redis, RedisArgs

__version__ = "0.1.0"

__all__ = [
    "ApiConfig",
    "ApiService",
    "ApiServiceArgs",
    "ClusterConfig",
    "ConfigError",
    "DataStoreArgs",
    "Environment",
    "EnvironmentArgs",
    "Ingress",
    "IngressArgs",
    "IngressConfig",
    "MetricsTarget",
    "Monitoring",
    "MonitoringArgs",
    "MonitoringConfig",
    "NamespaceConfig",
    "PlatformConfig",
    "Postgres",
    "PostgresArgs",
    "PostgresConfig",
    "PostgresConnection",
    "Redis",
    "RedisArgs",
    "RedisConfig",
    "RedisConnection",
    "SecretKeyRef",
    "environment_for",
    "kubernetes_provider",
    "load_config",
    "selector_labels",
    "settings",
]
