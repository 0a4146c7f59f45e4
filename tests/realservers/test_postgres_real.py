"""PostgreSQL and postgres_exporter as real processes, configured only from each stack's render."""

from __future__ import annotations

from collections.abc import Callable

from components.postgres import METRICS_PORT
from tests.harness import Run, run_program
from tests.realservers import contract
from tests.realservers.conftest import settings
from tests.realservers.pods import Node, container, find, postgres_entrypoint, start_exporter

MAX_CONNECTIONS = {"postgres": {"maxConnections": 42}}  # not Postgres's default 100: proves the arg is applied


def start_postgres(run: Run, nodes: Callable[[Run, list[str]], Node]) -> tuple[Node, dict, dict]:
    pod = find(run, "StatefulSet", "postgres").spec["template"]["spec"]
    spec = container(pod, "postgres")
    node = nodes(run, ["postgres"])
    node.mount(pod, spec)
    postgres_entrypoint(node, pod, spec)
    return node, pod, spec


def generated_password(run: Run) -> str:
    pod = find(run, "StatefulSet", "postgres").spec["template"]["spec"]
    secret_name = next(v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v)
    return str(find(run, "Secret", secret_name).inputs["stringData"]["password"])


def sql(node: Node, pod: dict, spec: dict, query: str, password: str) -> tuple[int, str]:
    """psql over TCP (scram, like the API) as the configured user and database."""
    env = node.environment(spec, {"PGPASSWORD": password})
    argv = ["psql", "-h", "127.0.0.1", "-p", "5432", "-U", env["POSTGRES_USER"], "-d", env["POSTGRES_DB"], "-XAtc", query]
    result = node.exec(pod, argv, env)
    return result.returncode, (result.stdout + result.stderr).strip()


def test_postgres_initialises_with_the_generated_password_and_applies_max_connections(
    nodes: Callable[[Run, list[str]], Node],
) -> None:
    run = run_program("staging", MAX_CONNECTIONS)
    assert run.error is None, run.error
    want = settings("staging", MAX_CONNECTIONS).postgres
    node, pod, spec = start_postgres(run, nodes)
    password = generated_password(run)

    assert sql(node, pod, spec, "select 1", password) == (0, "1")
    code, output = sql(node, pod, spec, "select 1", password + "x")
    assert code != 0 and "password authentication failed" in output
    assert sql(node, pod, spec, "show max_connections", password) == (0, str(want.max_connections))

    probe = [node.rewrite(a) for a in spec["readinessProbe"]["exec"]["command"]]
    env = node.environment(spec)
    assert node.exec(pod, probe, env).returncode == 0
    node.stop(node.processes[0])  # the server
    assert node.exec(pod, probe, env).returncode != 0


def test_postgres_exporter_reports_every_metric_the_alerts_use(
    runs: dict[str, Run], nodes: Callable[[Run, list[str]], Node]
) -> None:
    node, pod, _ = start_postgres(runs["production"], nodes)
    scrape = start_exporter(node, pod, METRICS_PORT)  # pg_up 1 with the rendered env and password file
    uses = contract.used("pg_")
    assert len(uses) >= 5, uses
    assert contract.missing(scrape, uses) == []
