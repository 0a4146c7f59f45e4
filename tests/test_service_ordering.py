"""What makes `pulumi up` fast, asserted as structure (never as a time).

The provider's Service await costs 10 s per Service (pulumi-kubernetes pkg/await/service.go), so
the platform's Services skip it; that is safe because each one is created after the workload
whose pods it selects (that workload's await proves them ready) and the policy
``services-select-workloads`` proves the selector matches them.
"""

from __future__ import annotations

from components.labels import SKIP_SERVICE_AWAIT
from tests.harness import Registered, Run

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


def selected_workloads(run: Run, service: Registered) -> list[Registered]:
    selector = service.spec.get("selector") or {}
    return [
        w
        for w in run.kubernetes()
        if w.kind in WORKLOADS
        and w.metadata.get("namespace") == service.metadata.get("namespace")
        and selector.items() <= w.spec["template"]["metadata"]["labels"].items()
    ]


def selector_services(run: Run) -> list[Registered]:
    services = [s for s in run.of_kind("Service") if s.spec.get("selector")]
    # api, postgres, postgres-headless, redis, redis-headless (+ the two metrics Services where enabled)
    assert len(services) >= 5, [s.name for s in services]
    return services


def skips_await(service: Registered) -> bool:
    return (service.metadata.get("annotations") or {}).items() >= SKIP_SERVICE_AWAIT.items()


def test_every_selector_service_depends_on_the_workload_it_selects(run: Run) -> None:
    for service in selector_services(run):
        workloads = selected_workloads(run, service)
        assert workloads, f"Service {service.name} selects no workload of the stack"
        missing = [w.name for w in workloads if w.urn not in service.depends_on]
        assert not missing, f"Service {service.name} is not created after {missing}: {service.depends_on}"


def test_services_with_a_cluster_ip_skip_the_providers_await(run: Run) -> None:
    waiting = [
        s.name for s in selector_services(run) if s.spec.get("clusterIP") != "None" and not skips_await(s)
    ]
    assert not waiting, f"these Services would each wait 10 s in the provider: {waiting}"


def test_only_services_that_follow_their_workload_skip_the_await(run: Run) -> None:
    skipping = [s for s in run.of_kind("Service") if skips_await(s)]
    assert skipping
    for service in skipping:
        assert service.spec.get("selector"), f"{service.name} skips the await but selects nothing"
        assert all(w.urn in service.depends_on for w in selected_workloads(run, service)), service.name


def test_the_api_still_waits_for_the_data_layer(run: Run) -> None:
    # The ordering that makes the API start against ready stores is unchanged.
    deployment = run.one("Deployment", "api-deployment")
    assert {run.by_urn(u).name for u in deployment.depends_on} >= {"postgres-statefulset", "redis-statefulset"}
