"""A shop on the platform's components, composed differently from the platform's own program:
`orders` and `billing` share one Postgres; only `orders` has a cache; only `orders` is public, through
a Gateway API route; the cluster's own Prometheus (monitoring `existing`) scrapes everything.
"""

import platform_components as pc
import pulumi

stack = pulumi.get_stack()
environment = pc.environment_for(stack)
namespace = pulumi.Config("shop").get("namespace") or f"shop-{stack}"
IMAGE = "ghcr.io/stefanprodan/podinfo"  # a public image serving /healthz, /readyz and /metrics

env = pc.Environment("shop", pc.EnvironmentArgs(
    environment=environment, settings=pc.NamespaceConfig.for_environment(environment, {"name": namespace}),
    provider=pc.kubernetes_provider("kubernetes", pc.ClusterConfig.for_environment(environment)),
))
monitoring = pc.MonitoringConfig.for_environment(environment, {"mode": "existing"})

ordersdb = pc.Postgres("ordersdb", pc.PostgresArgs(
    environment=env, clients=["orders", "billing"], monitoring_namespace=monitoring.namespace,
    settings=pc.PostgresConfig.for_environment(environment, {"database": "shop", "persistence": {"size": "2Gi"},
                                                             "backup": {"size": "2Gi"}}),
))
cache = pc.Redis("cache", pc.RedisArgs(
    environment=env, clients=["orders"], monitoring_namespace=monitoring.namespace,
    settings=pc.RedisConfig.for_environment(environment),
))


def service_settings(port: int, metrics_port: int) -> pc.ApiConfig:
    return pc.ApiConfig.for_environment(environment, {
        "image": {"repository": IMAGE, "tag": "6.7.1"},
        "containerPort": port, "metricsPort": metrics_port,
        "env": {"PODINFO_PORT": str(port), "PODINFO_PORT_METRICS": str(metrics_port)},
    })


# Public through the cluster's Gateway; the route follows from the service (name, port, /metrics denied).
public = pc.IngressConfig.for_environment(environment, {
    "kind": "gateway", "host": "orders.shop.example.org",
    "gateway": {"name": "public", "namespace": "gateways"},
    "controller": {"namespace": "gateways", "podLabels": {"gateway.networking.k8s.io/gateway-name": "public"}},
})
orders = pc.ApiService("orders", pc.ApiServiceArgs(
    environment=env, settings=service_settings(8080, 9090), database=ordersdb.connection, cache=cache.connection,
    route=public, monitoring_namespace=monitoring.namespace,
))
billing = pc.ApiService("billing", pc.ApiServiceArgs(  # no cache, not public
    environment=env, settings=service_settings(8081, 9091), database=ordersdb.connection,
    monitoring_namespace=monitoring.namespace,
))
route = pc.Ingress("orders-route", pc.IngressArgs(service=orders))

pc.Monitoring("shop-monitoring", pc.MonitoringArgs(
    environment=env, settings=monitoring,
    targets=[orders.metrics_target, billing.metrics_target, ordersdb.metrics_target, cache.metrics_target],
    postgres_backups=True,
))

pulumi.export("publicUrl", route.public_url)
pulumi.export("urls", {"orders": orders.in_cluster_url, "billing": billing.in_cluster_url})
