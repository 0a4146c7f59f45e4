"""Public access: Ingress or Gateway API HTTPRoute per environment, TLS in production."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from components import ingress
from components.errors import ConfigError
from environments import load_config
from tests.harness import Run, run_program

GATEWAY = {"kind": "gateway", "gateway": {"name": "public", "namespace": "gateways", "sectionName": "https"}}


def make_args(stack: str = "production", raw: dict[str, Any] | None = None) -> ingress.RouteSpec:
    config = load_config(stack, {"ingress": raw or {}})
    return ingress.RouteSpec(
        name="api", namespace=config.namespace.name, environment=config.environment, settings=config.ingress,
        service_name="api",
    )


def test_ingress_routes_the_host_to_the_api_service():
    spec = ingress.ingress_spec(make_args("staging"))
    assert spec["ingressClassName"] == "nginx"
    (rule,) = spec["rules"]
    assert rule["host"] == "api.staging.example.com"
    assert rule["http"]["paths"] == [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"number": 80}}}}
    ]


@pytest.mark.parametrize("stack", ["staging"])
def test_tls_through_cert_manager_where_there_is_a_host(stack: str):
    args = make_args(stack)
    assert ingress.ingress_spec(args)["tls"] == [{"hosts": [args.settings.host], "secretName": "api-tls"}]
    assert ingress.ingress_annotations(args.settings) == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert ingress.public_url(args.settings) == f"https://{args.settings.host}/"


def test_tls_can_be_switched_off_and_annotations_come_from_config():
    extras = {"nginx.ingress.kubernetes.io/proxy-body-size": "8m", "nginx.ingress.kubernetes.io/limit-rps": "20"}
    args = make_args("staging", {"tls": {"enabled": False}, "annotations": extras, "className": "traefik"})
    spec = ingress.ingress_spec(args)
    assert "tls" not in spec and spec["ingressClassName"] == "traefik"
    assert ingress.ingress_annotations(args.settings) == extras  # no issuer, and never the seed's rewrite-target
    assert ingress.public_url(args.settings) == "http://api.staging.example.com/"


def test_dev_exposes_nothing():
    settings = make_args("dev").settings
    assert settings.kind == "none" and ingress.public_url(settings) is None


def test_ingress_without_host_matches_every_host():
    args = make_args("dev", {"kind": "ingress"})
    assert "host" not in ingress.ingress_spec(args)["rules"][0]
    assert ingress.public_url(args.settings) is None


def test_gateway_route_has_the_same_host_and_backend():
    args = make_args("production", GATEWAY)
    spec = ingress.http_route_spec(args)
    assert spec["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": "gateways",
         "sectionName": "https"}
    ]
    assert spec["hostnames"] == ["api.example.com"]
    assert spec["rules"] == [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
         "backendRefs": [{"kind": "Service", "name": "api", "port": 80}]}
    ]
    assert ingress.public_url(args.settings) == "https://api.example.com/"
    assert "cert-manager.io/cluster-issuer" not in ingress.ingress_annotations(args.settings)  # the Gateway holds the certificate


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"annotations": {"nginx.ingress.kubernetes.io/server-snippet": "lua"}}, "snippet annotations are not allowed"),
        ({"annotations": {"bad key!": "x"}}, "is not a Kubernetes label key"),
        ({"kind": "gateway", "gateway": {"name": "public", "namespace": "gateways"}}, "gateway.sectionName"),
        ({"kind": "gateway", "gateway": None}, "needs 'gateway: {name, namespace}'"),
        ({"host": None}, "tls.enabled needs a 'host'"),
    ],
)
def test_bad_ingress_settings_are_rejected_with_their_key(raw: dict[str, Any], message: str):
    with pytest.raises(ConfigError) as caught:
        load_config("production", {"ingress": raw})
    assert any(p.startswith("platform:ingress") and message in p for p in caught.value.problems), caught.value.problems


# ---------------------------------------------------------------- the whole program


def public_objects(run: Run) -> list[Any]:
    return [r for r in run.kubernetes() if r.kind in ("Ingress", "HTTPRoute")]


def test_ingress_per_environment(runs: dict[str, Run]):
    assert public_objects(runs["dev"]) == [] and public_objects(runs["pr-123"]) == []
    for stack, host in (("staging", "api.staging.example.com"), ("production", "api.example.com")):
        (obj,) = public_objects(runs[stack])
        assert obj.kind == "Ingress" and obj.metadata["namespace"] == stack and obj.metadata["name"] == "api"
        assert obj.spec["rules"][0]["host"] == host
        *denied, public = obj.spec["rules"][0]["http"]["paths"]
        assert public["backend"]["service"] == {"name": "api", "port": {"number": 80}} and public["path"] == "/"
        # The seed's app serves /metrics on its app port: that path goes to a backend that serves nothing.
        assert [(p["path"], p["pathType"], p["backend"]["service"]["name"]) for p in denied] == [
            ("/metrics", "Exact", "api-denied"), ("/metrics/", "Prefix", "api-denied")
        ]
        assert obj.spec["tls"] == [{"hosts": [host], "secretName": "api-tls"}]
        assert obj.metadata["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
        assert not any("rewrite-target" in key for key in obj.metadata["annotations"])


def test_production_has_tls():
    assert load_config("production", {}).ingress.tls.enabled


def test_gateway_kind_registers_an_http_route_instead():
    run = run_program("production", {"ingress": GATEWAY})
    assert run.error is None, run.error
    (route,) = public_objects(run)
    assert route.type == "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
    assert route.inputs["apiVersion"] == "gateway.networking.k8s.io/v1" and route.inputs["kind"] == "HTTPRoute"
    assert route.metadata["namespace"] == "production" and route.spec["hostnames"] == ["api.example.com"]
    assert run.outputs["publicUrl"] == "https://api.example.com/"


def test_api_admits_the_configured_controller_only_when_exposed(runs: dict[str, Run]):
    def sources(run: Run) -> list[dict[str, Any]]:
        policy = run.one("NetworkPolicy", "api-allow-ingress")
        return [peer for rule in policy.spec["ingress"] for peer in rule["from"]]

    namespaces = [p["namespaceSelector"]["matchLabels"] for p in sources(runs["staging"])]
    assert {"kubernetes.io/metadata.name": "ingress-nginx"} in namespaces
    # dev: port-forward, no controller; only Prometheus, from the monitoring namespace.
    dev = [p["namespaceSelector"]["matchLabels"] for p in sources(runs["dev"])]
    assert dev == [{"kubernetes.io/metadata.name": "monitoring"}]
    custom = run_program("staging", {"ingress": {"controller": {"namespace": "traefik", "podLabels": {"app": "traefik"}}}})
    assert custom.error is None, custom.error
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}},
            "podSelector": {"matchLabels": {"app": "traefik"}}} in sources(custom)


def test_the_route_denies_the_private_paths_and_everything_below_them():
    """PathPrefix, not Exact: with Exact, /metrics/x (or /metrics/) would fall through to "/" and the app."""
    args = dataclasses.replace(make_args("production", GATEWAY), private_paths=("/metrics", "/debug"))
    denied, public = ingress.http_route_spec(args)["rules"][:-1], ingress.http_route_spec(args)["rules"][-1]
    assert denied == [{"matches": [{"path": {"type": "PathPrefix", "value": "/metrics"}}]},
                      {"matches": [{"path": {"type": "PathPrefix", "value": "/debug"}}]}]
    assert public["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}] and public["backendRefs"]
