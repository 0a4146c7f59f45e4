"""The platform, one stack per environment: read top to bottom, it is the whole picture."""

import pulumi

from components.api import ApiService, ApiServiceArgs
from components.cluster import kubernetes_provider
from components.cnpg_operator import CloudNativePGOperator, CloudNativePGOperatorArgs
from components.environment import Environment, EnvironmentArgs
from components.history import CREDENTIAL_GENERATIONS, POSTGRES_MODES, check_rotations, last_outputs, postgres_deployed
from components.ingress import Ingress, IngressArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.postgres import Postgres, PostgresArgs
from components.postgres_cnpg import check_switch
from components.redis import Redis, RedisArgs
from environments import from_pulumi

# Every config problem is reported here, at once, before a single resource is registered.
config = from_pulumi()
# So is a Postgres mode switch that would delete the database, judged by what the stack's last update deployed.
before = last_outputs()
deployed = postgres_deployed(before, "postgres")
check_switch("postgres", config.postgres, deployed)
# And a credential rotation that skips a generation (the login running pods hold would go at once).
rotations = {"postgres": ("postgres", config.postgres.rotations), "redis": ("redis", config.redis.rotations)}
check_rotations(before, rotations)

# The namespace; every component below deploys into it with its provider, is deleted with it where
# the environment says so, and claims its names and quota there before it registers anything.
environment = Environment(
    "env",
    EnvironmentArgs(
        environment=config.environment, settings=config.namespace,
        provider=kubernetes_provider("kubernetes", config.cluster),
    ),
)
# Data layer: only the API pods connect; the monitoring namespace (unless off) scrapes the exporters.
# Only the Prometheus pods there, by their labels: not Grafana, Alertmanager or a log shipper.
scraper = None if config.monitoring.mode == "off" else config.monitoring.namespace
prometheus = config.monitoring.prometheus_pod_labels
# Mode cloudnativepg needs the operator: installed here, or the cluster's (its CRDs checked).
operator = None
if config.postgres.mode == "cloudnativepg":
    operator = CloudNativePGOperator(
        "cnpg-operator", CloudNativePGOperatorArgs(environment=environment, settings=config.postgres.cloudnativepg.operator)
    )
postgres = Postgres(
    "postgres",
    PostgresArgs(environment=environment, settings=config.postgres, clients=["api"], monitoring_namespace=scraper,
                 monitoring_pod_labels=prometheus, operator=operator,
                 deployed=deployed),
)
redis = Redis(
    "redis",
    RedisArgs(environment=environment, settings=config.redis, clients=["api"], monitoring_namespace=scraper,
              monitoring_pod_labels=prometheus),
)

# The API starts once Postgres and Redis are ready; its route admits the controller and follows from it.
api = ApiService(
    "api",
    ApiServiceArgs(
        environment=environment, settings=config.api, database=postgres.connection, cache=redis.connection,
        route=config.ingress, monitoring_namespace=scraper, monitoring_pod_labels=prometheus,
    ),
)
ingress = Ingress("ingress", IngressArgs(service=api))
# Scrape targets, alerts and dashboards (and, in mode install, kube-prometheus-stack itself).
monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        environment=environment, settings=config.monitoring,
        targets=[api.metrics_target, postgres.metrics_target, redis.metrics_target],
    ),
)
pulumi.export("apiUrl", api.in_cluster_url)
pulumi.export("publicUrl", ingress.public_url)  # None: nothing exposed; use kubectl.portForward
pulumi.export("kubectl", api.kubectl_hints)
pulumi.export("monitoring", monitoring.endpoints)  # Prometheus/Grafana URLs and port-forward commands
# Secret outputs only: `pulumi stack output --show-secrets postgresPassword`.
pulumi.export("postgresPassword", postgres.password)
pulumi.export("redisPassword", redis.password)
pulumi.export(POSTGRES_MODES, {"postgres": list(postgres.deployed)})
pulumi.export(CREDENTIAL_GENERATIONS, {store: dict(settings) for store, (_, settings) in rotations.items()})

pulumi.export("environment", config.environment)
pulumi.export("namespace", environment.namespace)
