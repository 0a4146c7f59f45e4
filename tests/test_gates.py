"""Every rendered object of every stack passes real external checkers, and each checker can fail.

The checkers live in their own venv (requirements-gates.txt) and run as subprocesses of
``<gates bin>/python -m tools.gates``: ``PLATFORM_GATES_BIN`` names its bin directory
(default ``<repo>/.venv-gates/bin``). Skipped only when that variable is unset and the
default venv does not exist.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.cloudnativepg_stack import CLOUDNATIVEPG
from tests.harness import ROOT, Run, run_program
from tools.render import dump, write_stack

GATES_BIN = Path(os.environ.get("PLATFORM_GATES_BIN") or ROOT / ".venv-gates" / "bin")
pytestmark = pytest.mark.skipif(
    "PLATFORM_GATES_BIN" not in os.environ and not GATES_BIN.exists(),
    reason="gate tools not installed: python3 -m venv .venv-gates && .venv-gates/bin/pip install -r requirements-gates.txt",
)


def gates(directory: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GATES_BIN / "python"), "-m", "tools.gates", str(directory), *options], cwd=ROOT, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def rendered(runs: dict[str, Run], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rendered")
    for stack, run in runs.items():
        write_stack(run.kubernetes(), out / stack)
    # Gateway mode too, for an app without a metrics port: the HTTPRoute with its deny rule.
    gateway = {"kind": "gateway", "host": "api.example.com", "tls": {"enabled": True},
               "gateway": {"name": "public", "namespace": "gateways", "sectionName": "https"}}
    run = run_program("production", {"ingress": gateway, "api": {"metricsPort": None}})
    assert run.error is None, run.error
    write_stack(run.kubernetes(), out / "production-gateway")
    # Postgres in mode cloudnativepg: the Cluster, ObjectStore, ScheduledBackup and PodMonitor against their CRDs.
    run = run_program("production", CLOUDNATIVEPG)
    assert run.error is None, run.error
    assert {"Cluster", "ObjectStore", "ScheduledBackup", "PodMonitor"} <= {r.kind for r in run.kubernetes()}
    write_stack(run.kubernetes(), out / "production-cloudnativepg")
    return out


def test_every_stack_validates_against_kubernetes_and_crd_schemas(rendered: Path):
    result = gates(rendered, "--no-checkov")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kubernetes-validate --strict 1.31.0" in result.stdout and "kubernetes-validate --strict 1.37.0" in result.stdout


def test_every_stack_passes_checkov(rendered: Path):
    result = gates(rendered, "--no-schemas")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   checkov" in result.stdout


def deployment(**spec: object) -> dict:
    pod = {"containers": [{"name": "app", "image": "app:1.0.0"}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "t"},
        "spec": {
            "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": pod},
            **spec,
        },
    }


def service_monitor(**endpoint: object) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "app", "namespace": "t"},
        "spec": {"selector": {"matchLabels": {"app": "a"}}, "endpoints": [{"port": "http", "interval": "30s", **endpoint}]},
    }


def one(tmp_path: Path, obj: dict) -> Path:
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "object.yaml").write_text(dump(obj))
    return tmp_path


@pytest.mark.parametrize(
    ("obj", "error"),
    [
        (deployment(replicas="three"), "spec.replicas: 'three' is not of type 'integer'"),
        (deployment(replicaz=2), "replicaz"),
        (service_monitor(portt="http"), "'portt' was unexpected"),
        (service_monitor(interval=30), "30 is not of type 'string'"),
        ({**service_monitor(), "kind": "Alertmanager"}, "no CRD in crds/ serves monitoring.coreos.com/v1 Alertmanager"),
    ],
    ids=["string-replicas", "unknown-field", "servicemonitor-unknown-field", "servicemonitor-wrong-type", "cr-without-crd"],
)
def test_the_schema_gates_reject_a_broken_manifest(tmp_path: Path, obj: dict, error: str):
    result = gates(one(tmp_path, obj), "--no-checkov")
    assert result.returncode == 1 and error in result.stdout, result.stdout + result.stderr


def test_the_crd_gate_accepts_a_valid_service_monitor(tmp_path: Path):
    result = gates(one(tmp_path, service_monitor(path="/metrics")), "--no-checkov")
    assert result.returncode == 0 and "CRD schemas (1 objects): 0 failed" in result.stdout, result.stdout


def test_checkov_rejects_a_privileged_pod(tmp_path: Path):
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    result = gates(one(tmp_path, obj), "--no-schemas")
    assert result.returncode == 1 and "CKV_K8S_16 Deployment.t.app" in result.stdout, result.stdout + result.stderr


def test_the_crd_gate_without_fetched_crds_fails_and_says_how_to_fetch(tmp_path: Path):
    (tmp_path / "m").mkdir()
    manifests = one(tmp_path / "m", service_monitor(path="/metrics"))
    env = {**os.environ, "PLATFORM_UPSTREAM_DIR": str(tmp_path / "empty-cache")}
    result = subprocess.run(
        [str(GATES_BIN / "python"), "-m", "tools.gates", str(manifests), "--no-checkov"],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert result.returncode == 2 and "make upstream" in result.stdout, result.stdout + result.stderr


def test_checkov_that_cannot_start_is_a_failure_not_a_pass(tmp_path: Path):
    """A config key Checkov rejects stops it before any check: the gate must say so."""
    config = tmp_path / "checkov.yaml"
    config.write_text((ROOT / ".checkov.yaml").read_text() + "\nnot-a-checkov-option: true\n")
    (tmp_path / "m").mkdir()
    manifests = one(tmp_path / "m", deployment())
    code = f"from pathlib import Path; from tools.gates import checkov; print(checkov(Path('{manifests}'), Path('{config}')))"
    result = subprocess.run([str(GATES_BIN / "python"), "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert "without a report" in result.stdout, result.stdout + result.stderr
