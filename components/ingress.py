"""Public HTTP(S) access to the API: an Ingress, or a Gateway API HTTPRoute, or nothing.

``kind: ingress`` works with any Ingress controller (the class is config); TLS comes from
cert-manager's ingress-shim. ``kind: gateway`` attaches an HTTPRoute to an existing Gateway
(the successor of Ingress now that ingress-nginx is out of maintenance); there the Gateway's
HTTPS listener holds the certificate. ``kind: none`` exposes nothing (dev: port-forward).

Metrics stay private: the route reaches only the Service's port 80 (the app port); the API serves
metrics on its own port (``api.metricsPort``), which only the monitoring namespace may reach. The
HTTPRoute also denies the metrics path outright (a rule without backends, which Gateway API
implementations answer with a 500), for apps that serve it on the app port too. An Ingress has no
portable way to do that, so config refuses kind ``ingress`` for an app without a metrics port.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .api import SERVICE_PORT, ApiService
from .contracts import raise_if, require
from .labels import labels, metadata
from .namespace import claim_in
from .settings import IngressConfig


@dataclass(frozen=True, kw_only=True)
class IngressArgs:
    """The public route of one ApiService: everything follows from the service.

    Attributes:
        service: the ApiService to route to. Its ``route`` setting says how (Ingress, HTTPRoute or
            nothing); the route is named after the service, points at its port 80, denies its metrics
            path, and the service already admits that route's controller pods.
    """

    service: ApiService


@dataclass(frozen=True, kw_only=True)
class RouteSpec:
    """The resolved route the pure spec builders read."""

    name: str  # the service's instance name: the Ingress/HTTPRoute and TLS Secret names derive from it
    namespace: str
    environment: str
    settings: IngressConfig
    service_name: pulumi.Input[str]
    service_port: int = SERVICE_PORT
    private_paths: tuple[str, ...] = ()  # never routed publicly (the service's metrics path)


def tls_secret_name(settings: IngressConfig, service: str) -> str:
    return settings.tls.secret_name or f"{service}-tls"


def public_url(settings: IngressConfig) -> str | None:
    if settings.kind == "none" or not settings.host:
        return None
    return f"{'https' if settings.tls.enabled else 'http'}://{settings.host}/"


def ingress_annotations(settings: IngressConfig) -> dict[str, str]:
    """Config's controller extras, plus the cert-manager issuer when the Ingress carries TLS."""
    result = dict(settings.annotations)
    if settings.kind == "ingress" and settings.tls.enabled and settings.tls.cluster_issuer:
        result["cert-manager.io/cluster-issuer"] = settings.tls.cluster_issuer
    return result


def ingress_spec(args: RouteSpec) -> dict[str, Any]:
    settings = args.settings
    rule: dict[str, Any] = {
        "http": {
            "paths": [
                {
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": args.service_name, "port": {"number": args.service_port}}},
                }
            ]
        }
    }
    if settings.host:
        rule["host"] = settings.host
    spec: dict[str, Any] = {"ingressClassName": settings.class_name, "rules": [rule]}
    if settings.tls.enabled:
        spec["tls"] = [{"hosts": [settings.host], "secretName": tls_secret_name(settings, args.name)}]
    return spec


def http_route_spec(args: RouteSpec) -> dict[str, Any]:
    settings, gateway = args.settings, args.settings.gateway
    assert gateway is not None, "IngressConfig rejects kind gateway without one"
    parent: dict[str, Any] = {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": gateway.name,
        "namespace": gateway.namespace,
    }
    if gateway.section_name:
        parent["sectionName"] = gateway.section_name  # with TLS: the HTTPS listener only
    # No backendRefs: the Gateway answers 500 itself (Gateway API conformance HTTPRouteNoBackendRefs),
    # and a longer path prefix wins over "/", so these paths never reach the app.
    denied = [{"matches": [{"path": {"type": "PathPrefix", "value": path}}]} for path in args.private_paths]
    spec: dict[str, Any] = {
        "parentRefs": [parent],
        "rules": [
            *denied,
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"kind": "Service", "name": args.service_name, "port": args.service_port}],
            },
        ],
    }
    if settings.host:
        spec["hostnames"] = [settings.host]
    return spec


