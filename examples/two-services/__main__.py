"""Two services on the platform's components, in one namespace: an `api` and a `worker`
(ApiService twice: different images, ports and probes), one Postgres both use, a Redis each.

Settings are built in code with each settings class's per-environment defaults; a bad value
fails with the same `platform:<group>.<key>` error as the platform's stack config.
"""

import platform_components as pc
import pulumi

stack = pulumi.get_stack()
config = pulumi.Config("two-services")
environment = pc.environment_for(stack)  # dev, staging, production are themselves; others ephemeral
namespace = config.get("namespace") or f"two-services-{stack}"
# Two services, three stores: more Services than the default quota of 10.
namespace_settings = pc.NamespaceConfig.for_environment(environment, {"name": namespace, "quota": {"services": 20}})
monitoring = pc.MonitoringConfig.for_environment(environment, {"mode": config.get("monitoringMode") or "existing"})
scraper = None if monitoring.mode == "off" else monitoring.namespace

env = pc.Environment("env", pc.EnvironmentArgs(
    environment=environment, settings=namespace_settings,
    provider=pc.kubernetes_provider("kubernetes", pc.ClusterConfig.for_environment(environment)),
))

# Each store admits exactly the services named as its clients.
db = pc.Postgres("db", pc.PostgresArgs(
    environment=env, settings=pc.PostgresConfig.for_environment(environment), clients=["api", "worker"],
    monitoring_namespace=scraper,
))
caches = {
    service: pc.Redis(f"{service}-cache", pc.RedisArgs(
        environment=env, settings=pc.RedisConfig.for_environment(environment), clients=[service],
        monitoring_namespace=scraper,
    ))
    for service in ("api", "worker")
}

# podinfo serves /healthz, /readyz and /metrics; the worker runs another release on another port.
PODINFO = "ghcr.io/stefanprodan/podinfo"
api_settings = pc.ApiConfig.for_environment(environment, {
    "image": {"repository": PODINFO, "tag": "6.7.1"},
    "containerPort": 9898,
    "metricsPort": 9797,
    "env": {"PODINFO_PORT_METRICS": "9797"},
})
worker_settings = pc.ApiConfig.for_environment(environment, {
    "image": {"repository": PODINFO, "tag": "6.7.0"},
    "containerPort": 8080,
    "metricsPort": 9798,  # podinfo's private metrics port
    "env": {"PODINFO_PORT": "8080", "PODINFO_PORT_METRICS": "9798"},
    "appName": "worker",
    "probes": {"readiness": {"path": "/readyz", "periodSeconds": 5}, "liveness": {"path": "/healthz", "periodSeconds": 20}},
})
services = {
    name: pc.ApiService(name, pc.ApiServiceArgs(
        environment=env, settings=settings, database=db.connection, cache=caches[name].connection,
        monitoring_namespace=scraper,  # not exposed (no route): kubectl port-forward
    ))
    for name, settings in (("api", api_settings), ("worker", worker_settings))
}

pc.Monitoring("monitoring", pc.MonitoringArgs(
    environment=env, settings=monitoring,
    targets=[*(s.metrics_target for s in services.values()), db.metrics_target, *(c.metrics_target for c in caches.values())],
))

pulumi.export("namespace", env.namespace)
pulumi.export("urls", {name: s.in_cluster_url for name, s in services.items()})
pulumi.export("kubectl", {name: s.kubectl_hints for name, s in services.items()})
pulumi.export("postgresPassword", db.password)  # a secret output
