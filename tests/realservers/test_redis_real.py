"""Redis and redis_exporter as real processes, configured only from each stack's render.

The pod runs as rendered: the ``acl-render`` init step (the ConfigMap's acl.sh), then the server
and the ``acl-sync`` sidecar. A Secret or ConfigMap update is what the kubelet does: the new
files appear in the mounted directory of the running pod.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from components.namespace import NamespaceRef
from components.redis import (
    ACKS_DIR,
    ACL_SYNC_SECONDS,
    DANGEROUS_COMMANDS,
    METRICS_PORT,
    PROBE,
    Redis,
    RedisArgs,
    acl_secret_name,
)
from components.validation import parse_quantity
from environments import load_config
from tests.harness import Run
from tests.realservers import contract
from tests.realservers.conftest import settings
from tests.realservers.pods import Node, container, find, start_exporter, wait_until
from tools.diff import load, render_ref
from tools.engine import Registered, run_function

# The last revision of main whose Redis knew only requirepass (before #22): "today's program".
PRE_ACL_REVISION = "9cf8262"
TWO_CLIENTS = {"keyPrefixes": {"orders": "orders:", "billing": "billing:"}}


class Pod:
    """The rendered Redis pod on a node: init step, server, sidecar."""

    def __init__(self, run: Run, node: Node):
        self.run, self.node = run, node
        self.spec = find(run, "StatefulSet", "redis").spec["template"]["spec"]
        self.redis = container(self.spec, "redis")
        self.server: subprocess.Popen[bytes] | None = None

    def start(self, sidecar: bool = True) -> None:
        node, spec = self.node, self.spec
        render = container(spec, "acl-render")
        node.mount(spec, render)
        node.mount(spec, self.redis)
        node.mounts.add(ACKS_DIR)  # the parent of the clients' acknowledgement mounts, which the script reads
        result = node.exec(spec, node.command(render), node.environment(render))
        assert result.returncode == 0, result.stdout + result.stderr
        self.server = node.start(spec, node.command(self.redis), node.environment(self.redis), "redis")
        probe = [node.rewrite(a) for a in self.redis["readinessProbe"]["exec"]["command"]]
        ready = lambda: node.exec(spec, probe, node.environment(self.redis)).returncode == 0  # noqa: E731
        wait_until(ready, lambda: f"the readiness probe {probe}: {node.log('redis')[-800:]}", server=self.server)
        if sidecar:
            sync = container(spec, "acl-sync")
            node.mount(spec, sync)
            node.start(spec, node.command(sync), node.environment(sync), "acl-sync")

    def cli(self, *command: str, user: str | None = None, password: str | None = None) -> str:
        """redis-cli as ``user`` (None: the default user), the password from the environment."""
        env = self.node.environment(self.redis, {"REDISCLI_AUTH": password} if password else {})
        argv = ["redis-cli", "-h", "127.0.0.1", "-p", "6379", *(["--user", user] if user else []), *command]
        result = self.node.exec(self.spec, argv, env)
        return (result.stdout + result.stderr).strip()

    def update_secret(self, run: Run, name: str) -> None:
        """The kubelet's update of a mounted Secret: the running pod sees the new run's files."""
        files = find(run, "Secret", name).inputs["stringData"]
        volumes = {v["name"]: v["secret"] for v in self.spec["volumes"] if v.get("secret", {}).get("secretName") == name}
        everything = [*self.spec.get("initContainers", []), *self.spec["containers"]]
        for mount in [m for c in everything for m in c.get("volumeMounts", []) if m["name"] in volumes]:
            items = volumes[mount["name"]].get("items") or [{"key": k, "path": k} for k in files]
            for item in items:
                (self.node.path(mount["mountPath"]) / item["path"]).write_text(files[item["key"]])

    def acknowledge(self, client: str, generation: int) -> None:
        """What the client's ``<store>-<client>-ack`` ConfigMap shows in the pod once its rollout is done."""
        path = self.node.path(f"{ACKS_DIR}/{client}/generation")
        path.write_text(str(generation))

    def reloads(self) -> int:
        return self.node.log("acl-sync").count("acl: reloaded")


def store_secret(run: Run) -> Registered:
    (secret,) = [r for r in run.of_kind("Secret") if r.name == "redis-secret"]
    return secret


def superuser(run: Run) -> str:
    """The generated password of the store's Secret (only the server's users file has its hash)."""
    return str(store_secret(run).inputs["stringData"]["password"])


