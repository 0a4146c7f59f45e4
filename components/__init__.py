"""Reusable Pulumi components of the platform, one per file; this module is their public API.

Installed as the ``platform-components`` distribution, the package imports as
``platform_components``; inside this repository it is ``components``. Every component takes an
instance name from which all its Kubernetes names derive, and the ``Environment`` (or a
``NamespaceRef``) it deploys into; its arguments are checked, its names claimed in the namespace
and its footprint checked against the quota before it registers anything.
"""

from .api import ApiService, ApiServiceArgs, pod_identity
from .cluster import kubernetes_provider
from .cnpg_operator import CloudNativePGOperator, CloudNativePGOperatorArgs
from .config import PlatformConfig, config_warnings, from_pulumi, load_config
from .connections import (
    BINDING_KEYS,
    Credentials,
    MetricsTarget,
    PostgresConnection,
    RedisConnection,
    SecretKeyRef,
    StoreConnection,
)
from .datastore import DataStoreArgs
from .environment import Environment, EnvironmentArgs
from .errors import ConfigError
from .history import check_rotations, last_outputs, postgres_deployed
from .ingress import Ingress, IngressArgs
from .labels import selector_labels
from .monitoring import Monitoring, MonitoringArgs
from .namespace import NamespaceRef
from .postgres import Postgres, PostgresArgs
from .profiles import ENVIRONMENTS, PROFILES, EnvironmentProfile, environment_for
from .redis import Redis, RedisArgs
from .settings import (
    GROUPS,
    AlertReceiver,
    ApiConfig,
    ApiPersistence,
    Autoscaling,
    Backup,
    CloudNativePG,
    ClusterConfig,
    Exporter,
    Footprint,
    GatewayRef,
    Image,
    IngressConfig,
    IngressController,
    LimitRangeConfig,
    LoggingConfig,
    MonitoringConfig,
    MonitoringResources,
    NamespaceConfig,
    ObjectStore,
    Persistence,
    PostgresConfig,
    Probe,
    Probes,
    Quota,
    RedisConfig,
    ResourceList,
    Resources,
    SecurityIds,
    Tls,
)

__version__ = "0.2.0"

__all__ = [
    "BINDING_KEYS", "ENVIRONMENTS", "GROUPS", "PROFILES", "AlertReceiver", "ApiConfig", "ApiPersistence",
    "ApiService", "ApiServiceArgs", "Autoscaling", "Backup", "CloudNativePG", "CloudNativePGOperator",
    "CloudNativePGOperatorArgs", "ClusterConfig", "ConfigError", "Credentials", "DataStoreArgs", "Environment",
    "EnvironmentArgs", "EnvironmentProfile", "Exporter", "Footprint", "GatewayRef", "Image", "Ingress", "IngressArgs",
    "IngressConfig", "IngressController", "LimitRangeConfig", "LoggingConfig", "MetricsTarget", "Monitoring",
    "MonitoringArgs", "MonitoringConfig", "MonitoringResources", "NamespaceConfig", "NamespaceRef", "ObjectStore",
    "Persistence", "PlatformConfig", "Postgres", "PostgresArgs", "PostgresConfig", "PostgresConnection", "Probe",
    "Probes", "Quota", "Redis", "RedisArgs", "RedisConfig", "RedisConnection", "ResourceList", "Resources",
    "SecretKeyRef", "SecurityIds", "StoreConnection", "Tls", "check_rotations", "config_warnings", "environment_for",
    "from_pulumi", "kubernetes_provider", "last_outputs", "load_config", "pod_identity", "postgres_deployed",
    "selector_labels",
]
