"""examples/two-services for real: the installed library, `up` on the local cluster, every
workload ready, a second `up` that changes nothing, then `destroy` leaving nothing behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tools.engine import ROOT
from tools.library import install
from tools.realengine import Workspace

pytestmark = pytest.mark.integration
EXAMPLE = ROOT / "examples" / "two-services"
NAMESPACE = "it-two-services"
STACK = "dev"
WORKLOADS = {"deployments": {"api", "worker"}, "statefulsets": {"db", "api-cache", "worker-cache"}}


def _namespaces(ws: Workspace) -> set[str]:
    return {item["metadata"]["name"] for item in ws.kube_json("get", "namespaces")["items"]}


def test_two_services_up_ready_idempotent_destroyed(workspace: Workspace, tmp_path: Path) -> None:
    # The example imports the wheel from a site-packages-like directory, not the repository.
    library = install(tmp_path / "library")
    env = {**workspace.env, "PYTHONPATH": str(library)}
    ws = Workspace.create(tmp_path / "example", env, root=EXAMPLE, files=["Pulumi.yaml", "__main__.py", "requirements.txt"])
    ws.pulumi("stack", "init", "--secrets-provider", "passphrase", stack=STACK)
    ws.pulumi("config", "set", "namespace", NAMESPACE, stack=STACK)
    try:
        ws.pulumi("up", "--yes", "--skip-preview", stack=STACK, timeout=1200)
        ws.assert_ready(NAMESPACE, WORKLOADS)
        ws.pulumi("up", "--yes", "--expect-no-changes", stack=STACK, timeout=900)
    finally:
        destroyed = ws.pulumi("destroy", "--yes", "--remove", "--skip-preview", stack=STACK, timeout=1200, check=False)
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    deadline = time.monotonic() + 120
    while NAMESPACE in _namespaces(ws) and time.monotonic() < deadline:
        time.sleep(2)
    assert NAMESPACE not in _namespaces(ws), "namespace still there"
    claims = ws.kube_json("get", "persistentvolumeclaims", "-A")["items"]
    assert [c["metadata"]["name"] for c in claims if c["metadata"]["namespace"] == NAMESPACE] == []
    # `destroy --remove` also removed the stack from the (file) backend.
    assert list((tmp_path / "example" / "state").rglob(f"{STACK}.json")) == []