def binding(run: Run, client: str, generation: int = 1) -> dict[str, str]:
    return dict(find(run, "Secret", f"redis-{client}-g{generation}").inputs["stringData"])


def refused(output: str) -> bool:
    """Denied by the user's rules, or (production) by the command's being renamed away for everyone."""
    return "NOPERM" in output or "unknown command" in output


def start(run: Run, nodes: Callable[[Run, list[str]], Node], sidecar: bool = True) -> Pod:
    pod = Pod(run, nodes(run, ["redis"]))
    pod.start(sidecar)
    return pod


# ---------------------------------------------------------------- each stack, as rendered


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_redis_runs_as_rendered(stack: str, runs: dict[str, Run], nodes: Callable[[Run, list[str]], Node]) -> None:
    run, want = runs[stack], settings(stack).redis
    pod = start(run, nodes, sidecar=False)  # the manifest's own probe command succeeded
    password = superuser(run)

    assert "NOAUTH" in pod.cli("ping")
    assert "WRONGPASS" in pod.cli("ping", password=password + "x")
    assert pod.cli("ping", password=password) == "PONG"

    info = pod.cli("info", "memory", password=password)
    memory = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    assert int(memory["maxmemory"]) == int(parse_quantity(want.maxmemory))
    assert memory["maxmemory_policy"] == want.maxmemory_policy
    assert "aof_enabled:1" in pod.cli("info", "persistence", password=password)

    if want.disable_dangerous_commands:
        for command in DANGEROUS_COMMANDS:
            assert "unknown command" in pod.cli(command, password=password), command
    else:
        assert pod.cli("config", "get", "appendfsync", password=password).split() == ["appendfsync", "everysec"]
        assert pod.cli("config", "get", "appendonly", password=password).split() == ["appendonly", "yes"]

    # The API's own user: data commands on every key, nothing dangerous or administrative.
    api = binding(run, "api")
    assert api["username"] == "api" and api["uri"] == f"redis://api:{api['password']}@redis:6379"
    assert pod.cli("set", "session:1", "x", user="api", password=api["password"]) == "OK"
    assert pod.cli("get", "session:1", user="api", password=api["password"]) == "x"
    for denied in (["flushall"], ["keys", "*"], ["config", "get", "maxmemory"], ["acl", "list"], ["shutdown"], ["monitor"]):
        assert refused(pod.cli(*denied, user="api", password=api["password"])), denied
    assert "redis_version:" in pod.cli("info", "server", user="api", password=api["password"])  # queue libraries read it
    # The probe's user can PING and nothing else; the in-pod users' passwords are no client's.
    probe = pod.node.path("/run/redis-acl/probe-password").read_text()
    assert pod.cli("ping", user=PROBE, password=probe) == "PONG"
    assert "NOPERM" in pod.cli("get", "session:1", user=PROBE, password=probe)
    assert "WRONGPASS" in pod.cli("ping", user="api", password=password)  # the superuser's is not the API's


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_redis_exporter_reports_every_metric_the_alerts_use(
    stack: str, runs: dict[str, Run], nodes: Callable[[Run, list[str]], Node]
) -> None:
    run = runs[stack]
    pod = start(run, nodes, sidecar=False)
    # Redis lists an error kind in INFO errorstats (redis_errors_total{err}) once one happened.
    assert "unknown command" in pod.cli("NO-SUCH-COMMAND", password=superuser(run))
    scrape = start_exporter(pod.node, pod.spec, METRICS_PORT)  # redis_up 1 as the metrics user
    uses = contract.used("redis_")
    assert len(uses) >= 5, uses  # the parser found the rules' and dashboards' metrics
    assert contract.missing(scrape, uses) == []
    # The exporter's user reads no data and runs nothing administrative.
    exporter = json.loads(pod.node.path(f"/run/secrets/{acl_secret_name('redis')}/exporter-passwords.json").read_text())
    (metrics_password,) = exporter.values()
    assert metrics_password != superuser(run)
    assert "NOPERM" in pod.cli("get", "session:1", user="metrics", password=metrics_password)
    assert "NOPERM" in pod.cli("acl", "load", user="metrics", password=metrics_password)


# ---------------------------------------------------------------- two clients, rotation