# cert-manager's HTTP-01 solver pods: its label, and the port they answer the challenge on.
ACME_SOLVER_LABELS = {"acme.cert-manager.io/http01-solver": "true"}
ACME_SOLVER_PORT = 8089


def acme_solver_policy_spec(args: RouteSpec) -> dict[str, Any]:
    """The controller's pods may reach cert-manager's HTTP-01 solver pods in the namespace; nothing else does.
    Without it the namespace's default deny drops the challenge and no certificate is issued or renewed."""
    controller = args.settings.traffic_source
    assert controller is not None, "a route of kind ingress has a controller"
    peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": controller.namespace}},
        "podSelector": {"matchLabels": dict(controller.pod_labels)},
    }
    return {
        "podSelector": {"matchLabels": ACME_SOLVER_LABELS},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [peer], "ports": [{"protocol": "TCP", "port": ACME_SOLVER_PORT}]}],
    }


def resolve(name: str, args: IngressArgs) -> RouteSpec | None:
    """The route of ``args.service``, or None when the service is not exposed (no route, kind none)."""
    require(args, IngressArgs, "Ingress", name)
    raise_if([] if isinstance(args.service, ApiService) else [
        f"IngressArgs.service: must be an ApiService (got {type(args.service).__name__} {args.service!r})"
    ])
    service = args.service.spec
    if service.route is None or service.route.kind == "none":
        return None
    return RouteSpec(
        name=service.name, namespace=service.namespace, environment=service.environment, settings=service.route,
        service_name=args.service.service_name, private_paths=(service.settings.metrics_path,),
    )


def names(spec: RouteSpec) -> list[tuple[str, str]]:
    kind = "Ingress" if spec.settings.kind == "ingress" else "HTTPRoute"
    secret = [("Secret", tls_secret_name(spec.settings, spec.name))] if spec.settings.tls.enabled and kind == "Ingress" else []
    solver = [("NetworkPolicy", f"{spec.name}-acme-solver")] if spec.settings.acme_solver else []
    return [(kind, spec.name), *secret, *solver]


class Ingress(pulumi.ComponentResource):
    """Routes the public host to one ApiService.

    Outputs:
        public_url: https://<host>/ (None when the service is not exposed or has no host).
    """

    public_url: str | None

    def __init__(self, name: str, args: IngressArgs, opts: pulumi.ResourceOptions | None = None):
        spec = resolve(name, args)
        if spec is not None:
            args.service.namespace_ref.claim(f"Ingress {name!r}", names(spec))
            # Two routes for one host (or two catch-alls) would be resolved by the controller: one loses.
            host = spec.settings.host or "(any host)"
            claim_in("hosts", args.service.namespace_ref, f"Ingress {name!r}", [("host", host)], "in this program")
        # Where, with which provider and after what: the service's own options.
        super().__init__("platform:index:Ingress", name, None, pulumi.ResourceOptions.merge(args.service.placement, opts))
        child = pulumi.ResourceOptions(parent=self)
        self.public_url = None
        if spec is not None:
            settings = spec.settings
            meta_labels = labels(spec.name, spec.namespace, "ingress", spec.environment)
            meta: dict[str, Any] = metadata(spec.namespace, meta_labels, spec.name, annotations=ingress_annotations(settings))
            if settings.kind == "ingress":
                k8s.networking.v1.Ingress(f"{name}-ingress", metadata=meta, spec=ingress_spec(spec), opts=child)
            if settings.acme_solver:
                k8s.networking.v1.NetworkPolicy(
                    f"{name}-acme-solver", metadata=metadata(spec.namespace, meta_labels, f"{spec.name}-acme-solver"),
                    spec=acme_solver_policy_spec(spec), opts=child,
                )
            if settings.kind == "gateway":
                k8s.apiextensions.CustomResource(
                    f"{name}-route",
                    api_version="gateway.networking.k8s.io/v1",
                    kind="HTTPRoute",
                    metadata=meta,
                    spec=http_route_spec(spec),
                    opts=child,
                )
            self.public_url = public_url(settings)
        self.register_outputs({"public_url": self.public_url})
