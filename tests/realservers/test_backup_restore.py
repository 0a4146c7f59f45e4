"""The backup Job (dump + upload) as rendered, rotation, failures, and the README's restore drill.

Postgres holds known rows; the CronJob's own script and upload step run with their rendered env
and mounts against a local S3 server (moto); then the README's restore blocks run, as written,
into a recreated database from the PVC, and onto a fresh server from the bucket; rows and checksum must match.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness import ROOT, Run, run_program
from tests.realservers.pods import VENV_BIN, Node, container, find, postgres_entrypoint, start_roles, wait_until

S3_HOST, S3_PORT = "s3.backups.test", 9000
KEEP = 2
OVERRIDES = {
    "postgres": {
        "backup": {
            "keep": KEEP,
            "objectStore": {
                "endpoint": S3_HOST, "port": S3_PORT, "tls": False, "bucket": "platform-backups",
                "prefix": "staging/db/", "existingSecret": "backup-s3",
            },
        }
    }
}
# The existing Secret the objectStore refers to (made by the operator, not the program): moto takes any key.
EXISTING_SECRET = {"AWS_ACCESS_KEY_ID": "drill", "AWS_SECRET_ACCESS_KEY": "drill"}
# The operators' own credential (README: restores read with a key that is not in the cluster).
OPERATOR = {"AWS_ACCESS_KEY_ID": "operator", "AWS_SECRET_ACCESS_KEY": "operator"}
CHECKSUM = "select count(*) || ':' || md5(string_agg(id || '=' || note, ',' order by id)) from drill"
OWNER_BINDING = "postgres-api-g1"  # the first client's binding Secret: the README's restore pod mounts it


def readme_block(marker: str) -> str:
    """A fenced shell block of the README's restore section, found by its marker comment."""
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- restore-drill: {marker} -->\n```sh\n(.*?)```", text, re.DOTALL)
    assert found, f"README.md has no block marked restore-drill: {marker}"
    return found.group(1)


class Drill:
    server: subprocess.Popen[bytes]

    def __init__(self, run: Run, node: Node):
        self.run, self.node = run, node
        self.db_pod = find(run, "StatefulSet", "postgres").spec["template"]["spec"]
        self.db = container(self.db_pod, "postgres")
        self.job_pod = find(run, "CronJob", "postgres-backup").spec["jobTemplate"]["spec"]["template"]["spec"]
        self.dump = container(self.job_pod, "pg-dump")
        self.upload = container(self.job_pod, "upload")
        node.external_secrets["backup-s3"] = EXISTING_SECRET  # created by the cluster's owners, mounted as files
        # The README's pg-restore pod: the backup job's address, the owner's binding Secret at /run/secrets/postgres.
        self.job_pod = {**self.job_pod, "volumes": [
            *self.job_pod["volumes"], {"name": "owner-binding", "secret": {"secretName": OWNER_BINDING, "defaultMode": 0o440}}
        ]}
        address = [e for e in self.dump["env"] if e["name"] in ("PGHOST", "PGPORT", "PGDATABASE")]
        self.restore = {
            "name": "pg-restore", "env": [*address, {"name": "BINDING", "value": "/run/secrets/postgres"}],
            "volumeMounts": [{"name": "owner-binding", "mountPath": "/run/secrets/postgres", "readOnly": True},
                             *[m for m in self.dump["volumeMounts"] if m["name"] != "backup-credentials"]],
        }
        for spec in (self.db, self.dump, self.upload, self.restore):
            node.mount(self.db_pod if spec is self.db else self.job_pod, spec)

    def env(self, spec: dict) -> dict[str, str]:
        """The container's rendered env (no secretKeyRefs: credentials are files)."""
        assert not [i for i in spec.get("env", []) if "valueFrom" in i]
        return self.node.environment(spec)

    def sh(self, spec: dict, script: str, extra: dict[str, str] | None = None) -> tuple[int, str]:
        result = self.node.exec(self.job_pod, ["/bin/sh", "-c", self.node.rewrite(script)], self.env(spec) | (extra or {}))
        return result.returncode, result.stdout + result.stderr

    def job(self) -> tuple[int, str]:
        """One Job run: the dump (init container), then the upload only if the dump succeeded."""
        code, out = self.sh(self.dump, self.dump["command"][-1])
        if code != 0:
            return code, out
        upload_code, upload_out = self.sh(self.upload, self.upload["command"][-1])
        return upload_code, out + upload_out

    def psql(self, query: str) -> str:
        """As the database's owner (the first client's login), the way the README's restore pod connects."""
        env = self.env(self.restore)
        binding = Path(env["BINDING"])
        login = {"PGUSER": (binding / "username").read_text(), "PGPASSWORD": (binding / "password").read_text()}
        argv = ["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", query]
        result = self.node.exec(self.job_pod, argv, env | login)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def bucket(self) -> list[str]:
        env = self.env(self.upload)
        code, out = self.sh(self.upload, 'aws s3 ls "s3://$BUCKET/$PREFIX" || true', OPERATOR)
        assert code == 0, out
        return sorted(line.split()[-1] for line in out.splitlines() if line.endswith(".dump")) if env else []

    def volume(self) -> list[str]:
        return sorted(p.name for p in self.node.path("/backups").iterdir())


