"""The components as the Pulumi package `platform`: typed facades that build the library's components.

Pulumi infers the package schema from these classes (TypedDict inputs, ``Output`` outputs, attribute
docstrings as descriptions). They hold no logic of their own: each builds the real component from the
installed library with the same settings classes (``...Config.for_environment``), so an input is
checked by the same rules and fails with the same ``ConfigError`` text a Python program gets.

A program in another language cannot hand a Python object (an Environment, a connection) to a
component, so components name each other instead: a store or a service names the Environment it
deploys into, a service the Postgres and Redis it connects to, each declared earlier in the same
program and listed in ``dependsOn`` (one plugin process builds them all, in that order).
Annotations are not postponed here: the inference reads them at runtime.
"""

from typing import Any, NotRequired, TypedDict

import platform_components as pc
import pulumi

VERSION = pc.__version__

# (kind, name) -> (the real component, its environment profile): what later components name.
_BUILT: dict[tuple[str, str], tuple[Any, str]] = {}


def _named(kind: str, name: Any, arg: str) -> tuple[Any, str]:
    found = _BUILT.get((kind, name)) if isinstance(name, str) else None
    if found is None:
        raise pc.ConfigError([
            f"{arg}: no {kind} named {name!r} is declared before this resource in this program "
            f"(declare it and list it in dependsOn; declared: {sorted(n for k, n in _BUILT if k == kind)})"
        ])
    return found


def _settings(value: Any) -> Any:
    """Settings as written: the wire carries every number as a float, so a whole one is an int again
    (8080.0 -> 8080); anything else is left to the settings' own checks. Maps come in whatever order
    the calling language's runtime iterates them (Go's varies per run): sorted, so that e.g. the order
    of `env` variables, and with it the Deployment, does not change from one run to the next."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _settings(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_settings(v) for v in value]
    return value


def _built(kind: str, name: str, component: Any, environment: str) -> None:
    _BUILT[(kind, name)] = (component, environment)


class EnvironmentArgs(TypedDict):
    environment: str
    """dev, staging, production or ephemeral: the profile every component follows here (durability, protection, deletion with the namespace)."""
    namespace: dict[str, Any]
    """The namespace's settings, spelled like the stack config group `platform:namespace` (name, quota, limitRange) and merged over the profile's defaults; `name` is required."""
    cluster: NotRequired[dict[str, Any]]
    """How to reach the cluster, spelled like `platform:cluster` (kubeconfig, context, deleteUnreachable): an explicit Kubernetes provider every component in the namespace uses. Unset: the engine's default Kubernetes provider (the ambient kubeconfig)."""


