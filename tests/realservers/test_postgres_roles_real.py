"""A login role per client, on a real server, from the rendered roles ConfigMap, logins Secret and binding Secrets.

* two clients (examples/two-services: `api` and `worker` share Postgres `db`) each do only what they should;
* a rotation keeps the old login until the client acknowledged its rollout, then revokes it for good;
* a data directory initialised the way the single-user program left it gets the roles, rows unchanged.
The roles container runs its rendered script; nothing here re-implements its SQL.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import components
from tests.harness import ROOT, Run, run_program
from tests.realservers.pods import Node, container, find, postgres_entrypoint, start_roles, wait_until
from tests.realservers.test_postgres_real import as_client, binding, sql, superuser_password

TWO_SERVICES = ROOT / "examples" / "two-services"
CHECKSUM = "select count(*) || ':' || md5(string_agg(id || '=' || note, ',' order by id)) from orders"


@pytest.fixture
def two_services() -> Iterator[Run]:
    """The example under the mock engine, importing this checkout as the installed package would be."""
    sys.modules["platform_components"] = components
    try:
        run = run_program("dev", root=TWO_SERVICES)
    finally:
        del sys.modules["platform_components"]
    assert run.error is None, run.error
    yield run


class Server:
    """One Postgres pod of a render: the server and its roles container, in one node."""

    def __init__(self, run: Run, node: Node, name: str):
        self.run, self.node = run, node
        self.pod = find(run, "StatefulSet", name).spec["template"]["spec"]
        self.spec = container(self.pod, "postgres")
        node.mount(self.pod, self.spec)

    def client(self, secret: str, query: str, run: Run | None = None) -> tuple[int, str]:
        return as_client(self.node, self.pod, self.spec, run or self.run, secret, query)

    def ok(self, secret: str, query: str, run: Run | None = None) -> str:
        code, out = self.client(secret, query, run)
        assert code == 0, f"{secret}: {query}: {out}"
        return out

    def refused(self, secret: str, query: str, reason: str, run: Run | None = None) -> None:
        code, out = self.client(secret, query, run)
        assert code != 0 and reason in out, f"{secret}: {query}: {out}"

    def sync(self, run: Run, *volumes: str) -> None:
        """What the kubelet does with a changed ConfigMap or Secret volume: the new content, in place."""
        pod = find(run, "StatefulSet", "postgres").spec["template"]["spec"]
        roles = container(pod, "roles")
        rendered, self.node.run = self.node.run, run  # the objects of that render
        try:
            self.node.mount(pod, {**roles, "volumeMounts": [m for m in roles["volumeMounts"] if m["name"] in volumes]})
        finally:
            self.node.run = rendered


def test_two_clients_each_do_only_what_they_should(two_services: Run, nodes: Callable[[Run, list[str]], Node]) -> None:
    run = two_services
    db = Server(run, nodes(run, ["db"]), "db")
    postgres_entrypoint(db.node, db.pod, db.spec)
    start_roles(db.node, db.pod)
    api, worker = "db-api-g1", "db-worker-g1"
    # The first client owns the database and its public schema; objects belong to its group role, not the login.
    db.ok(api, "create table orders (id serial primary key, note text not null)")
    db.ok(api, "insert into orders (note) values ('a'), ('b')")
    assert db.ok(api, "select tableowner from pg_tables where tablename = 'orders'") == "api"
    # The second: its own schema (its search_path finds it first); the first one's tables are refused.
    db.ok(worker, "create table jobs (id int)")
    assert db.ok(worker, "select schemaname from pg_tables where tablename = 'jobs'") == "worker"
    db.refused(worker, "select * from public.orders", "permission denied for table orders")
    db.refused(worker, "create table public.stolen (id int)", "permission denied for schema public")
    db.refused(api, "select * from worker.jobs", "permission denied for schema worker")
    # Neither is a superuser: no server programs, no roles, no other database.
    for secret in (api, worker):
        db.refused(secret, "copy (select 1) to program 'id'", "permission denied")
        db.refused(secret, "create role intruder superuser", "permission denied")
        db.refused(secret, "alter system set log_statement = 'all'", "permission denied")
    code, out = sql(db.node, db.pod, db.spec, "select 1", "api_g1", binding(run, api)["password"], "postgres")
    assert code != 0 and "permission denied for database" in out, out
    # The exporter: pg_monitor only. The backup job: reads everything, writes nothing.
    assert db.ok("db-metrics-g1", "select pg_has_role('pg_monitor', 'member')") == "t"
    db.refused("db-metrics-g1", "select * from public.orders", "permission denied")
    assert not db.node._exists("Secret", "db-backup-g1")  # dev runs no backup job: no backup login at all
    # The superuser: only over the socket, by the pod's UID (the roles container); over TCP refused.
    superuser = db.node.environment(db.spec)["POSTGRES_USER"]
    code, out = sql(db.node, db.pod, db.spec, "select 1", superuser, superuser_password(run, "db"))
    assert code != 0 and "rejects connection" in out, out
    # Each service gets its own login as today's variables, from its own binding Secret.
    for service in ("api", "worker"):
        pod = find(run, "Deployment", service).spec["template"]["spec"]
        env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in pod["containers"][0]["env"]}
        assert env["DB_PASSWORD"] == {"name": f"db-{service}-g1", "key": "password"}
        assert env["DATABASE_URL"] == {"name": f"db-{service}-g1", "key": "uri"}


def test_backup_login_reads_everything_and_writes_nothing(nodes: Callable[[Run, list[str]], Node]) -> None:
    run = run_program("staging")
    assert run.error is None, run.error
    db = Server(run, nodes(run, ["postgres"]), "postgres")
    postgres_entrypoint(db.node, db.pod, db.spec)
    start_roles(db.node, db.pod)
    db.ok("postgres-api-g1", "create table orders (id int primary key)")
    db.ok("postgres-api-g1", "insert into orders values (1), (2)")
    assert db.ok("postgres-backup-g1", "select count(*) from orders") == "2"
    db.refused("postgres-backup-g1", "insert into orders values (3)", "permission denied")
    db.refused("postgres-backup-g1", "create table evil (id int)", "permission denied")
    db.refused("postgres-metrics-g1", "select count(*) from orders", "permission denied")


def test_rotation_keeps_the_old_login_until_acknowledged_then_revokes_it(nodes: Callable[[Run, list[str]], Node]) -> None:
    before = run_program("staging")
    after = run_program("staging", {"postgres": {"rotations": {"api": 2}}})
    assert before.error is None and after.error is None, (before.error, after.error)
    db = Server(before, nodes(before, ["postgres"]), "postgres")
    postgres_entrypoint(db.node, db.pod, db.spec)
    start_roles(db.node, db.pod)  # with generation 1 acknowledged by the API's own ConfigMap (before's render)
    db.ok("postgres-api-g1", "create table orders (id int primary key, note text)")
    db.ok("postgres-api-g1", "insert into orders values (1, 'before')")

    # The rotation's `up`: the roles ConfigMap and the logins Secret change in place; the API is not rolled yet.
    db.sync(after, "roles", "logins")
    wait_until(lambda: db.client("postgres-api-g2", "select 1", after)[0] == 0,
               lambda: f'{db.client("postgres-api-g2", "select 1", after)} {db.node.log("roles")[-800:]}', 60)
    db.ok("postgres-api-g1", "insert into orders values (2, 'old login, not yet acknowledged')")
    db.ok("postgres-api-g2", "insert into orders values (3, 'new login')", after)
    time.sleep(12)  # more than two rounds of the roles container: the old login stays until the acknowledgement
    db.ok("postgres-api-g1", "select 1")

    # The API's Deployment rolled out; its acknowledgement (ordered after it) reaches the pod: g1 is revoked.
    ack = find(after, "ConfigMap", "postgres-api-ack")
    assert ack.inputs["data"] == {"generation": "2"} and any("Deployment" in d for d in ack.depends_on)
    db.sync(after, *[m["name"] for m in container(db.pod, "roles")["volumeMounts"] if m["mountPath"].endswith("/api")])
    wait_until(lambda: db.client("postgres-api-g1", "select 1")[0] != 0, lambda: db.node.log("roles")[-800:], 60)
    db.refused("postgres-api-g1", "select 1", "password authentication failed")
    # Objects belong to the group role: the new login owns and reads everything the old one made.
    assert db.ok("postgres-api-g2", "select string_agg(id::text, ',' order by id) from orders", after) == "1,2,3"
    assert db.ok("postgres-api-g2", "select tableowner from pg_tables where tablename = 'orders'", after) == "api"

    # A deleted acknowledgement never revives the old login: the acknowledged generation is recorded.
    acks = db.node.path("/run/postgres-acks/api")
    for path in acks.iterdir():
        path.unlink()
    time.sleep(12)
    db.refused("postgres-api-g1", "select 1", "password authentication failed")
    db.ok("postgres-api-g2", "select 1", after)


def today(node: Node, pod: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """The server's args as the single-user program rendered them: max_connections only (the image's pg_hba.conf)."""
    args = [str(a) for a in spec["args"]]
    return [a for i, a in enumerate(args) if not any(f in x for x in args[i:i + 2] for f in ("hba_file", "ident_file"))]


def test_an_existing_volume_gets_the_roles_with_every_row(nodes: Callable[[Run, list[str]], Node]) -> None:
    run = run_program("staging")
    assert run.error is None, run.error
    db = Server(run, nodes(run, ["postgres"]), "postgres")
    env = db.node.environment(db.spec)
    superuser, password = env["POSTGRES_USER"], superuser_password(run)
    # Today's program: the image's own pg_hba.conf, the API logged in as the superuser over TCP and made its schema.
    old_args = today(db.node, db.pod, db.spec)
    assert len(old_args) == 2 and old_args[0] == "-c" and old_args[1].startswith("max_connections=")
    server = postgres_entrypoint(db.node, db.pod, db.spec, args=old_args)
    schema = """
        create type status as enum ('new', 'done');
        create table orders (id serial primary key, note text not null, state status not null default 'new');
        create table items (id bigint generated always as identity primary key, order_id int references orders);
        create view open_orders as select * from orders where state = 'new';
        create function order_count() returns bigint language sql as 'select count(*) from orders';
        create schema reports;
        create table reports.daily (day date primary key);
        insert into orders (note) select md5(i::text) from generate_series(1, 500) as i;
        insert into items (order_id) select id from orders;
        insert into reports.daily values ('2026-01-01');
    """
    code, out = sql(db.node, db.pod, db.spec, schema, superuser, password)
    assert code == 0, out
    code, rows = sql(db.node, db.pod, db.spec, CHECKSUM, superuser, password)
    assert code == 0 and rows.startswith("500:"), rows
    db.node.stop(server)

    # The first `up` of this program: the same data directory, the new server args and the roles container,
    # before the API rolled (it has not acknowledged its own login yet).
    postgres_entrypoint(db.node, db.pod, db.spec)
    ack = db.node.path("/run/postgres-acks/api/generation")
    start_roles(db.node, db.pod, before_start=ack.unlink)
    api = "postgres-api-g1"
    # Until the API's rollout is acknowledged, its old pods still log in as the superuser over TCP.
    assert sql(db.node, db.pod, db.spec, "select 1", superuser, password) == (0, "1")
    assert db.ok(api, "select 1") == "1"
    ack.write_text("1")  # the acknowledgement, after the API's Deployment rolled to api_g1
    wait_until(lambda: sql(db.node, db.pod, db.spec, "select 1", superuser, password)[0] != 0,
               lambda: db.node.log("roles")[-800:], 30)
    assert db.ok(api, CHECKSUM) == rows  # not a row lost or changed
    owners = db.ok(api, "select string_agg(distinct relowner::regrole::text, ',') from pg_class c "
                        "join pg_namespace n on n.oid = c.relnamespace where nspname in ('public', 'reports')")
    assert owners == "api", owners
    db.ok(api, "insert into orders (note) values ('after the upgrade')")  # its sequence too
    db.ok(api, "insert into items (order_id) values (501)")
    db.ok(api, "insert into reports.daily values ('2026-01-02')")
    assert db.ok(api, "select order_count()") == "501"
    assert db.ok(api, "select count(*) from open_orders") == "501"
    db.ok(api, "alter table orders add column extra text")  # it owns the schema's objects: migrations keep working
    # The superuser over TCP, which today's API used: refused for good now, with its right password.
    code, out = sql(db.node, db.pod, db.spec, "select 1", superuser, password)
    assert code != 0 and "rejects connection" in out, out
    assert Path(env["PGDATA"], "PG_VERSION").exists()
