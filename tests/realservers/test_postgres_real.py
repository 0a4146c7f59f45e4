"""PostgreSQL, its roles container and postgres_exporter as real processes, configured only from each stack's render."""

from __future__ import annotations

from collections.abc import Callable

from components.postgres import METRICS_PORT
from tests.harness import Run, run_program
from tests.realservers import contract
from tests.realservers.conftest import settings
from tests.realservers.pods import Node, container, find, postgres_entrypoint, start_exporter, start_roles

MAX_CONNECTIONS = {"postgres": {"maxConnections": 42}}  # not Postgres's default 100: proves the arg is applied


def start_postgres(run: Run, nodes: Callable[[Run, list[str]], Node], roles: bool = True) -> tuple[Node, dict, dict]:
    """The server pod's postgres container, then (unless ``roles`` is False) its roles container."""
    pod = find(run, "StatefulSet", "postgres").spec["template"]["spec"]
    spec = container(pod, "postgres")
    node = nodes(run, ["postgres"])
    node.mount(pod, spec)
    postgres_entrypoint(node, pod, spec)
    if roles:
        start_roles(node, pod)
    return node, pod, spec


def superuser_password(run: Run, store: str = "postgres") -> str:
    pod = find(run, "StatefulSet", store).spec["template"]["spec"]
    secret_name = next(v["secret"]["secretName"] for v in pod["volumes"] if v.get("name") == "secret")
    return str(find(run, "Secret", secret_name).inputs["stringData"]["password"])


def binding(run: Run, secret: str) -> dict[str, str]:
    """A binding Secret's keys, as the mock engine rendered them."""
    return {k: str(v) for k, v in find(run, "Secret", secret).inputs["stringData"].items()}


def sql(node: Node, pod: dict, spec: dict, query: str, user: str, password: str, database: str = "") -> tuple[int, str]:
    """psql over TCP to 127.0.0.1 (scram, like any client in the pod's network namespace)."""
    env = node.environment(spec, {"PGPASSWORD": password})
    argv = ["psql", "-h", "127.0.0.1", "-p", "5432", "-U", user, "-d", database or env["POSTGRES_DB"], "-XAtc", query]
    result = node.exec(pod, argv, env)
    return result.returncode, (result.stdout + result.stderr).strip()


def as_client(node: Node, pod: dict, spec: dict, run: Run, secret: str, query: str) -> tuple[int, str]:
    """psql with a client's binding Secret: its URI, exactly as the app gets it."""
    env = node.environment(spec)
    uri = binding(run, secret)["uri"].replace("@postgres:", "@127.0.0.1:")
    result = node.exec(pod, ["psql", "-XAt", "-d", uri, "-c", query], env)
    return result.returncode, (result.stdout + result.stderr).strip()


def test_postgres_initialises_applies_max_connections_and_admits_no_superuser_over_tcp(
    nodes: Callable[[Run, list[str]], Node],
) -> None:
    run = run_program("staging", MAX_CONNECTIONS)
    assert run.error is None, run.error
    want = settings("staging", MAX_CONNECTIONS).postgres
    node, pod, spec = start_postgres(run, nodes)

    assert as_client(node, pod, spec, run, "postgres-api-g1", "select current_user, session_user") == (0, "api|api_g1")
    assert as_client(node, pod, spec, run, "postgres-api-g1", "show max_connections") == (0, str(want.max_connections))
    # The superuser, with its right password, over TCP: refused by the server's own pg_hba.conf (127.0.0.1 too).
    code, output = sql(node, pod, spec, "select 1", want.user, superuser_password(run))
    assert code != 0 and "rejects connection" in output, output
    # A wrong password for a client: refused.
    code, output = sql(node, pod, spec, "select 1", "api_g1", binding(run, "postgres-api-g1")["password"] + "x")
    assert code != 0 and "password authentication failed" in output

    probe = [node.rewrite(a) for a in spec["readinessProbe"]["exec"]["command"]]
    env = node.environment(spec)
    assert node.exec(pod, probe, env).returncode == 0
    assert "readiness-probe" not in node.log("postgres")  # the probe's hang-up logs nothing
    node.stop(node.processes[0])  # the server
    assert node.exec(pod, probe, env).returncode != 0


def test_postgres_exporter_reports_every_metric_the_alerts_use(
    runs: dict[str, Run], nodes: Callable[[Run, list[str]], Node]
) -> None:
    node, pod, _ = start_postgres(runs["production"], nodes)
    scrape = start_exporter(node, pod, METRICS_PORT)  # pg_up 1 with its own pg_monitor login's rendered env and file
    uses = contract.used("pg_")
    assert len(uses) >= 5, uses
    assert contract.missing(scrape, uses) == []