def two_clients(rotations: dict[str, int] | None = None) -> Run:
    """A staging Redis with an ApiService client and a label-set one, each under its key prefix."""
    config = load_config("staging", {"redis": {**TWO_CLIENTS, "rotations": rotations or {}}}).redis

    def program() -> None:
        where = NamespaceRef(name="shop", environment="staging")
        clients: list[Any] = ["orders", {"app.kubernetes.io/name": "billing", "team": "billing"}]
        Redis("redis", RedisArgs(environment=where, settings=config, clients=clients))

    run = run_function("staging", program)
    assert run.error is None, run.error
    return run


@pytest.fixture
def shop(nodes: Callable[[Run, list[str]], Node]) -> Iterator[Pod]:
    yield start(two_clients(), nodes)


def test_two_clients_each_get_their_own_user_and_only_their_keys(shop: Pod) -> None:
    orders, billing = binding(shop.run, "orders"), binding(shop.run, "billing")
    assert orders["username"] == "orders" and billing["username"] == "billing" and orders["password"] != billing["password"]
    assert orders["key-prefix"] == "orders:"
    as_orders = {"user": "orders", "password": orders["password"]}
    as_billing = {"user": "billing", "password": billing["password"]}
    assert shop.cli("set", "orders:1", "paid", **as_orders) == "OK"
    assert shop.cli("set", "billing:1", "due", **as_billing) == "OK"
    assert "NOPERM" in shop.cli("get", "billing:1", **as_orders)
    assert "NOPERM" in shop.cli("set", "billing:1", "stolen", **as_orders)
    assert "NOPERM" in shop.cli("del", "orders:1", **as_billing)
    assert "NOPERM" in shop.cli("publish", "billing:events", "x", **as_orders)  # channels too
    admin = (["flushdb"], ["config", "set", "maxmemory", "1"], ["acl", "setuser", "orders", "+@all"], ["bgrewriteaof"])
    for command in admin:
        assert "NOPERM" in shop.cli(*command, **as_orders), command
    assert "WRONGPASS" in shop.cli("ping", user="orders", password=billing["password"])
    assert shop.cli("get", "billing:1", **as_billing) == "due"


def test_rotation_keeps_the_old_password_until_the_client_acknowledges(
    shop: Pod, nodes: Callable[[Run, list[str]], Node]
) -> None:
    first = binding(shop.run, "orders", 1)["password"]
    assert shop.cli("set", "orders:kept", "1", user="orders", password=first) == "OK"
    rotated = two_clients({"orders": 2})
    second = binding(rotated, "orders", 2)["password"]
    assert second != first
    # Generation 2 was accepted before the rotation: the consumer's new pods never race the reload.
    assert shop.cli("get", "orders:kept", user="orders", password=second) == "1"

    # The up of generation 2 updates the ACL Secret in place (the pod keeps running).
    assert find(rotated, "StatefulSet", "redis").spec == find(shop.run, "StatefulSet", "redis").spec
    reloads = shop.reloads()
    shop.update_secret(rotated, acl_secret_name("redis"))
    wait_until(lambda: shop.reloads() > reloads, lambda: f"a reload: {shop.node.log('acl-sync')[-500:]}")
    # Both generations work while the rollout has not been acknowledged, the other client untouched.
    assert shop.cli("get", "orders:kept", user="orders", password=first) == "1"
    assert shop.cli("get", "orders:kept", user="orders", password=second) == "1"
    billing = binding(rotated, "billing", 1)["password"]
    assert billing == binding(shop.run, "billing", 1)["password"]
    assert shop.cli("ping", user="billing", password=billing) == "PONG"

    # An acknowledgement of an older generation (a failed rollout leaves it there) revokes nothing.
    shop.acknowledge("orders", 1)
    reloads = shop.reloads()
    assert shop.cli("ping", user="orders", password=first) == "PONG"
    # The consumer's rollout finished: it writes generation 2, and the old password is refused.
    shop.acknowledge("orders", 2)
    wait_until(lambda: shop.reloads() > reloads, lambda: f"the revocation: {shop.node.log('acl-sync')[-500:]}")
    assert "WRONGPASS" in shop.cli("ping", user="orders", password=first)
    assert shop.cli("get", "orders:kept", user="orders", password=second) == "1"
    # Once revoked it stays so, even if the acknowledgement vanishes (a ConfigMap being replaced).
    shop.node.path(f"{ACKS_DIR}/orders/generation").unlink()
    loaded = shop.node.path("/run/redis-acl/loaded.acl").read_text()
    time.sleep(2 * ACL_SYNC_SECONDS + 1)  # two more rounds of the sidecar
    assert shop.node.path("/run/redis-acl/loaded.acl").read_text() == loaded
    assert "WRONGPASS" in shop.cli("ping", user="orders", password=first)


