"""Postgres in mode cloudnativepg on the real engine, with the real operator's admission webhooks.

The local control plane simulates pods, and nothing here may connect to their addresses: a reconciling
CloudNativePG operator would dial every instance (``:8000/pg/status``). So the pinned operator's manager
(scripts/toolchain.sh builds it) runs out of cluster in webhook-only mode:

* its reconcilers watch one namespace that never holds a Cluster (``WATCH_NAMESPACE``, which is also its
  ``OPERATOR_NAMESPACE``), so it reconciles nothing of the stack's;
* its webhook server uses a throwaway certificate for 127.0.0.1 (``WEBHOOK_CERT_DIR``, the operator's own
  way of being given certificates), and the release manifest's webhook configurations are registered with
  ``https://127.0.0.1:<port>`` URLs instead of their Service, scoped by ``namespaceSelector`` to the test's
  namespaces (no leader election).

The API server then validates and defaults every Cluster, ScheduledBackup and Backup as on a real cluster.
Failover, archiving, backups and recovery cannot run here (README: what to verify on a real cluster).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cloudnativepg_stack import CLOUDNATIVEPG
from tools.engine import ROOT
from tools.realengine import TOOLCHAIN, Workspace
from tools.upstream import fetched

pytestmark = pytest.mark.integration

MANAGER = TOOLCHAIN / "bin" / "cnpg-manager"
STACK = "it-cnpg"  # production-shaped, mode cloudnativepg; also its namespace
SWITCH = "it-cnpg-switch"  # statefulset first, then a switch without a migration
IDLE = "it-cnpg-operator"  # the operator's namespace: the only one it watches, never holding a Cluster
WEBHOOK_PREFIX = "it-cnpg-"
PRODUCTION = {"platform:environment": "production", "platform:ingress": {"host": "api.cnpg.local.test"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peers(pid: int) -> set[str]:
    """The remote ends of the process's TCP connections right now (the API server's calls in included)."""
    out = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True, check=False).stdout
    return {line.split()[4] for line in out.splitlines() if f"pid={pid}," in line}


def _certificate(directory: Path) -> bytes:
    """A throwaway self-signed certificate for 127.0.0.1, under the names the operator reads there."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(directory / "apiserver.key"),
         "-out", str(directory / "apiserver.crt")],
        check=True, capture_output=True,
    )
    return (directory / "apiserver.crt").read_bytes()


def release_crds() -> list[dict[str, Any]]:
    release = yaml.safe_load_all((fetched("cnpg") / "cnpg-1.30.1.yaml").read_text())
    crds = [doc for doc in release if doc and doc["kind"] == "CustomResourceDefinition"]
    plugin = yaml.safe_load((fetched("crds") / "barmancloud.cnpg.io_objectstores.yaml").read_text())
    return [*crds, plugin]


def webhook_configurations(port: int, ca: bytes, namespaces: list[str]) -> list[dict[str, Any]]:
    """The release's webhook configurations, calling 127.0.0.1 instead of the operator's Service, only for
    objects in ``namespaces``."""
    release = yaml.safe_load_all((fetched("cnpg") / "cnpg-1.30.1.yaml").read_text())
    result = []
    for doc in release:
        if not doc or doc["kind"] not in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            continue
        doc = copy.deepcopy(doc)
        doc["metadata"] = {"name": WEBHOOK_PREFIX + doc["metadata"]["name"]}
        for hook in doc["webhooks"]:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": base64.b64encode(ca).decode()}
            hook["namespaceSelector"] = {
                "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}]
            }
        result.append(doc)
    assert {d["kind"] for d in result} == {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
    return result


@pytest.fixture(scope="module")
def operator(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not MANAGER.exists():
        pytest.skip(f"{MANAGER} missing: bash scripts/toolchain.sh --only cnpg-manager")
    ws = workspace
    # Every CRD of the release (the manager's reconcilers map all its kinds, Pooler included) and the plugin's.
    for crd in release_crds():
        ws.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=local-cluster", "-f", "-",
                   stdin=json.dumps(crd))
    ws.delete_namespaces(STACK, SWITCH, IDLE)
    ws.kubectl("create", "namespace", IDLE)
    certs = tmp_path_factory.mktemp("cnpg-webhook")
    ca = _certificate(certs)
    port = _free_port()
    log = certs / "operator.log"
    env = {**ws.env, "WATCH_NAMESPACE": IDLE, "OPERATOR_NAMESPACE": IDLE, "WEBHOOK_CERT_DIR": str(certs)}
    command = [str(MANAGER), "controller", f"--webhook-port={port}", "--metrics-bind-address=0", "--leader-elect=false"]
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    configurations = webhook_configurations(port, ca, [STACK, SWITCH])
    peers: set[str] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-4000:]
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(1)
        else:
            pytest.fail(f"the webhook server never listened on {port}:\n{log.read_text()[-4000:]}")
        for configuration in configurations:
            ws.kubectl("apply", "-f", "-", stdin=json.dumps(configuration))
        yield {"process": process, "log": log, "peers": peers}
    finally:
        peers |= _peers(process.pid)
        for configuration in configurations:
            ws.kubectl("delete", configuration["kind"], configuration["metadata"]["name"], "--ignore-not-found", check=False)
        process.terminate()
        process.wait(timeout=30)
        ws.delete_namespaces(IDLE)