@pytest.fixture
def drill(nodes: Callable[[Run, list[str]], Node]) -> Drill:
    run = run_program("staging", OVERRIDES)
    assert run.error is None, run.error
    node = nodes(run, ["postgres", S3_HOST])
    drill = Drill(run, node)
    drill.server = postgres_entrypoint(node, drill.db_pod, drill.db)
    start_roles(node, drill.db_pod)
    moto = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(S3_PORT)]
    # Tell moto the endpoint's host name is an endpoint (else it reads the first label as a bucket).
    moto_env = {"PATH": "/usr/bin:/bin", "HOME": str(node.path("/tmp")), "MOTO_S3_CUSTOM_ENDPOINTS": f"http://{S3_HOST}:{S3_PORT}"}
    node.start(drill.job_pod, moto, moto_env, "moto")
    wait_until(lambda: drill.sh(drill.upload, 'aws s3 mb "s3://$BUCKET"', OPERATOR)[0] == 0, f"moto ({node.log('moto')[-300:]})")
    drill.psql("create table drill (id int primary key, note text not null)")
    drill.psql("insert into drill select i, md5(i::text) from generate_series(1, 5000) as i")
    return drill


def test_backup_job_uploads_rotates_and_the_readme_restores(drill: Drill) -> None:
    known = drill.psql(CHECKSUM)
    assert known.startswith("5000:")

    for _ in range(KEEP + 2):
        code, out = drill.job()
        assert code == 0, out
        time.sleep(1.1)  # dump names have one-second resolution
    dumps = drill.volume()
    assert len(dumps) == KEEP and all(d.endswith(".dump") for d in dumps), dumps
    # The upload never deletes (its key needs s3:PutObject only): the bucket's lifecycle rule expires dumps.
    uploaded = drill.bucket()
    assert len(uploaded) == KEEP + 2 and uploaded[-KEEP:] == dumps, uploaded

    # A failing pg_dump (the server is unreachable) fails the Job and leaves nothing that counts.
    code, out = drill.sh(drill.dump, drill.dump["command"][-1], {"PGPORT": "1"})
    assert code != 0, out
    assert [d for d in drill.volume() if d.endswith(".dump")] == dumps

    # A failing upload (the store refuses the credentials' endpoint) fails the Job.
    code, out = drill.sh(drill.upload, drill.upload["command"][-1], {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
    assert code != 0, out
    # A missing Secret (its optional volume is empty) fails it at once, naming the key.
    code, out = drill.sh(drill.upload, drill.upload["command"][-1], {"AWS_SECRET_ACCESS_KEY_FILE": "/nonexistent/key"})
    assert code != 0 and "postgres.backup.objectStore.existingSecret: the Secret is missing" in out, out

    # The backup's login reads but never writes.
    code, out = drill.sh(drill.dump, 'PGPASSWORD="$(cat "$PASSWORD_FILE")" psql -XAtc "delete from drill"')
    assert code != 0 and "permission denied" in out, out
    # Restore from the PVC into an emptied database, as its owner.
    drill.psql("drop table drill")
    code, out = drill.sh(drill.restore, readme_block("restore"))
    assert code == 0, out
    assert drill.psql(CHECKSUM) == known

    # Restore from the bucket onto a fresh server: the cluster is lost, its data and backup volume too.
    drill.node.stop(drill.server)
    shutil.rmtree(drill.env(drill.db)["PGDATA"])
    for path in drill.node.path("/backups").iterdir():
        path.unlink()
    drill.server = postgres_entrypoint(drill.node, drill.db_pod, drill.db)
    # The roles container sees the new server and creates the roles again (its owner login first of all).
    wait_until(lambda: owner_can_log_in(drill), lambda: drill.node.log("roles")[-800:], 60)
    assert drill.psql("select count(*) from pg_tables where tablename = 'drill'") == "0"
    code, out = drill.sh(drill.upload, readme_block("bucket"), OPERATOR)
    assert code == 0, out
    assert drill.volume() == [dumps[-1]]
    code, out = drill.sh(drill.restore, readme_block("restore"))
    assert code == 0, out
    assert drill.psql(CHECKSUM) == known


def owner_can_log_in(drill: Drill) -> bool:
    try:
        return drill.psql("select 1") == "1"
    except AssertionError:
        return False
