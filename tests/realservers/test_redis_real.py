"""Redis and redis_exporter as real processes, configured only from each stack's render."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from components.redis import DANGEROUS_COMMANDS, METRICS_PORT
from components.validation import parse_quantity
from tests.harness import Run
from tests.realservers import contract
from tests.realservers.conftest import settings
from tests.realservers.pods import Node, container, find, start_exporter, wait_until


def start_redis(run: Run, nodes: Callable[[Run, list[str]], Node]) -> tuple[Node, dict, dict]:
    pod = find(run, "StatefulSet", "redis").spec["template"]["spec"]
    spec = container(pod, "redis")
    node = nodes(run, ["redis"])
    node.mount(pod, spec)
    env = node.environment(spec)
    server = node.start(pod, node.command(spec), env, "redis")
    probe = [node.rewrite(a) for a in spec["readinessProbe"]["exec"]["command"]]
    ready = lambda: node.exec(pod, probe, env).returncode == 0  # noqa: E731
    wait_until(ready, lambda: f"the readiness probe {probe}: {node.log('redis')[-800:]}", server=server)
    return node, pod, spec


def cli(node: Node, pod: dict, spec: dict, *command: str, password: str | None = None) -> str:
    env = node.environment(spec, {"REDISCLI_AUTH": password} if password else {})
    result = node.exec(pod, ["redis-cli", "-h", "127.0.0.1", "-p", "6379", *command], env)
    return (result.stdout + result.stderr).strip()


def generated_password(run: Run) -> str:
    """The mock engine's password, as the program put it into the Secret."""
    pod = find(run, "StatefulSet", "redis").spec["template"]["spec"]
    secret_name = next(v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v)
    return str(find(run, "Secret", secret_name).inputs["stringData"]["password"])


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_redis_runs_as_rendered(stack: str, runs: dict[str, Run], nodes: Callable[[Run, list[str]], Node]) -> None:
    run, want = runs[stack], settings(stack).redis
    node, pod, spec = start_redis(run, nodes)  # the manifest's own probe command succeeded
    password = generated_password(run)

    assert "NOAUTH" in cli(node, pod, spec, "ping")
    assert "WRONGPASS" in cli(node, pod, spec, "ping", password=password + "x")
    assert cli(node, pod, spec, "ping", password=password) == "PONG"

    info = cli(node, pod, spec, "info", "memory", password=password)
    memory = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    assert int(memory["maxmemory"]) == int(parse_quantity(want.maxmemory))
    assert memory["maxmemory_policy"] == want.maxmemory_policy
    persistence = cli(node, pod, spec, "info", "persistence", password=password)
    assert "aof_enabled:1" in persistence

    if want.disable_dangerous_commands:
        for command in DANGEROUS_COMMANDS:
            assert "unknown command" in cli(node, pod, spec, command, password=password), command
    else:
        assert cli(node, pod, spec, "config", "get", "appendfsync", password=password).split() == ["appendfsync", "everysec"]
        assert cli(node, pod, spec, "config", "get", "appendonly", password=password).split() == ["appendonly", "yes"]


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_redis_exporter_reports_every_metric_the_alerts_use(
    stack: str, runs: dict[str, Run], nodes: Callable[[Run, list[str]], Node]
) -> None:
    run = runs[stack]
    node, pod, spec = start_redis(run, nodes)
    # Redis lists an error kind in INFO errorstats (redis_errors_total{err}) once one happened.
    assert "unknown command" in cli(node, pod, spec, "NO-SUCH-COMMAND", password=generated_password(run))
    scrape = start_exporter(node, pod, METRICS_PORT)  # redis_up 1 with the rendered password file
    uses = contract.used("redis_")
    assert len(uses) >= 5, uses  # the parser found the rules' and dashboards' metrics
    assert contract.missing(scrape, uses) == []