@pytest.fixture(scope="module")
def deployed(workspace: Workspace, operator: dict[str, Any]) -> Iterator[Workspace]:
    ws = workspace
    config = {f"platform:{k}": v for k, v in CLOUDNATIVEPG.items()}
    ws.init_stack(STACK, {**PRODUCTION, **config})
    ws.pulumi("up", "--yes", "--skip-preview", stack=STACK, timeout=1500)
    operator["peers"] |= _peers(operator["process"].pid)
    yield ws
    ws.pulumi("state", "unprotect", "--all", "--yes", stack=STACK, check=False)
    ws.pulumi("destroy", "--yes", "--skip-preview", stack=STACK, check=False, timeout=900)
    ws.delete_namespaces(STACK)


def _postgres(ws: Workspace, stack: str) -> dict[str, Any]:
    data = yaml.safe_load((ws.dir / f"Pulumi.{stack}.yaml").read_text())
    return dict(data["config"]["platform:postgres"])


def test_the_cluster_is_validated_and_defaulted_by_the_operator(deployed: Workspace) -> None:
    cluster = deployed.kube_json("-n", STACK, "get", "clusters.postgresql.cnpg.io", "postgres")
    spec = cluster["spec"]
    assert spec["instances"] == 3 and spec["storage"]["size"] == "20Gi"
    # Fields only the operator's defaulting webhook sets: it ran on this object.
    assert spec.get("postgresUID") == 26 and spec.get("postgresGID") == 26, spec
    backup = deployed.kube_json("-n", STACK, "get", "scheduledbackups.postgresql.cnpg.io", "postgres-backup")
    assert backup["spec"]["schedule"] == "0 0 3 * * *"
    assert deployed.kube_json("-n", STACK, "get", "objectstores.barmancloud.cnpg.io", "postgres-archive")
    outputs = json.loads(deployed.pulumi("stack", "output", "--json", stack=STACK).stdout)
    assert outputs["postgresModes"] == {"postgres": ["cloudnativepg"]}


def test_a_second_preview_expects_no_changes(deployed: Workspace) -> None:
    deployed.pulumi("preview", "--expect-no-changes", stack=STACK, timeout=900)


def test_the_policy_pack_passes_the_stack(workspace: Workspace, operator: dict[str, Any]) -> None:
    # A stack not yet deployed, as the existing pack test does: on a deployed production stack the pack's
    # hpa-owns-replicas reads the API Deployment's live spec.replicas (set by the HPA), whatever the mode.
    pack, stack = ROOT / "policy", "it-cnpg-policy"
    if not (pack / "venv" / "bin" / "python").exists():
        pytest.fail("the policy pack's virtualenv is missing: make policy-venv")
    workspace.init_stack(stack, {**PRODUCTION, **{f"platform:{k}": v for k, v in CLOUDNATIVEPG.items()}})
    try:
        clean = workspace.pulumi("preview", "--policy-pack", str(pack), stack=stack, check=False, timeout=900)
    finally:
        workspace.pulumi("stack", "rm", "--yes", "--force", stack=stack, check=False)
    assert clean.returncode == 0, clean.stdout[-4000:] + clean.stderr[-4000:]
    assert "platform-invariants" in clean.stdout and "Cluster" not in clean.stdout.split("Policies:")[-1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cloudnativepg": {"parameters": {"listen_addresses": "*"}}}, "Can't set fixed configuration parameter"),
        ({"persistence": {"size": "10Gi"}}, "can't shrink existing storage from 20Gi to 10Gi"),
    ],
)
def test_the_operator_refuses_a_bad_change_at_preview(deployed: Workspace, change: dict[str, Any], message: str) -> None:
    before = (deployed.dir / f"Pulumi.{STACK}.yaml").read_text()
    postgres = _postgres(deployed, STACK)
    for key, value in change.items():
        postgres[key] = {**postgres.get(key, {}), **value}
    deployed.set_config(STACK, "platform:postgres", postgres)
    try:
        refused = deployed.pulumi("preview", "--diff", stack=STACK, check=False, timeout=900)
    finally:
        (deployed.dir / f"Pulumi.{STACK}.yaml").write_text(before)
    assert refused.returncode != 0
    text = refused.stdout + refused.stderr
    assert message in text, text[-4000:]


