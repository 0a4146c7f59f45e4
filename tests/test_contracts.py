"""The library's contracts, as another team would break them: each misuse raises a ConfigError that names
the argument (or both claimants) before the offending component registers anything. Every case runs a
small composition of its own under the mock engine, in a namespace shared by several components."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import components as pc
from components.errors import ConfigError
from tools.engine import Run, run_function

ENV = "staging"
IMAGE = {"image": {"repository": "ghcr.io/acme/app", "tag": "1.0.0"}}


def environment(name: str = "shop", **namespace: Any) -> pc.Environment:
    settings = pc.NamespaceConfig.for_environment(ENV, {"name": name, **namespace})
    return pc.Environment(f"{name}-env", pc.EnvironmentArgs(environment=ENV, settings=settings))


def postgres(env: Any, name: str = "ordersdb", clients: Any = ("orders",), **settings: Any) -> pc.Postgres:
    return pc.Postgres(name, pc.PostgresArgs(
        environment=env, clients=list(clients) if isinstance(clients, tuple) else clients,
        settings=pc.PostgresConfig.for_environment(ENV, {"persistence": {"size": "1Gi"}, "backup": {"size": "1Gi"}, **settings}),
    ))


def redis(env: Any, name: str = "cache", clients: Any = ("orders",)) -> pc.Redis:
    return pc.Redis(name, pc.RedisArgs(environment=env, clients=list(clients), settings=pc.RedisConfig.for_environment(ENV)))


def service(env: Any, name: str = "orders", settings: dict[str, Any] | None = None, **args: Any) -> pc.ApiService:
    return pc.ApiService(name, pc.ApiServiceArgs(
        environment=env, settings=pc.ApiConfig.for_environment(ENV, {**IMAGE, **(settings or {})}), **args
    ))


def two_services_sharing_a_database() -> None:
    """The composition every case below breaks one way: it must itself deploy."""
    env = environment()
    db = pc.Postgres("ordersdb", pc.PostgresArgs(
        environment=env, clients=["orders", "billing"], monitoring_namespace="monitoring",
        settings=pc.PostgresConfig.for_environment(ENV, {"persistence": {"size": "1Gi"}, "backup": {"size": "1Gi"}}),
    ))
    cache = redis(env)
    orders = service(env, "orders", database=db.connection, cache=cache.connection, route=gateway(),
                     monitoring_namespace="monitoring")
    service(env, "billing", database=db.connection)  # no cache
    pc.Ingress("orders-route", pc.IngressArgs(service=orders))
    pc.Monitoring("monitoring", pc.MonitoringArgs(
        environment=env, settings=pc.MonitoringConfig.for_environment(ENV), targets=[orders.metrics_target, db.metrics_target],
    ))


def gateway() -> pc.IngressConfig:
    return pc.IngressConfig.for_environment(ENV, {"kind": "gateway", "gateway": {"name": "public", "namespace": "gateways"}})


def run(program: Callable[[], object]) -> Run:
    return run_function(ENV, program)


def test_the_composition_the_cases_break_deploys() -> None:
    done = run(two_services_sharing_a_database)
    assert done.error is None, done.error
    kinds = {(r.kind, r.metadata.get("name")) for r in done.kubernetes()}
    assert {("Deployment", "orders"), ("Deployment", "billing"), ("StatefulSet", "ordersdb"), ("HTTPRoute", "orders")} <= kinds
    # Peers are a workload's name AND kind, spelled out: no instance name can produce another kind.
    policy = next(r for r in done.of_kind("NetworkPolicy") if r.metadata["name"] == "ordersdb").spec
    peers = [p["podSelector"]["matchLabels"] for p in policy["ingress"][0]["from"]]
    pod = {"app.kubernetes.io/instance": "shop"}
    assert peers == [
        {"app.kubernetes.io/name": "orders", **pod, "app.kubernetes.io/component": "api"},
        {"app.kubernetes.io/name": "billing", **pod, "app.kubernetes.io/component": "api"},
        {"app.kubernetes.io/name": "ordersdb-backup", **pod, "app.kubernetes.io/component": "backup"},
    ]
    billing = next(r for r in done.of_kind("ConfigMap") if r.name == "billing-config").inputs["data"]
    assert "REDIS_HOST" not in billing and "[Redis]" not in billing["config.ini"] and billing["DB_HOST"] == "ordersdb"


def _extra_named_like_the_primary() -> None:
    env = environment()
    main, db = postgres(env, "main"), postgres(env, "db")
    service(env, database=main.connection, extra_databases=[db.connection])


def _extra_redis_named_redis() -> None:
    env = environment()
    first, second = redis(env, "sessions"), redis(env, "redis")
    service(env, cache=first.connection, extra_caches=[second.connection])


def _extra_named_app() -> None:
    env = environment()
    service(env, extra_databases=[postgres(env, "app").connection])


def _env_overrides_an_extra() -> None:
    env = environment()
    service(env, settings={"env": {"ANALYTICS_HOST": "elsewhere"}}, extra_caches=[redis(env, "analytics").connection])


def _same_name(first: Callable[[Any], Any], second: Callable[[Any], Any]) -> Callable[[], None]:
    def program() -> None:
        env = environment()
        first(env)
        second(env)

    return program


def _backup_impostor() -> None:
    env = environment()
    db = postgres(env, backup={"enabled": False})
    service(env, "ordersdb-backup", database=db.connection)


def _backup_name_taken() -> None:
    env = environment()
    postgres(env)  # staging: backups on, its job's pods are named ordersdb-backup
    service(env, "ordersdb-backup")


def _two_routes() -> None:
    env = environment()
    orders = service(env, route=gateway())
    pc.Ingress("route-a", pc.IngressArgs(service=orders))
    pc.Ingress("route-b", pc.IngressArgs(service=orders))


def _two_monitorings() -> None:
    env = environment()
    settings = pc.MonitoringConfig.for_environment(ENV)
    pc.Monitoring("first", pc.MonitoringArgs(environment=env, settings=settings))
    pc.Monitoring("second", pc.MonitoringArgs(environment=env, settings=settings))


def _database_elsewhere() -> None:
    other = pc.NamespaceRef(name="payments", environment=ENV)
    db = postgres(other, clients=("orders",))
    service(environment(), database=db.connection)


def _not_a_client() -> None:
    env = environment()
    db = postgres(env, clients=("orders",))
    service(env, "billing", database=db.connection)


def _too_many_services() -> None:
    env = environment(quota={"services": 12})
    for i in range(2):
        postgres(env, f"db{i}", clients=())
        redis(env, f"cache{i}", clients=())
    service(env, "orders")  # the 13th Service


def _dev_settings_in_production() -> None:
    env = pc.Environment("prod", pc.EnvironmentArgs(
        environment="production", settings=pc.NamespaceConfig.for_environment("production", {"name": "prod"})))
    latest = {"image": {"repository": "ghcr.io/acme/app", "tag": "latest"}}
    pc.ApiService("orders", pc.ApiServiceArgs(environment=env, settings=pc.ApiConfig.for_environment("dev", latest)))


def _copied_past_validation() -> None:
    settings = pc.ApiConfig.for_environment(ENV, IMAGE).model_copy(update={"replicas": 0})
    pc.ApiService("orders", pc.ApiServiceArgs(environment=environment(), settings=settings))


def _two_refs_one_namespace() -> None:
    service(pc.NamespaceRef(name="shop", environment=ENV), "orders")
    redis(pc.NamespaceRef(name="shop", environment=ENV), "orders")


def _two_environments_one_namespace() -> None:
    environment("shop")
    settings = pc.NamespaceConfig.for_environment(ENV, {"name": "shop"})
    pc.Environment("again", pc.EnvironmentArgs(environment=ENV, settings=settings))


def _altered_connection() -> None:
    import dataclasses

    env = environment()
    db = postgres(env, clients=("orders",))
    forged = dataclasses.replace(db.connection, clients=(*db.connection.clients, pc.pod_identity("evil", "shop")))
    service(env, "evil", database=forged)


def _hand_made_connection() -> None:
    env = environment()
    fake = pc.PostgresConnection(
        instance="elsewhere", namespace="shop", host="elsewhere", port=5432, database="x", user="x",
        password=pc.SecretKeyRef("s", "password"), pod_labels={}, clients=[pc.pod_identity("orders", "shop")],
    )
    service(env, database=fake)


def _one_backup_location_twice() -> None:
    env = environment()
    store = {"endpoint": "s3.example.org", "bucket": "backups", "prefix": "shop/", "existingSecret": "backup-s3"}
    postgres(env, "db1", backup={"objectStore": store})
    postgres(env, "db2", backup={"objectStore": store})


def _two_routes_one_host() -> None:
    env = environment()
    public = pc.IngressConfig.for_environment(ENV, {"kind": "gateway", "host": "shop.example.org",
                                                     "gateway": {"name": "public", "namespace": "gateways"}})
    for name in ("orders", "billing"):
        pc.Ingress(f"{name}-route", pc.IngressArgs(service=service(env, name, route=public)))


def _two_installs() -> None:
    install = pc.MonitoringConfig.for_environment(ENV, {"mode": "install"})
    pc.Monitoring("first", pc.MonitoringArgs(environment=environment("shop"), settings=install))
    pc.Monitoring("second", pc.MonitoringArgs(environment=environment("blog"), settings=install))


def _unscrapable_target() -> None:
    env = environment()
    orders = service(env, monitoring_namespace=None)
    pc.Monitoring("monitoring", pc.MonitoringArgs(
        environment=env, settings=pc.MonitoringConfig.for_environment(ENV), targets=[orders.metrics_target]))


def _container_above_the_limit_range() -> None:
    big = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "8", "memory": "1Gi"}}
    service(environment(), settings={"resources": big})


CASES: list[tuple[str, Callable[[], object], str, list[str]]] = [
    ("settings built for dev in a production namespace", _dev_settings_in_production, "ApiService:orders",
     ["ApiServiceArgs.settings: platform:api.replicas: production needs at least 2",
      "ApiServiceArgs.settings: platform:api.image: production needs a pinned image"]),
    ("settings copied past validation", _copied_past_validation, "ApiService:orders",
     ["ApiServiceArgs.settings: platform:api.replicas: Input should be greater than or equal to 1"]),
    ("two namespace refs of one namespace", _two_refs_one_namespace, "Redis:orders",
     ["Redis 'orders': pods 'orders' in namespace 'shop' is already claimed by ApiService 'orders'"]),
    ("two environments of one namespace", _two_environments_one_namespace, "Environment:again",
     ["Environment 'again': ResourceQuota 'quota' in namespace 'shop' is already claimed by Environment 'shop-env'"]),
    ("the cluster's own namespace", lambda: environment("kube-system"), "Environment:kube-system-env",
     ["EnvironmentArgs.settings.name: 'kube-system' is the cluster's own namespace"]),
    ("a connection altered to admit another service", _altered_connection, "ApiService:evil",
     ["database 'ordersdb': the connection was altered after the store made it"]),
    ("a hand-made connection", _hand_made_connection, "ApiService:orders",
     ["database 'elsewhere' is not a Postgres of namespace 'shop'"]),
    ("two databases pruning one backup location", _one_backup_location_twice, "Postgres:db2",
     ["Postgres 'db2': backup location 's3.example.org/backups/shop/' in this program is already claimed by Postgres 'db1'"]),
    ("two routes for one host", _two_routes_one_host, "Ingress:billing-route",
     ["Ingress 'billing-route': host 'shop.example.org' in this program is already claimed by Ingress 'orders-route'"]),
    ("two kube-prometheus-stack installs", _two_installs, "Monitoring:second",
     ["Monitoring 'second': kube-prometheus-stack 'install' in this program is already claimed by Monitoring 'first'"]),
    ("a target that does not admit Prometheus", _unscrapable_target, "Monitoring:monitoring",
     ["MonitoringArgs.targets[0]: 'orders' admits scrapes from None, not from 'monitoring'"]),
    ("scrapes from the service's own namespace", lambda: service(environment(), monitoring_namespace="shop"), "ApiService:orders",
     ["ApiServiceArgs.monitoring_namespace: 'shop' is the workload's own namespace"]),
    ("a client listed twice", lambda: postgres(environment(), clients=("orders", "orders")), "Postgres:ordersdb",
     ["PostgresArgs.clients:", "is listed twice"]),
    ("a container above the namespace's limit range", _container_above_the_limit_range, "ApiService:orders",
     ["platform:api.resources.limits.cpu: 8 is more than the namespace's limitRange.max.cpu 4"]),
    ("extra database named like the primary's variables", _extra_named_like_the_primary, "ApiService:orders",
     ["variable DB_HOST is set by database 'main' and by extra_databases 'db'"]),
    ("extra cache named redis", _extra_redis_named_redis, "ApiService:orders",
     ["variable REDIS_HOST is set by cache 'sessions' and by extra_caches 'redis'"]),
    ("extra store named app", _extra_named_app, "ApiService:orders",
     ["variable APP_NAME is set by ApiService 'orders' and by extra_databases 'app'"]),
    ("env overrides an extra's variable", _env_overrides_an_extra, "ApiService:orders",
     ["variable ANALYTICS_HOST is set by extra_caches 'analytics' and by settings.env"]),
    ("postgres and redis of one name", _same_name(lambda e: postgres(e, "shared"), lambda e: redis(e, "shared")),
     "Redis:shared",
     ["Redis 'shared': pods 'shared'", "already claimed by Postgres 'shared'"]),
    ("service and cache of one name", _same_name(lambda e: redis(e, "cache"), lambda e: service(e, "cache")), "ApiService:cache",
     ["ApiService 'cache'", "already claimed by Redis 'cache'"]),
    ("service named like a cache's metrics Service",
     _same_name(lambda e: redis(e, "cache"), lambda e: service(e, "cache-metrics")),
     "ApiService:cache-metrics", ["ApiService 'cache-metrics': Service 'cache-metrics'", "already claimed by Redis 'cache'"]),
    ("redis named like a database's backup", _same_name(lambda e: postgres(e), lambda e: redis(e, "ordersdb-backup")),
     "Redis:ordersdb-backup", ["Redis 'ordersdb-backup'", "already claimed by Postgres 'ordersdb'"]),
    ("store named like the environment's policy", _same_name(lambda e: None, lambda e: redis(e, "default-deny")),
     "Redis:default-deny",
     ["Redis 'default-deny': NetworkPolicy 'default-deny'", "already claimed by Environment 'shop-env'"]),
    ("a service posing as a backup job", _backup_impostor, "ApiService:ordersdb-backup",
     ["database 'ordersdb' does not admit ApiService 'ordersdb-backup'"]),
    ("a service named like a backup job", _backup_name_taken, "ApiService:ordersdb-backup",
     ["ApiService 'ordersdb-backup': pods 'ordersdb-backup'", "already claimed by Postgres 'ordersdb'"]),
    ("two routes for one service", _two_routes, "Ingress:route-b",
     ["Ingress 'route-b': HTTPRoute 'orders'", "already claimed by Ingress 'route-a'"]),
    ("two monitorings in one namespace", _two_monitorings, "Monitoring:second",
     ["Monitoring 'second': PrometheusRule 'platform-alerts'", "already claimed by Monitoring 'first'"]),
    ("a database in another namespace", _database_elsewhere, "ApiService:orders",
     ["database 'ordersdb' runs in namespace 'payments', the service in 'shop'"]),
    ("a service its database does not admit", _not_a_client, "ApiService:billing",
     ["ApiServiceArgs: database 'ordersdb' does not admit ApiService 'billing': add 'billing' to its clients"]),
    ("clients as a string", lambda: postgres(environment(), clients="orders"), "Postgres:ordersdb",
     ["PostgresArgs.clients: must be a list", "write ['orders']"]),
    ("an uppercase client", lambda: postgres(environment(), clients=("Orders",)), "Postgres:ordersdb",
     ["PostgresArgs.clients[0]: 'Orders'"]),
    ("a client label set that is no label set", lambda: redis(environment(), clients=({"app": "bad value!"},)), "Redis:cache",
     ["RedisArgs.clients[0]"]),
    ("a misspelt environment", lambda: pc.Environment("env", pc.EnvironmentArgs(
        environment="stagin", settings=pc.NamespaceConfig.for_environment(ENV, {"name": "shop"}))), "Environment:env",
     ["EnvironmentArgs.environment: 'stagin' is not one of dev, staging, production, ephemeral"]),
    ("a namespace ref with a bad name", lambda: postgres(pc.NamespaceRef(name="Shop_NS", environment=ENV)), "Postgres:ordersdb",
     ["NamespaceRef.name: 'Shop_NS' is not a namespace name"]),
    ("a metrics target with an uppercase name", lambda: pc.Monitoring("monitoring", pc.MonitoringArgs(
        environment=environment(), settings=pc.MonitoringConfig.for_environment(ENV),
        targets=[pc.MetricsTarget(name="Orders", service_labels={"a": "b"}, port="metrics", path="/metrics")])),
     "Monitoring:monitoring",
     ["MonitoringArgs.targets[0].name: 'Orders' is not an instance name"]),
    ("a service name that cannot name objects", lambda: service(environment(), "Orders"), "ApiService:Orders",
     ["ApiService 'Orders': 'Orders' is not an instance name"]),
    ("args of the wrong type", lambda: pc.Redis("cache", pc.PostgresArgs(  # type: ignore[arg-type]
        environment=environment(), settings=pc.PostgresConfig.for_environment(ENV))), "Redis:cache",
     ["Redis 'cache': args must be RedisArgs (got PostgresArgs)"]),
    ("settings of the wrong group", lambda: pc.ApiService("orders", pc.ApiServiceArgs(
        environment=environment(), settings=pc.RedisConfig.for_environment(ENV))), "ApiService:orders",  # type: ignore[arg-type]
     ["ApiServiceArgs.settings: must be ApiConfig (built with ApiConfig.for_environment), got RedisConfig"]),
    ("an environment that is no Environment", lambda: redis("shop"), "Redis:cache",
     ["RedisArgs.environment: must be an Environment or a NamespaceRef (got str 'shop')"]),
    ("a route for something that is no service",
     lambda: pc.Ingress("route", pc.IngressArgs(service="orders")), "Ingress:route",  # type: ignore[arg-type]
     ["IngressArgs.service: must be an ApiService (got str 'orders')"]),
    ("more Services than the quota", _too_many_services, "ApiService:orders",
     ["ApiService 'orders' does not fit namespace 'shop'",
      "platform:namespace.quota.services: 12 is fewer than the 13"]),
]


@pytest.mark.parametrize(("build", "offender", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_misuse_fails_before_the_offender_registers(build: Callable[[], object], offender: str, fragments: list[str]) -> None:
    """``offender`` is ``Kind:name`` of the component that must refuse (children cannot exist without it)."""
    done = run(build)
    assert isinstance(done.error, ConfigError), repr(done.error)
    text = str(done.error)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    kind, name = offender.split(":")
    component = [r.urn for r in done.resources if r.type == f"platform:index:{kind}" and r.name == name]
    assert component == [], f"{offender} registered before it failed"


def test_the_cases_are_guarded_against_a_vacuous_pass() -> None:
    """A case whose composition failed on something else entirely would still raise a ConfigError: the
    fragments above are specific, and the unbroken composition must deploy (first test)."""
    assert len({c[0] for c in CASES}) == len(CASES) and all(c[3] for c in CASES)


def test_a_namespace_owned_elsewhere_still_protects_production_data() -> None:
    def program() -> None:
        # Production refuses on-cluster-only backups unless the risk is accepted by name (issue 23).
        postgres(pc.NamespaceRef(name="borrowed", environment="production"), clients=("orders",),
                 backup={"size": "1Gi", "acknowledgeNoOffClusterCopy": True})

    done = run_function("production", program)
    assert done.error is None, done.error
    protected = {r.kind for r in done.resources if r.protect}
    assert {"RandomPassword", "Secret", "StatefulSet", "PersistentVolumeClaim"} <= protected, protected
    component = next(r for r in done.resources if r.type == "platform:index:Postgres")
    assert component.protect and component.retain_on_delete
