"""The Pulumi package (package/facade.py) under the mock engine and the schema inference, no CLI:

- the schema Pulumi infers from the facades: the four components, the inputs and outputs other
  languages get, every one described;
- a composition through the facades registers exactly what the same composition through the Python
  API registers (the facades hold no logic of their own);
- a bad input fails with the ConfigError text the Python API raises, before the component registers.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from pulumi.provider.experimental.component import ComponentProvider

import components as pc
from components.errors import ConfigError
from tools.engine import ROOT, Run, run_function

ENV = "staging"
IMAGE = {"repository": "ghcr.io/acme/app", "tag": "1.0.0"}
# As the wire delivers them: numbers are floats.
API = {"image": IMAGE, "containerPort": 8080.0, "metricsPort": 9090.0, "replicas": 2.0}
DB = {"database": "shop", "persistence": {"size": "1Gi"}, "backup": {"size": "1Gi"}}


@pytest.fixture
def facade() -> Iterator[ModuleType]:
    # The plugin imports the installed wheel as platform_components; here that is the repository's package.
    sys.modules.setdefault("platform_components", pc)
    spec = importlib.util.spec_from_file_location("facade", ROOT / "package" / "facade.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["facade"] = module  # the inference reads attribute docstrings from the module's source
    spec.loader.exec_module(module)
    yield module
    module._BUILT.clear()
    del sys.modules["facade"]


def schema(facade: ModuleType) -> dict[str, Any]:
    served = ComponentProvider(facade.COMPONENTS, "platform", None, facade.VERSION).schema
    assert served is not None
    return json.loads(served)


def test_schema_components_inputs_outputs_described(facade: ModuleType) -> None:
    resources = schema(facade)["resources"]
    assert set(resources) == {f"platform:index:{c}" for c in ("Environment", "Postgres", "Redis", "ApiService")}
    inputs = {token.split(":")[-1]: set(r["inputProperties"]) for token, r in resources.items()}
    assert inputs == {
        "Environment": {"environment", "namespace", "cluster"},
        "Postgres": {"environment", "clients", "monitoringNamespace", "settings"},
        "Redis": {"environment", "clients", "monitoringNamespace", "settings"},
        "ApiService": {"environment", "settings", "database", "cache", "extraDatabases", "extraCaches", "route",
                       "monitoringNamespace"},
    }
    outputs = {token.split(":")[-1]: set(r["properties"]) for token, r in resources.items()}
    assert outputs == {
        "Environment": {"namespace"},
        "Postgres": {"connection", "secretName"},
        "Redis": {"connection", "secretName"},
        "ApiService": {"serviceName", "inClusterUrl", "publicUrl"},
    }
    assert resources["platform:index:ApiService"]["requiredInputs"] == ["environment", "settings"]
    types = schema(facade)["types"]
    assert set(types["platform:index:DatabaseConnection"]["properties"]) == {
        "host", "port", "database", "user", "secretName", "passwordKey"}
    # Every component, input, output and connection field is described (shown by IDEs and SDK docs).
    for token, resource in [*resources.items(), *types.items()]:
        assert resource.get("description", "").strip(), f"{token} has no description"
        for name, prop in {**resource.get("inputProperties", {}), **resource["properties"]}.items():
            assert prop.get("description", "").strip(), f"{token}.{name} has no description"
            assert "\n" not in prop["description"], f"{token}.{name}: one line, or SDKs show the indentation"


def by_python() -> None:
    env = pc.Environment("shop", pc.EnvironmentArgs(
        environment=ENV, settings=pc.NamespaceConfig.for_environment(ENV, {"name": "shop"})))
    db = pc.Postgres("ordersdb", pc.PostgresArgs(
        environment=env, clients=["orders"], settings=pc.PostgresConfig.for_environment(ENV, DB)))
    cache = pc.Redis("cache", pc.RedisArgs(environment=env, clients=["orders"], settings=pc.RedisConfig.for_environment(ENV)))
    orders = pc.ApiService("orders", pc.ApiServiceArgs(
        environment=env, database=db.connection, cache=cache.connection,
        settings=pc.ApiConfig.for_environment(ENV, {"image": IMAGE, "containerPort": 8080, "metricsPort": 9090, "replicas": 2}),
        route=pc.IngressConfig.for_environment(ENV, {"kind": "ingress", "host": "orders.example.org"})))
    pc.Ingress("orders-route", pc.IngressArgs(service=orders))


def by_package(facade: ModuleType, api: dict[str, Any] | None = None, **orders: Any) -> Callable[[], None]:
    def program() -> None:
        facade.Environment("shop", {"environment": ENV, "namespace": {"name": "shop"}})
        facade.Postgres("ordersdb", {"environment": "shop", "clients": ["orders"], "settings": DB})
        facade.Redis("cache", {"environment": "shop", "clients": ["orders"]})
        route = {"kind": "ingress", "host": "orders.example.org"}
        facade.ApiService("orders", {"environment": "shop", "database": "ordersdb", "cache": "cache",
                                     "settings": api or API, "route": route, **orders})
    return program


def registered(run: Run) -> list[tuple[str, str, str]]:
    assert run.error is None, run.error
    return sorted((r.type, r.name, json.dumps(r.inputs, sort_keys=True)) for r in run.resources if r.custom)


def test_package_registers_what_the_python_api_registers(facade: ModuleType) -> None:
    python = registered(run_function(ENV, by_python))
    package = run_function(ENV, by_package(facade))
    assert registered(package) == python
    assert {r.kind for r in package.kubernetes()} >= {"Namespace", "StatefulSet", "Deployment", "Ingress"}
    # The facades are the components other languages see; each wraps the real one of the same name.
    components = [(r.type, r.name, r.urn, r.parent) for r in package.resources if r.type.startswith("platform:")]
    top = {(t, n): urn for t, n, urn, parent in components if parent.endswith("::pulumi:pulumi:Stack::platform-staging")}
    assert sorted(top) == [("platform:index:ApiService", "orders"), ("platform:index:Environment", "shop"),
                           ("platform:index:Postgres", "ordersdb"), ("platform:index:Redis", "cache")]
    for (kind, name), urn in top.items():
        assert [(t, n) for t, n, _, parent in components if parent == urn and t == kind] == [(kind, name)]


def test_map_order_does_not_change_the_deployment(facade: ModuleType) -> None:
    # The YAML host sends maps in Go's random iteration order; the same program must register the same spec.
    env = {"PODINFO_PORT": "8080", "PODINFO_PORT_METRICS": "9090", "A_FIRST": "1"}
    runs = [run_function(ENV, by_package(facade, api={**API, "env": dict(order)}))
            for order in (sorted(env.items()), sorted(env.items(), reverse=True))]
    facade._BUILT.clear()
    specs = [run.one("Deployment").spec for run in runs]
    assert all(run.error is None for run in runs)
    assert specs[0] == specs[1]


@pytest.mark.parametrize("settings", [
    {**API, "replcias": 2.0},                       # unknown key
    {**API, "containerPort": 80.5},                 # a number that is not whole stays a float: refused
    {"replicas": 2.0},                              # image missing
])
def test_bad_settings_same_error_as_python(facade: ModuleType, settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as python:
        pc.ApiConfig.for_environment(ENV, {k: int(v) if isinstance(v, float) and v.is_integer() else v
                                           for k, v in settings.items()})
    run = run_function(ENV, by_package(facade, api=settings))
    assert isinstance(run.error, ConfigError) and str(run.error) == str(python.value)
    # Nothing of the service registered: its settings are checked first.
    assert not [r for r in run.resources if r.name == "orders" or r.name.startswith("orders-")]


def test_unknown_names_refused(facade: ModuleType) -> None:
    run = run_function(ENV, by_package(facade, database="orderdb"))
    assert isinstance(run.error, ConfigError)
    assert "ApiServiceArgs.database: no Postgres named 'orderdb' is declared before this resource" in str(run.error)
    assert "declared: ['ordersdb']" in str(run.error)
    bad_env = run_function(ENV, lambda: facade.Redis("cache", {"environment": "nowhere"}))
    assert isinstance(bad_env.error, ConfigError)
    assert "RedisArgs.environment: no Environment named 'nowhere'" in str(bad_env.error)
    bad_profile = run_function(ENV, lambda: facade.Environment("shop", {"environment": "prod", "namespace": {"name": "shop"}}))
    with pytest.raises(ConfigError) as python:
        pc.NamespaceConfig.for_environment("prod", {"name": "shop"})
    assert str(bad_profile.error) == str(python.value)
    assert bad_profile.resources == [] or all(not r.type.startswith("platform:") for r in bad_profile.resources)