def test_switching_back_to_statefulset_is_refused_by_the_program(deployed: Workspace) -> None:
    before = (deployed.dir / f"Pulumi.{STACK}.yaml").read_text()
    deployed.set_config(STACK, "platform:postgres", {"mode": "statefulset"})
    try:
        refused = deployed.pulumi("preview", stack=STACK, check=False, timeout=900)
    finally:
        (deployed.dir / f"Pulumi.{STACK}.yaml").write_text(before)
    assert refused.returncode != 0
    assert "switching Postgres 'postgres' back to statefulset" in refused.stdout + refused.stderr


def test_an_existing_statefulset_database_is_not_switched_by_surprise(workspace: Workspace, operator: dict[str, Any]) -> None:
    ws = workspace
    ws.init_stack(SWITCH, {"platform:environment": "dev"})
    try:
        ws.pulumi("up", "--yes", "--skip-preview", stack=SWITCH, timeout=1500)
        ws.set_config(SWITCH, "platform:postgres", CLOUDNATIVEPG["postgres"])
        refused = ws.pulumi("up", "--yes", "--skip-preview", stack=SWITCH, check=False, timeout=900)
        text = refused.stdout + refused.stderr
        assert refused.returncode != 0
        assert "platform:postgres.mode: switching Postgres 'postgres' from statefulset to cloudnativepg" in text, text[-4000:]
        assert "postgres.cloudnativepg.migration" in text
        statefulsets = ws.kube_json("-n", SWITCH, "get", "statefulsets")["items"]
        assert "postgres" in {s["metadata"]["name"] for s in statefulsets}, "the old database was touched"
        # Declared, the same switch goes ahead and the import runs beside the untouched StatefulSet.
        ws.set_config(SWITCH, "platform:postgres", {**CLOUDNATIVEPG["postgres"], "cloudnativepg": {
            **CLOUDNATIVEPG["postgres"]["cloudnativepg"], "migration": {}}})
        ws.pulumi("up", "--yes", "--skip-preview", stack=SWITCH, timeout=1500)
        cluster = ws.kube_json("-n", SWITCH, "get", "clusters.postgresql.cnpg.io", "postgres")
        assert cluster["spec"]["bootstrap"]["initdb"]["import"]["source"] == {"externalCluster": "statefulset"}
        assert "postgres" in {s["metadata"]["name"] for s in ws.kube_json("-n", SWITCH, "get", "statefulsets")["items"]}
    finally:
        ws.pulumi("destroy", "--yes", "--skip-preview", stack=SWITCH, check=False, timeout=900)
        ws.delete_namespaces(SWITCH)


def test_destroy_refuses_then_retains_the_cluster(workspace: Workspace, deployed: Workspace, operator: dict[str, Any]) -> None:
    # Production data: destroy stops on the protected Cluster; unprotected, it leaves the stack but stays in the
    # cluster (retainOnDelete, like the statefulset's volumes), with the stack's other objects deleted.
    refused = deployed.pulumi("destroy", "--yes", "--skip-preview", stack=STACK, check=False, timeout=900)
    assert refused.returncode != 0 and "protect" in refused.stdout + refused.stderr
    deployed.pulumi("state", "unprotect", "--all", "--yes", stack=STACK)
    deployed.pulumi("destroy", "--yes", "--skip-preview", stack=STACK, timeout=900)
    state = json.loads(deployed.pulumi("stack", "export", stack=STACK).stdout)
    assert not [r for r in state["deployment"].get("resources") or [] if r["type"] != "pulumi:pulumi:Stack"]
    assert deployed.kubectl("-n", STACK, "get", "clusters.postgresql.cnpg.io", "postgres", check=False).returncode == 0
    assert deployed.kubectl("-n", STACK, "get", "deployment", "api", check=False).returncode != 0


def test_the_operator_reconciled_nothing_and_talked_to_127_0_0_1_only(workspace: Workspace, operator: dict[str, Any]) -> None:
    operator["peers"] |= _peers(operator["process"].pid)
    assert operator["peers"], "no connection seen"
    # Its own calls to the API server, and the API server's webhook calls in (IPv4 as IPv6-mapped on a dual listener).
    hosts = {peer.rsplit(":", 1)[0].removeprefix("[::ffff:").rstrip("]") for peer in operator["peers"]}
    assert hosts <= {"127.0.0.1"}, operator["peers"]
    text = operator["log"].read_text()
    dials = {d for d in re.findall(r"dial tcp ([\d.]+):", text) if d != "127.0.0.1"}
    assert not dials, dials
    # Every log line about the stack's namespaces is a webhook's (loggers "<kind>-resource"): nothing reconciled.
    namespaces = (f'"namespace":"{STACK}"', f'"namespace":"{SWITCH}"')
    about = [json.loads(line) for line in text.splitlines() if line.startswith("{") and any(n in line for n in namespaces)]
    assert about, "the webhooks never saw the stack's objects"
    assert {entry.get("logger", "") for entry in about} <= {"cluster-resource", "scheduledbackup-resource", "backup-resource"}