class Environment(pulumi.ComponentResource):
    """A namespace with its quota, limit range and default-deny policies, and the environment profile every component deployed into it follows. Other components name it in their `environment` input."""

    namespace: pulumi.Output[str]
    """The namespace's name."""

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        environment = args.get("environment")
        settings = pc.NamespaceConfig.for_environment(environment, _settings(args.get("namespace")))
        cluster = pc.ClusterConfig.for_environment(environment, _settings(args["cluster"])) if "cluster" in args else None
        super().__init__("platform:index:Environment", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        provider = pc.kubernetes_provider(f"{name}-kubernetes", cluster) if cluster else None
        real = pc.Environment(name, pc.EnvironmentArgs(environment=environment, settings=settings, provider=provider), child)
        _built("Environment", name, real, environment)
        self.namespace = real.namespace
        self.register_outputs({"namespace": self.namespace})


class StoreArgs(TypedDict):
    environment: str
    """The name of the Environment (declared earlier in this program) the store deploys into."""
    clients: NotRequired[list[str]]
    """Who may connect: ApiService instance names in the same namespace. Nothing else reaches the store's port."""
    monitoring_namespace: NotRequired[str]
    """The namespace whose Prometheus may scrape the exporter (unset: nobody)."""
    settings: NotRequired[dict[str, Any]]
    """The store's settings, spelled like its stack config group (`platform:postgres` or `platform:redis`) and merged over the library's defaults for the Environment's profile."""


class CacheConnection(TypedDict):
    """How a client reaches a Redis: its Service, port and the Secret key of its password."""

    host: str
    """The stable Service name, resolvable inside the namespace."""
    port: int
    """The store's port."""
    secret_name: str
    """The Secret holding the password."""
    password_key: str
    """The key of the password in that Secret."""


class DatabaseConnection(TypedDict):
    """How a client reaches a Postgres: its Service, port and database; each client's login is in its own binding Secret."""

    # Not a subclass of CacheConnection: the inference reads docstrings of the class's own fields only.
    host: str
    """The stable Service name, resolvable inside the namespace."""
    port: int
    """The store's port."""
    secret_name: str
    """Empty: no password is shared; each client's own login is in its binding Secret <store>-<client>-g<generation>."""
    password_key: str
    """Empty: see secretName; a binding Secret holds username, password, uri, jdbc-url and dsn."""
    database: str
    """The database to use."""
    user: str
    """Empty: each client logs in as its own role (<client>_g<generation>), never as the superuser."""


class _Store(pulumi.ComponentResource):
    """What Postgres and Redis share: the real store, built in the named Environment."""

    def _build(self, name: str, args: StoreArgs, opts: pulumi.ResourceOptions | None, component: Any, config: Any) -> Any:
        """``component``: pc.Postgres or pc.Redis; ``config``: its settings class."""
        kind = component.__name__
        env, environment = _named("Environment", args.get("environment"), f"{kind}Args.environment")
        settings = config.for_environment(environment, _settings(args.get("settings")))
        real_args = getattr(pc, f"{kind}Args")(
            environment=env, settings=settings, clients=args.get("clients", []),
            monitoring_namespace=args.get("monitoring_namespace"),
        )
        super().__init__(f"platform:index:{kind}", name, {}, opts)
        real = component(name, real_args, pulumi.ResourceOptions(parent=self))
        _built(kind, name, real, environment)
        self.secret_name = real.secret_name
        return real


def _connection(conn: Any, **extra: Any) -> pulumi.Output[Any]:
    if conn.password is None:  # a login per client (their binding Secrets), no shared password
        return pulumi.Output.from_input({"host": conn.host, "port": conn.port, "password_key": "", "secret_name": "", **extra})
    fields = {"host": conn.host, "port": conn.port, "password_key": conn.password.key, **extra}
    return pulumi.Output.from_input(conn.password.name).apply(lambda secret: {**fields, "secret_name": secret})


class Postgres(_Store):
    """One PostgreSQL pod and its backups, admitting exactly its clients."""

    connection: pulumi.Output[DatabaseConnection]
    """Where and as whom to connect; the password stays in the Secret."""
    secret_name: pulumi.Output[str]
    """The Secret holding the generated password."""

    def __init__(self, name: str, args: StoreArgs, opts: pulumi.ResourceOptions | None = None):
        real = self._build(name, args, opts, pc.Postgres, pc.PostgresConfig)
        self.connection = _connection(real.connection, database=real.connection.database, user=real.connection.user)
        self.register_outputs({"connection": self.connection, "secretName": self.secret_name})


class Redis(_Store):
    """One Redis pod, admitting exactly its clients."""

    connection: pulumi.Output[CacheConnection]
    """Where to connect; the password stays in the Secret."""
    secret_name: pulumi.Output[str]
    """The Secret holding the generated password."""

    def __init__(self, name: str, args: StoreArgs, opts: pulumi.ResourceOptions | None = None):
        real = self._build(name, args, opts, pc.Redis, pc.RedisConfig)
        self.connection = _connection(real.connection)
        self.register_outputs({"connection": self.connection, "secretName": self.secret_name})


class ApiServiceArgs(TypedDict):
    environment: str
    """The name of the Environment (declared earlier in this program) the service deploys into."""
    settings: dict[str, Any]
    """The service's settings, spelled like the stack config group `platform:api` (image, replicas, containerPort, probes, env, ...) and merged over the library's defaults for the Environment's profile; `image` is required."""
    database: NotRequired[str]
    """The name of a Postgres (declared earlier) to connect to: DATABASE_* variables."""
    cache: NotRequired[str]
    """The name of a Redis (declared earlier) to connect to: REDIS_* variables."""
    extra_databases: NotRequired[list[str]]
    """More Postgres names: <INSTANCE>_HOST, _PORT, _PASSWORD, ... variables."""
    extra_caches: NotRequired[list[str]]
    """More Redis names, as extraDatabases."""
    route: NotRequired[dict[str, Any]]
    """How the service is exposed, spelled like `platform:ingress` (kind ingress or gateway, host, tls, controller, gateway); unset: not exposed. The route is named after the service, on its port, denying its metrics path."""
    monitoring_namespace: NotRequired[str]
    """The namespace whose Prometheus may scrape the metrics port (unset: nobody)."""


class ApiService(pulumi.ComponentResource):
    """The HTTP service: a Deployment, its Service, policies, and its route when `route` is set; created only after its database and cache report ready."""

    service_name: pulumi.Output[str]
    """The Service clients and the route call (port 80)."""
    in_cluster_url: pulumi.Output[str]
    """http://<service>.<namespace>.svc.cluster.local"""
    public_url: pulumi.Output[str] | None
    """https://<host>/ when the route has a host."""

    def __init__(self, name: str, args: ApiServiceArgs, opts: pulumi.ResourceOptions | None = None):
        env, environment = _named("Environment", args.get("environment"), "ApiServiceArgs.environment")
        settings = pc.ApiConfig.for_environment(environment, _settings(args.get("settings")))
        route = pc.IngressConfig.for_environment(environment, _settings(args["route"])) if "route" in args else None

        def store(kind: str, key: str, value: Any) -> Any:
            return _named(kind, value, f"ApiServiceArgs.{key}")[0].connection

        real_args = pc.ApiServiceArgs(
            environment=env, settings=settings, route=route, monitoring_namespace=args.get("monitoring_namespace"),
            database=store("Postgres", "database", args["database"]) if "database" in args else None,
            cache=store("Redis", "cache", args["cache"]) if "cache" in args else None,
            extra_databases=[store("Postgres", "extra_databases", n) for n in args.get("extra_databases", [])],
            extra_caches=[store("Redis", "extra_caches", n) for n in args.get("extra_caches", [])],
        )
        super().__init__("platform:index:ApiService", name, {}, opts)
        real = pc.ApiService(name, real_args, pulumi.ResourceOptions(parent=self))
        self.service_name, self.in_cluster_url = real.service_name, real.in_cluster_url
        self.public_url = None
        if route is not None:
            url = pc.Ingress(f"{name}-route", pc.IngressArgs(service=real), pulumi.ResourceOptions(parent=self)).public_url
            self.public_url = pulumi.Output.from_input(url) if url else None
        self.register_outputs({"serviceName": self.service_name, "inClusterUrl": self.in_cluster_url, "publicUrl": self.public_url})


COMPONENTS: list[type[pulumi.ComponentResource]] = [Environment, Postgres, Redis, ApiService]
