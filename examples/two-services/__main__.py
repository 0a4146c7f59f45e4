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

provider = pc.kubernetes_provider("kubernetes", pc.ClusterConfig.for_environment(environment))
env = pc.Environment(
    "env", pc.EnvironmentArgs(environment, namespace_settings), opts=pulumi.ResourceOptions(providers=[provider])
)
in_namespace = pulumi.ResourceOptions(providers=[provider], depends_on=[env])

# Each service's pods, by the selector labels of its instance name: the stores admit exactly these.
api_pods, worker_pods = pc.selector_labels("api", namespace), pc.selector_labels("worker", namespace)


def store_args(clients: list[dict[str, str]]) -> dict:
    return {"namespace": namespace, "environment": environment, "clients": clients,
            "monitoring_namespace": scraper, "retain_volumes": False}


db = pc.Postgres(
    "db", pc.PostgresArgs(**store_args([api_pods, worker_pods]), settings=pc.PostgresConfig.for_environment(environment)),
    opts=in_namespace,
)
caches = {
    service: pc.Redis(
        f"{service}-cache",
        pc.RedisArgs(**store_args([pods]), settings=pc.RedisConfig.for_environment(environment)),
        opts=in_namespace,
    )
    for service, pods in (("api", api_pods), ("worker", worker_pods))
}

# podinfo serves /healthz, /readyz and /metrics; the worker runs another release on another port.
PODINFO = "ghcr.io/stefanprodan/podinfo"
api_settings = pc.ApiConfig.for_environment(environment, {"image": {"repository": PODINFO, "tag": "6.7.1"}})
worker_settings = pc.ApiConfig.for_environment(environment, {
    "image": {"repository": PODINFO, "tag": "6.7.0"},
    "containerPort": 8080,
    "metricsPort": 9798,  # podinfo's private metrics port (the env map replaces the default one whole)
    "env": {"PODINFO_PORT": "8080", "PODINFO_PORT_METRICS": "9798"},
    "appName": "worker",
    "probes": {"readiness": {"path": "/readyz", "periodSeconds": 5}, "liveness": {"path": "/healthz", "periodSeconds": 20}},
})
services = {
    name: pc.ApiService(
        name,
        pc.ApiServiceArgs(
            namespace=namespace, environment=environment, settings=settings,
            database=db.connection, cache=caches[name].connection,
            ingress_controller=None,  # not exposed: kubectl port-forward
            monitoring_namespace=scraper,
        ),
        opts=in_namespace,
    )
    for name, settings in (("api", api_settings), ("worker", worker_settings))
}

targets = [t for t in (*(s.metrics_target for s in services.values()), db.metrics_target,
                       *(c.metrics_target for c in caches.values())) if t]
pc.Monitoring("monitoring", pc.MonitoringArgs(environment, env.namespace, monitoring, targets),
              opts=pulumi.ResourceOptions(providers=[provider]))

pulumi.export("namespace", env.namespace)
pulumi.export("urls", {name: s.in_cluster_url for name, s in services.items()})
pulumi.export("kubectl", {name: s.kubectl_hints for name, s in services.items()})
pulumi.export("postgresPassword", db.password)  # a secret output
