"""The benchmark's reading of the engine's event log: which steps, and which path through them."""

from __future__ import annotations

from tools.benchmark import EventLog, Step, critical_path, short

NS = "urn:pulumi:s::platform::kubernetes:core/v1:Namespace::env-namespace"
STS = "urn:pulumi:s::platform::platform:index:Postgres$kubernetes:apps/v1:StatefulSet::postgres-statefulset"
SVC = "urn:pulumi:s::platform::platform:index:Postgres$kubernetes:core/v1:Service::postgres-service"
CM = "urn:pulumi:s::platform::platform:index:Redis$kubernetes:core/v1:ConfigMap::redis-config"
COMPONENT = "urn:pulumi:s::platform::platform:index:Postgres::postgres"


def pre(urn: str, custom: bool = True) -> dict:
    return {"resourcePreEvent": {"metadata": {"urn": urn, "op": "create", "new": {"urn": urn, "custom": custom}}}}


def out(urn: str) -> dict:
    return {"resOutputsEvent": {"metadata": {"urn": urn, "op": "create"}}}


def test_steps_are_custom_resources_stamped_on_arrival() -> None:
    log = EventLog.__new__(EventLog)
    log.events = [(0.5, pre(COMPONENT, custom=False)), (1.0, pre(NS)), (1.2, out(NS)), (1.3, pre(STS)), (9.0, out(COMPONENT))]
    steps = log.steps()
    assert list(steps) == [NS]  # the component is no step; the unfinished StatefulSet is dropped
    assert (steps[NS].start, steps[NS].end) == (1.0, 1.2)


def test_the_critical_path_follows_the_dependency_that_ended_last() -> None:
    steps = {
        NS: Step(NS, "create", 1.0, 1.2),
        CM: Step(CM, "create", 1.3, 1.4),
        STS: Step(STS, "create", 1.3, 3.0),
        SVC: Step(SVC, "create", 3.1, 3.2),
    }
    deps = {SVC: {STS, CM}, STS: {NS}, CM: {NS}}
    assert [s.urn for s in critical_path(steps, deps)] == [NS, STS, SVC]
    # Without the ordering, the Service is no longer behind the StatefulSet.
    assert [s.urn for s in critical_path(steps, {**deps, SVC: {CM}})] == [NS, CM, SVC]


def test_short_names() -> None:
    assert short(SVC) == "Service postgres-service"
    assert short(NS) == "Namespace env-namespace"
