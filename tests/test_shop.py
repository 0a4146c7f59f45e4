"""examples/shop under the mock engine, importing the installed wheel: a composition unlike the
platform's own (two services on one database, one without a cache, one public through a Gateway)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.test_two_services import flows, pod_templates, run_installed
from tools.engine import ROOT, Run

EXAMPLE = ROOT / "examples" / "shop"
INTENDED = {("orders", "ordersdb", 5432), ("billing", "ordersdb", 5432), ("orders", "cache", 6379)}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = run_installed(tmp_path_factory, EXAMPLE, "staging")
    assert len(run.kubernetes()) >= 30
    return run


def test_names_are_unique_per_kind(shop: Run) -> None:
    named = [(r.kind, r.metadata["name"]) for r in shop.kubernetes() if r.metadata.get("name")]
    assert [key for key, count in Counter(named).items() if count > 1] == []


def test_policies_admit_exactly_the_intended_flows(shop: Run) -> None:
    assert set(pod_templates(shop)) == {"orders", "billing", "ordersdb", "cache"}
    assert flows(shop) == INTENDED


def test_a_service_without_a_cache_gets_no_cache_variables(shop: Run) -> None:
    billing = next(c for c in shop.of_kind("ConfigMap") if c.name == "billing-config").inputs["data"]
    orders = next(c for c in shop.of_kind("ConfigMap") if c.name == "orders-config").inputs["data"]
    assert "REDIS_HOST" not in billing and orders["REDIS_HOST"] == "cache"
    assert billing["DB_HOST"] == orders["DB_HOST"] == "ordersdb"
    env = {e["name"] for e in next(d for d in shop.of_kind("Deployment") if d.name == "billing-deployment")
           .spec["template"]["spec"]["containers"][0]["env"]}
    assert "DB_PASSWORD" in env and "REDIS_PASSWORD" not in env


def test_the_route_follows_its_service(shop: Run) -> None:
    (route,) = shop.of_kind("HTTPRoute")
    assert route.metadata["name"] == "orders"
    rules = route.spec["rules"]
    assert rules[0] == {"matches": [{"path": {"type": "PathPrefix", "value": "/metrics"}}]}  # denied: no backend
    assert rules[-1]["backendRefs"] == [{"kind": "Service", "name": "orders", "port": 80}]
    # The gateway's pods reach the orders app port; nothing public reaches billing.
    ingress = {p.metadata["name"]: p.spec for p in shop.of_kind("NetworkPolicy")}
    from_gateway = [r for r in ingress["orders-ingress"]["ingress"] if r["from"][0].get("podSelector")]
    assert [int(p["port"]) for r in from_gateway for p in r["ports"]] == [8080]
    assert not [r for r in ingress["billing-ingress"]["ingress"] if r["from"][0].get("podSelector")]
