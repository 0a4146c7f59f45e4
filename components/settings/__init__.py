"""Each component's settings group: its model, neutral defaults per environment profile and footprint."""

from .api import ApiConfig, ApiPersistence, Autoscaling, Probes
from .base import (
    Container,
    Exporter,
    Footprint,
    Group,
    Image,
    Model,
    Persistence,
    Probe,
    ResourceList,
    Resources,
    SecurityIds,
    Workload,
)
from .cloudnativepg import CloudNativePG, Migration, Operator, Plugin, Recovery, Synchronous
from .cluster import ClusterConfig
from .ingress import GatewayRef, IngressConfig, IngressController, Tls
from .monitoring import AlertReceiver, LoggingConfig, MonitoringConfig, MonitoringResources
from .namespace import LimitRangeConfig, NamespaceConfig, Quota
from .postgres import Backup, ObjectStore, PostgresConfig
from .redis import RedisConfig

# Every group, by its stack-config key: the loader and the config reference iterate over these.
GROUPS: dict[str, type[Group]] = {
    g.KEY: g for g in (ClusterConfig, NamespaceConfig, ApiConfig, PostgresConfig, RedisConfig, IngressConfig, MonitoringConfig)
}

__all__ = [
    "GROUPS", "AlertReceiver", "ApiConfig", "ApiPersistence", "Autoscaling", "Backup", "CloudNativePG",
    "ClusterConfig", "Container", "Exporter", "Footprint", "GatewayRef", "Group", "Image", "IngressConfig",
    "IngressController", "LimitRangeConfig", "LoggingConfig", "Migration", "Model", "MonitoringConfig",
    "MonitoringResources", "NamespaceConfig", "ObjectStore", "Operator", "Persistence", "Plugin", "PostgresConfig",
    "Probe", "Probes", "Quota", "Recovery", "RedisConfig", "ResourceList", "Resources", "SecurityIds", "Synchronous",
    "Tls", "Workload",
]
