"""Settings of a service's public route (``platform:ingress``): an Ingress, a Gateway API route, or nothing."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..profiles import EnvironmentProfile
from ..validation import DnsLabel, Hostname, LabelKey, LabelValue
from .base import Group, Model

# The controller of kind ingress unless `controller` says otherwise.
INGRESS_NGINX = {"namespace": "ingress-nginx", "podLabels": {"app.kubernetes.io/name": "ingress-nginx"}}
# The label in-cluster Gateway implementations put on the data plane they deploy for a Gateway (GEP-1762).
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"


class Tls(Model):
    """HTTPS for the route."""

    enabled: bool
    """Serve the host over HTTPS."""
    cluster_issuer: DnsLabel | None = None
    """The cert-manager ClusterIssuer that issues the Ingress's certificate."""
    secret_name: DnsLabel | None = None
    """The certificate's Secret; unset: <service>-tls."""
    acme_http01: bool = True
    """The clusterIssuer solves ACME HTTP-01 challenges (kind ingress): the controller's pods may reach the solver
    pods cert-manager starts in the namespace (port 8089) through the namespace's default deny. false: a DNS-01
    issuer, nothing opened."""


class IngressController(Model):
    """Where the ingress controller (or gateway) pods run: the API only accepts them."""

    namespace: DnsLabel
    """The controller's namespace."""
    pod_labels: dict[LabelKey, LabelValue]
    """Labels of the controller's pods (the API's NetworkPolicy admits exactly these)."""


class GatewayRef(Model):
    """An existing Gateway the HTTPRoute attaches to."""

    name: DnsLabel
    """The Gateway's name."""
    namespace: DnsLabel
    """The Gateway's namespace."""
    section_name: DnsLabel | None = None
    """The listener to attach to (with TLS: the HTTPS listener)."""


class IngressConfig(Group):
    """How the API is exposed (``platform:ingress``): an Ingress, a Gateway API route, or nothing."""

    KEY = "ingress"

    kind: Literal["ingress", "gateway", "none"]
    """ingress: an Ingress; gateway: an HTTPRoute on an existing Gateway; none: not exposed."""
    class_name: DnsLabel
    """The IngressClass (kind ingress)."""
    host: Hostname | None = None
    """The public host name; unset: any host."""
    tls: Tls
    """HTTPS."""
    annotations: dict[LabelKey, str] = Field(default_factory=dict)
    """Controller-specific extras (rate limits, body size, timeouts) on the Ingress/HTTPRoute."""
    controller: IngressController | None = None
    """The pods that forward public traffic to the service; unset: ingress-nginx's (kind ingress), or the Gateway's
    own data plane (kind gateway): pods labelled gateway.networking.k8s.io/gateway-name=<gateway.name> in the
    Gateway's namespace, as in-cluster Gateway implementations deploy it (Gateway API GEP-1762). An
    implementation that runs them elsewhere (Envoy Gateway: its controller's namespace) needs this set."""
    gateway: GatewayRef | None = None
    """The Gateway (kind gateway)."""

    @model_validator(mode="after")
    def _coherent(self) -> IngressConfig:
        problems = []
        if self.tls.enabled and not self.host:
            problems.append("tls.enabled needs a 'host' to issue the certificate for")
        if self.tls.enabled and self.kind == "ingress" and not self.tls.cluster_issuer:
            problems.append("tls.enabled needs tls.clusterIssuer (the cert-manager ClusterIssuer)")
        if self.kind == "gateway" and self.gateway is None:
            problems.append("kind 'gateway' needs 'gateway: {name, namespace}' of an existing Gateway")
        elif self.kind == "gateway" and self.gateway and self.tls.enabled and not self.gateway.section_name:
            problems.append("tls.enabled with kind 'gateway' needs gateway.sectionName (the HTTPS listener with the certificate)")
        # ingress-nginx snippets run arbitrary config in the controller (CVE-2025-1974, Checkov CKV_K8S_153).
        problems += [f"annotations.{k}: snippet annotations are not allowed" for k in self.annotations if k.endswith("-snippet")]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def traffic_source(self) -> IngressController | None:
        """The pods that forward public traffic to the API, or None when nothing is exposed."""
        if self.kind == "none":
            return None
        if self.controller is not None:
            return self.controller
        if self.kind == "gateway" and self.gateway is not None:
            labels = {GATEWAY_NAME_LABEL: self.gateway.name}
            return IngressController.model_validate({"namespace": self.gateway.namespace, "podLabels": labels})
        return IngressController.model_validate(INGRESS_NGINX)

    @property
    def acme_solver(self) -> bool:
        """cert-manager runs HTTP-01 solver pods beside the service, which the controller must reach."""
        return self.kind == "ingress" and self.tls.enabled and bool(self.tls.cluster_issuer) and self.tls.acme_http01

    @classmethod
    def defaults(cls, env: EnvironmentProfile) -> dict[str, Any]:
        return {
            "kind": "none",
            "className": "nginx",
            "tls": {"enabled": False},
        }
