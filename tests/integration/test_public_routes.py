"""The public route objects, as this program renders them, are accepted by a real API server
(with the Gateway API CRDs and their validation rules installed by scripts/local-cluster.sh)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.harness import run_program
from tools.realengine import Workspace
from tools.render import manifest

pytestmark = pytest.mark.integration
NAMESPACE = "it-routes"  # it and "it-gateway" are in conftest.TEST_NAMESPACES: removed before and after the run
GATEWAY = {
    "kind": "gateway", "host": "api.example.com", "tls": {"enabled": True},
    "gateway": {"name": "public", "namespace": "gateways", "sectionName": "https"},
}


def _public_objects(ingress: dict[str, Any] | None) -> list[dict[str, Any]]:
    overrides: dict[str, Any] = {"namespace": {"name": NAMESPACE}}
    if ingress:
        overrides["ingress"] = ingress
    run = run_program("production", overrides)
    assert run.error is None, run.error
    return [manifest(r) for r in run.kubernetes() if r.kind in ("Ingress", "HTTPRoute")]


def _apply(workspace: Workspace, objects: list[dict[str, Any]], *flags: str, check: bool = True) -> Any:
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    command = ("apply", "--server-side", "--field-manager=it-routes", *flags, "-f", "-")
    return workspace.kubectl(*command, stdin=document, check=check)


def test_ingress_and_http_route_are_accepted(workspace: Workspace) -> None:
    objects = _public_objects(None) + _public_objects(GATEWAY)
    assert sorted(o["kind"] for o in objects) == ["HTTPRoute", "Ingress"]
    workspace.kubectl("create", "namespace", NAMESPACE)

    # The server really validates: the same route with a relative path is refused.
    broken = copy.deepcopy(next(o for o in objects if o["kind"] == "HTTPRoute"))
    broken["spec"]["rules"][0]["matches"][0]["path"]["value"] = "metrics"
    refused = _apply(workspace, [broken], "--dry-run=server", check=False)
    assert refused.returncode != 0 and "HTTPRoute" in refused.stderr, refused.stderr

    _apply(workspace, objects)
    route = workspace.kube_json("get", "httproutes.gateway.networking.k8s.io", "api", "-n", NAMESPACE)
    denied = [rule["matches"][0]["path"]["value"] for rule in route["spec"]["rules"] if not rule.get("backendRefs")]
    assert denied == ["/metrics"], route["spec"]["rules"]
    ingress = workspace.kube_json("get", "ingresses.networking.k8s.io", "api", "-n", NAMESPACE)
    ports = {p["backend"]["service"]["port"]["number"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert ports == {80}, "the Ingress reaches the API's port 80 only, never its metrics port"


def test_pulumi_up_in_gateway_mode_applies_the_deny_rule(workspace: Workspace) -> None:
    """The same through the real engine: a review stack in gateway mode, up and destroyed."""
    stack = "it-gateway"
    ingress = {**GATEWAY, "host": "api.it-gateway.example.test", "tls": {"enabled": False}}
    workspace.init_stack(stack, {"platform:ingress": ingress})
    try:
        workspace.pulumi("up", "--yes", "--skip-preview", stack=stack, timeout=1200)
        route = workspace.kube_json("get", "httproutes.gateway.networking.k8s.io", "api", "-n", stack)
        rules = [(r["matches"][0]["path"]["value"], bool(r.get("backendRefs"))) for r in route["spec"]["rules"]]
        assert rules == [("/metrics", False), ("/", True)], rules
    finally:
        workspace.pulumi("destroy", "--yes", "--remove", "--skip-preview", stack=stack, timeout=1200)
