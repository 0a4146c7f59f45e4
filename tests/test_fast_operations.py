"""What makes `pulumi up` and `destroy` fast, asserted as structure (never as a time).

The provider's Service await costs 10 s per Service (pulumi-kubernetes pkg/await/service.go), so
the platform's Services skip it; that is safe because each one is created after the workload
whose pods it selects (that workload's await proves them ready) and the policy
``services-select-workloads`` proves the selector matches them.

Where the namespace is deleted with the stack, every object in it is ``deletedWith`` it, so
`destroy` deletes the namespace alone, like `kubectl delete namespace`.
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


def deleted_with(run: Run, resource: Registered) -> str:
    """The engine's view: a resource's own deletedWith, else its nearest ancestor's."""
    by_urn = {r.urn: r for r in run.resources}
    current: Registered | None = resource
    while current is not None:
        if current.deleted_with:
            return current.deleted_with
        current = by_urn.get(current.parent)
    return ""


def monitoring(run: Run, resource: Registered) -> bool:
    parent = next((r for r in run.resources if r.urn == resource.parent), None)
    return parent is not None and parent.type == "platform:index:Monitoring"


def namespace_of(run: Run) -> Registered:
    return run.one("Namespace", "env-namespace")


def test_where_the_namespace_goes_with_the_stack_everything_in_it_goes_with_it(runs: dict[str, Run]) -> None:
    for stack in ("dev", "pr-123"):
        run = runs[stack]
        namespace = namespace_of(run)
        inside = [r for r in run.kubernetes() if r.metadata.get("namespace") == namespace.metadata["name"]]
        assert len(inside) >= 20, stack
        # Monitoring spans two namespaces (its release lives in the monitoring one): its few
        # objects here are still deleted one by one, in parallel.
        one_by_one = [r.name for r in inside if deleted_with(run, r) != namespace.urn and not monitoring(run, r)]
        assert not one_by_one, f"{stack}: destroy would delete these one by one: {one_by_one}"
        # No Kubernetes object outside the namespace is skipped: its deletion would not take it.
        outside = [r.name for r in run.kubernetes() if deleted_with(run, r) and r not in inside]
        assert not outside, f"{stack}: {outside}"


def test_where_the_namespace_is_kept_destroy_handles_each_object_as_before(runs: dict[str, Run]) -> None:
    # Staging retains the namespace (a retained deletion still counts as one for deletedWith, so
    # its contents would silently stay); production's is protected.
    for stack in ("staging", "production"):
        run = runs[stack]
        skipped = [r.name for r in run.kubernetes() if deleted_with(run, r) and r.retain_on_delete is False]
        assert not skipped, f"{stack}: these would be left behind by destroy: {skipped}"
