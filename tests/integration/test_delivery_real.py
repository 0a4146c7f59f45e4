"""tools/delivery.py, the workflows' logic, against the real engine and the local cluster: a review
stack created on first use on a self-managed (file://) backend with a passphrase, drift made with
kubectl reported by the same command the drift workflow and `make drift` run, and destroy of a
stack, then of the same stack again once it is gone.

Run in order: each test builds on the stack the previous one left.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tools.engine import ROOT
from tools.realengine import Workspace

pytestmark = pytest.mark.integration
STACK = "pr-4343"  # no stack file in the repository: the ephemeral profile, namespace = stack


@pytest.fixture(scope="module", autouse=True)
def own_namespace(workspace: Workspace) -> Iterator[None]:
    """Left over from an aborted run, the review stack's namespace would clash: removed first and last."""
    workspace.delete_namespaces(STACK)
    yield
    workspace.delete_namespaces(STACK)


def delivery(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    # As in the workflow's step: the backend from the environment, not a login; no GitHub here.
    env = {k: v for k, v in ws.env.items() if not k.startswith("GITHUB_")}
    env.update(PYTHONPATH=str(ROOT), PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER="true")
    return subprocess.run(
        [sys.executable, "-m", "tools.delivery", *args],
        cwd=ws.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )


def names(ws: Workspace, kind: str) -> set[str]:
    return {i["metadata"]["name"] for i in ws.kube_json("get", kind, "-n", STACK)["items"]}


def test_a_review_stack_is_created_on_first_use(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert workspace.env["PULUMI_BACKEND_URL"].startswith("file://")  # self-managed, passphrase
    log = tmp_path_factory.mktemp("delivery") / "up.log"
    # The policy pack is not in the project copy; CI runs it (`--policy-pack policy`, the default).
    args = ["run", "--command", "up", "--stack", STACK, "--upsert", "true", "--log", str(log), "--policy-pack", ""]
    up = delivery(workspace, *args)
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-2000:]
    assert "created stack pr-4343" in up.stdout
    assert names(workspace, "statefulsets") and names(workspace, "networkpolicies")
    # A CI checkout is fresh: the stack file `stack init` wrote (with its salt) is gone next time.
    (workspace.dir / f"Pulumi.{STACK}.yaml").unlink()


def test_no_drift_right_after_a_deployment(workspace: Workspace) -> None:
    check = delivery(workspace, "drift", "--stack", STACK)
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-2000:]
    assert f"### Stack `{STACK}`: no drift" in check.stdout


def test_drift_made_with_kubectl_is_reported(workspace: Workspace) -> None:
    victim = sorted(names(workspace, "networkpolicies"))[0]
    workspace.kubectl("delete", "networkpolicy", victim, "-n", STACK)
    edited = sorted(names(workspace, "services"))[0]
    workspace.kubectl("label", "service", edited, "-n", STACK, "app.kubernetes.io/part-of=edited-by-hand", "--overwrite")
    check = delivery(workspace, "drift", "--stack", STACK)
    assert check.returncode == 2, check.stdout[-4000:] + check.stderr[-2000:]
    assert f"### Drift in stack `{STACK}`: 2 resource(s)" in check.stdout, check.stdout
    # Rows name Pulumi resources (not Kubernetes names) and what `up` would do to each.
    rows = sorted(line for line in check.stdout.splitlines() if line.startswith("| `kubernetes:"))
    assert len(rows) == 2, rows
    # A field edited by another field manager also fails the server-side dry run: named as such.
    assert "core/v1:Service" in rows[0] and "| update; conflict: changed by kubectl-label |" in rows[0], rows
    assert "app.kubernetes.io/part-of" in rows[0], rows
    assert "networking.k8s.io/v1:NetworkPolicy" in rows[1] and "| create |" in rows[1], rows


def test_an_up_with_refresh_repairs_the_drift(workspace: Workspace) -> None:
    """What the drift workflow's remediation runs (there for dev and staging only)."""
    workspace.pulumi("up", "--refresh", "--yes", "--skip-preview", stack=STACK)
    check = delivery(workspace, "drift", "--stack", STACK)
    assert check.returncode == 0, check.stdout[-4000:]


def test_destroy_then_destroy_again_succeeds(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> None:
    log = tmp_path_factory.mktemp("delivery") / "destroy.log"
    args = ["run", "--command", "destroy", "--stack", STACK, "--log", str(log)]
    first = delivery(workspace, *args)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    ls = ["pulumi", "stack", "ls", "--json"]
    listed = subprocess.run(ls, cwd=workspace.dir, env=workspace.env, capture_output=True, text=True, check=True)
    stacks = json.loads(listed.stdout or "[]")
    assert STACK not in {s["name"] for s in stacks}
    again = delivery(workspace, *args)
    assert again.returncode == 0, again.stdout[-2000:]
    assert f"stack {STACK} does not exist (already removed, or never created): nothing to destroy." in again.stdout