# ---------------------------------------------------------------- an existing store


@pytest.fixture(scope="module")
def pre_acl_render(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Today's program's staging objects, rendered from its revision."""
    out, scratch = tmp_path_factory.mktemp("base"), tmp_path_factory.mktemp("scratch")
    try:
        errors = render_ref(PRE_ACL_REVISION, out, ["staging"], scratch)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"revision {PRE_ACL_REVISION} (before #22) is not in this clone; fetch main's history: {exc}")
    assert errors == {}, errors
    return load(out)["staging"]


def sample(pod: Pod, password: str) -> dict[str, str]:
    return {k: pod.cli("get", k, password=password) for k in ("key:0", "key:199")} | {
        "cart:7": pod.cli("hgetall", "cart:7", password=password)
    }


def test_a_store_of_todays_program_gets_the_users_and_keeps_its_data(
    pre_acl_render: dict[str, Any], runs: dict[str, Run], nodes: Callable[[Run, list[str]], Node]
) -> None:
    run = runs["staging"]
    base = {(o["kind"], o["metadata"]["name"]): o for o in pre_acl_render.values()}
    named = lambda kind, prefix: [o for (k, n), o in base.items() if k == kind and n.startswith(prefix)]  # noqa: E731
    (conf,) = [o["data"]["redis.conf"] for o in named("ConfigMap", "redis-config")]
    assert "requirepass.conf" in conf and "aclfile" not in conf  # really the program before users
    # Its Secret is this program's, unchanged (a data change would replace it): same keys, same passwords.
    new_secret = store_secret(run)
    (old_keys,) = [sorted(o["stringData"]) for o in named("Secret", "redis-secret")]
    assert old_keys == sorted(new_secret.inputs["stringData"])

    pod = Pod(run, nodes(run, ["redis"]))
    node = pod.node
    node.mount(pod.spec, pod.redis)  # the data volume and /tmp
    old_secret = node.path("/run/secrets/redis")
    old_secret.mkdir(parents=True)
    for key, content in new_secret.inputs["stringData"].items():
        (old_secret / key).write_text(content)
    node.mounts.add("/run/secrets/redis")
    old_conf = node.path("/etc/redis-before/redis.conf")
    old_conf.parent.mkdir(parents=True)
    old_conf.write_text(node.rewrite(conf))
    for path in (old_secret, *old_secret.iterdir(), old_conf.parent, old_conf):
        path.chmod(0o755 if path.is_dir() else 0o644)
    password = superuser(run)
    env = node.environment(pod.redis)
    old = node.start(pod.spec, ["redis-server", str(old_conf)], env, "redis-before")
    wait_until(lambda: pod.cli("ping", password=password) == "PONG", lambda: node.log("redis-before")[-800:], server=old)
    for i in range(200):
        assert pod.cli("set", f"key:{i}", f"value-{i}", password=password) == "OK"
    assert pod.cli("hset", "cart:7", "sku", "42", password=password) == "1"
    before = sample(pod, password)
    node.stop(old)  # SIGINT: the AOF is flushed, as on a pod's termination

    pod.start()  # this program's pod on the same volume: render, server, sidecar
    assert pod.cli("dbsize", password=password) == "201"
    after = sample(pod, password)
    assert after == before and before["key:199"] == "value-199"
    api = binding(run, "api")["password"]
    assert pod.cli("get", "key:5", user="api", password=api) == "value-5"
    # Pods of the API that still run the old program (the superuser's password as the default user)
    # keep working until their rollout replaces them.
    assert pod.cli("get", "key:5", password=password) == "value-5"



def test_a_missing_users_file_keeps_the_users_redis_has(shop: Pod) -> None:
    """A Secret being replaced (delete, then create) must not leave Redis with no users, or only `default`."""
    orders = binding(shop.run, "orders")["password"]
    (shop.node.path(f"/run/secrets/{acl_secret_name('redis')}") / "users.acl").unlink()
    wait_until(lambda: "users.acl is missing" in shop.node.log("acl-sync"), lambda: shop.node.log("acl-sync")[-500:])
    assert shop.reloads() == 0
    assert shop.cli("ping", user="orders", password=orders) == "PONG"
    assert "NOAUTH" in shop.cli("ping")
