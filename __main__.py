"""The platform, one stack per environment: read top to bottom, it is the whole picture."""

import pulumi

from components.api import SERVICE_PORT, ApiService, ApiServiceArgs
from components.cluster import kubernetes_provider
from components.config import from_pulumi
from components.datastore import DataStoreArgs
from components.environment import Environment, EnvironmentArgs
from components.ingress import Ingress, IngressArgs
from components.labels import selector_labels
from components.monitoring import Monitoring, MonitoringArgs
from components.postgres import Postgres, PostgresArgs
from components.redis import Redis, RedisArgs

# Every config problem is reported here, at once, before a single resource is registered.
config = from_pulumi()

provider = kubernetes_provider("kubernetes", config.cluster)
# Data-bearing objects: protected in production, kept on delete in staging.
data = pulumi.ResourceOptions(providers=[provider], protect=config.protect_data, retain_on_delete=config.retain_data)

environment = Environment("env", EnvironmentArgs(config.environment, config.namespace), opts=data)

# Data layer: only the API pods connect; the monitoring namespace (unless off) scrapes the exporters.
data_layer = DataStoreArgs(
    namespace=config.namespace.name,
    environment=config.environment,
    clients=[selector_labels("api", config.namespace.name)],
    monitoring_namespace=None if config.monitoring.mode == "off" else config.monitoring.namespace,
    retain_volumes=config.retain_data,
)
# Where the namespace goes with the stack (dev, review environments), deleting it deletes all that
# is in it: `destroy` then deletes the namespace alone, as `kubectl delete namespace` would.
# Elsewhere it is kept, and destroy deletes (or retains) each object as before.
namespaced = pulumi.ResourceOptions(
    depends_on=[environment], deleted_with=None if config.retain_data else environment.namespace_resource
)
in_namespace = pulumi.ResourceOptions.merge(data, namespaced)
postgres = Postgres("postgres", PostgresArgs(**vars(data_layer), settings=config.postgres), opts=in_namespace)
redis = Redis("redis", RedisArgs(**vars(data_layer), settings=config.redis), opts=in_namespace)

# The API starts once Postgres and Redis are ready; stateless, so neither protected nor retained.
stateless = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(providers=[provider]), namespaced)
api = ApiService(
    "api",
    ApiServiceArgs(
        namespace=config.namespace.name,
        environment=config.environment,
        settings=config.api,
        database=postgres.connection,
        cache=redis.connection,
        ingress_controller=config.ingress.traffic_source,
        monitoring_namespace=data_layer.monitoring_namespace,
    ),
    opts=stateless,
)
ingress = Ingress(
    "ingress",
    IngressArgs(
        config.namespace.name, config.environment, config.ingress, api.service_name, SERVICE_PORT, (config.api.metrics_path,),
        api_name="api",
    ),
    opts=stateless,
)
# Scrape targets, alerts and dashboards (and, in mode install, kube-prometheus-stack itself).
targets = [t for t in (api.metrics_target, postgres.metrics_target, redis.metrics_target) if t]
monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(config.environment, environment.namespace, config.monitoring, targets),
    opts=pulumi.ResourceOptions(providers=[provider]),
)
pulumi.export("apiUrl", api.in_cluster_url)
pulumi.export("publicUrl", ingress.public_url)  # None: nothing exposed; use kubectl.portForward
pulumi.export("kubectl", api.kubectl_hints)
pulumi.export("monitoring", monitoring.endpoints)  # Prometheus/Grafana URLs and port-forward commands
# Secret outputs only: `pulumi stack output --show-secrets postgresPassword`.
pulumi.export("postgresPassword", postgres.password)
pulumi.export("redisPassword", redis.password)

pulumi.export("environment", config.environment)
pulumi.export("namespace", environment.namespace)
