"""Public HTTP(S) access to the API: an Ingress, or a Gateway API HTTPRoute, or nothing.

``kind: ingress`` works with any Ingress controller (the class is config); TLS comes from
cert-manager's ingress-shim. ``kind: gateway`` attaches an HTTPRoute to an existing Gateway
(the successor of Ingress now that ingress-nginx is out of maintenance); there the Gateway's
HTTPS listener holds the certificate. ``kind: none`` exposes nothing (dev: port-forward).

Metrics stay private: the route reaches only the Service's port 80 (the app port), and denies the
metrics path outright, for apps that serve it on the app port (the seed's app, podinfo). The
HTTPRoute has a rule without backends for it (Gateway API implementations answer 500). The Ingress
routes it, Exact and as a prefix, to ``<api>-denied``: a Service without selector or endpoints, which
controllers answer with 503. Both are longer than "/", and the longest matching path wins (the
Ingress and Gateway API specs). The metrics port, if the app has its own, has no route at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .config import IngressConfig
from .labels import labels, metadata

NAME = "api"  # the default API instance


@dataclass(frozen=True)
class IngressArgs:
    """The public route to one ApiService instance."""

    namespace: str
    environment: str
    settings: IngressConfig
    service_name: pulumi.Input[str]
    service_port: int
    private_paths: tuple[str, ...] = ()  # never routed publicly (the API's metrics path)
    api_name: str = NAME  # the routed ApiService instance: the Ingress/HTTPRoute and TLS Secret names derive from it


def tls_secret_name(settings: IngressConfig, api_name: str = NAME) -> str:
    return settings.tls.secret_name or f"{api_name}-tls"


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


def denied_service_name(api_name: str) -> str:
    return f"{api_name}-denied"


def denied_service_spec() -> dict[str, Any]:
    """No selector and no Endpoints: a backend that serves nothing."""
    return {"type": "ClusterIP", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}


def ingress_spec(args: IngressArgs) -> dict[str, Any]:
    settings = args.settings
    denied = {"service": {"name": denied_service_name(args.api_name), "port": {"number": 80}}}
    private = [
        {"path": path.rstrip("/") + suffix, "pathType": kind, "backend": denied}
        for path in args.private_paths
        for kind, suffix in (("Exact", ""), ("Prefix", "/"))
    ]
    rule: dict[str, Any] = {
        "http": {
            "paths": [
                *private,
                {
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": args.service_name, "port": {"number": args.service_port}}},
                },
            ]
        }
    }
    if settings.host:
        rule["host"] = settings.host
    spec: dict[str, Any] = {"ingressClassName": settings.class_name, "rules": [rule]}
    if settings.tls.enabled:
        spec["tls"] = [{"hosts": [settings.host], "secretName": tls_secret_name(settings, args.api_name)}]
    return spec


def http_route_spec(args: IngressArgs) -> dict[str, Any]:
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


class Ingress(pulumi.ComponentResource):
    """Routes the public host to the API Service; ``public_url`` is None when nothing is exposed."""

    public_url: str | None

    def __init__(self, name: str, args: IngressArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:index:Ingress", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings
        meta_labels = labels(args.api_name, args.namespace, "ingress", args.environment)
        meta: dict[str, Any] = metadata(args.namespace, meta_labels, args.api_name, annotations=ingress_annotations(settings))
        if settings.kind == "ingress":
            if args.private_paths:
                denied = denied_service_name(args.api_name)
                k8s.core.v1.Service(
                    f"{name}-denied",
                    # Its own name label, so no selector of the API's (the ServiceMonitor's) picks it up.
                    # Without a selector the provider does not wait for endpoints (pkg/await/service.go).
                    metadata=metadata(args.namespace, labels(denied, args.namespace, "ingress", args.environment), denied),
                    spec=denied_service_spec(),
                    opts=child,
                )
            k8s.networking.v1.Ingress(f"{name}-ingress", metadata=meta, spec=ingress_spec(args), opts=child)
        elif settings.kind == "gateway":
            k8s.apiextensions.CustomResource(
                f"{name}-route",
                api_version="gateway.networking.k8s.io/v1",
                kind="HTTPRoute",
                metadata=meta,
                spec=http_route_spec(args),
                opts=child,
            )
        self.public_url = public_url(settings)
        self.register_outputs({"public_url": self.public_url})
