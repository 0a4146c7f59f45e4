"""tools/delivery.py, the workflows' logic, against the real engine and the local cluster: a preview
of a missing stack that creates nothing, a review stack created by its first `up` on a
self-managed (file://) backend with a passphrase and tagged with the deployed commit, drift made
with kubectl reported with its fields by the same command the drift workflow and `make drift`
run (and its JSON compared with the offline fixture of tests/test_delivery.py), its repair by the
remediation, the README's preview identity (a dry run passes, a write is refused, a preview
with `--refresh` works), and destroy of a stack, then of the same stack again once it is gone.

Run in order: each test builds on the stack the previous one left. PLATFORM_WRITE_FIXTURES=1
rewrites the offline drift fixture from this run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.engine import ROOT
from tools.realengine import Workspace

pytestmark = pytest.mark.integration
STACK = "pr-4343"  # no stack file in the repository: the ephemeral profile, namespace = stack
COMMIT = "c0ffee" + "0" * 34  # what GitHub would give as GITHUB_SHA; the copied project has no git
FIXTURE = ROOT / "tests" / "fixtures" / "delivery" / "preview-refresh-drift.json"


@pytest.fixture(scope="module", autouse=True)
def own_namespace(workspace: Workspace) -> Iterator[None]:
    """Left over from an aborted run, the review stack's namespace would clash: removed first and last."""
    workspace.delete_namespaces(STACK)
    yield
    workspace.delete_namespaces(STACK)


def delivery(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # As in the workflow's step: the backend from the environment, not a login; no GitHub here.
    base = {k: v for k, v in ws.env.items() if not k.startswith("GITHUB_")}
    base.update(PYTHONPATH=str(ROOT), PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER="true", GITHUB_SHA=COMMIT, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "tools.delivery", *args],
        cwd=ws.dir,
        env=base,
        capture_output=True,
        text=True,
        timeout=1500,
    )


def names(ws: Workspace, kind: str) -> set[str]:
    return {i["metadata"]["name"] for i in ws.kube_json("get", kind, "-n", STACK)["items"]}


def stack_names(ws: Workspace) -> set[str]:
    ls = ["pulumi", "stack", "ls", "--json"]
    listed = subprocess.run(ls, cwd=ws.dir, env=ws.env, capture_output=True, text=True, check=True)
    return {s["name"] for s in json.loads(listed.stdout or "[]")}


def test_a_preview_of_a_missing_stack_creates_nothing(workspace: Workspace, tmp_path: Path) -> None:
    log = tmp_path / "preview.log"
    preview = delivery(workspace, "run", "--command", "preview", "--stack", STACK, "--log", str(log), "--policy-pack", "")
    assert preview.returncode == 0, preview.stdout[-3000:] + preview.stderr[-2000:]
    assert f"stack {STACK} does not exist yet: nothing to preview" in preview.stdout
    assert STACK not in stack_names(workspace)


def test_a_review_stack_is_created_on_first_up_and_records_its_commit(workspace: Workspace, tmp_path: Path) -> None:
    assert workspace.env["PULUMI_BACKEND_URL"].startswith("file://")  # self-managed, passphrase
    log = tmp_path / "up.log"
    # The policy pack is not in the project copy; CI runs it (`--policy-pack policy`, the default).
    args = ["run", "--command", "up", "--stack", STACK, "--upsert", "true", "--log", str(log), "--policy-pack", ""]
    up = delivery(workspace, *args)
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-2000:]
    assert "created stack pr-4343" in up.stdout
    assert names(workspace, "statefulsets") and names(workspace, "networkpolicies")
    tag = workspace.pulumi("stack", "tag", "get", "deployed-commit", stack=STACK)
    assert tag.stdout.strip() == COMMIT
    # A CI checkout is fresh: the stack file `stack init` wrote (with its salt) is gone next time.
    (workspace.dir / f"Pulumi.{STACK}.yaml").unlink()


def test_no_drift_right_after_a_deployment(workspace: Workspace) -> None:
    check = delivery(workspace, "drift", "--stack", STACK)
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-2000:]
    assert f"### Stack `{STACK}`: no drift from the deployment of `{COMMIT}`" in check.stdout


def shape(preview: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """What the offline tests rely on: each step's op, resource type and detailedDiff paths."""
    steps = [s for s in preview.get("steps", []) if s["op"] not in ("refresh", "same")]
    return sorted((s["op"], s["urn"].split("::")[-2].split("$")[-1], tuple(sorted(s.get("detailedDiff") or {}))) for s in steps)


def test_drift_made_with_kubectl_is_reported_with_its_fields(workspace: Workspace) -> None:
    victim = sorted(names(workspace, "networkpolicies"))[0]
    workspace.kubectl("delete", "networkpolicy", victim, "-n", STACK)
    relabelled = sorted(names(workspace, "services"))[-1]
    workspace.kubectl("label", "service", relabelled, "-n", STACK, "app.kubernetes.io/part-of=edited-by-hand", "--overwrite")
    raw = workspace.pulumi("preview", "--refresh", "--json", stack=STACK, check=False)
    real = json.loads(raw.stdout)
    if os.environ.get("PLATFORM_WRITE_FIXTURES") == "1":
        # Trimmed: the states of unchanged resources go (the drift logic never reads them).
        quiet = [{k: v for k, v in s.items() if k not in ("oldState", "newState")} for s in real["steps"]]
        steps = [q if q["op"] in ("refresh", "same") else s for q, s in zip(quiet, real["steps"], strict=True)]
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(json.dumps({**real, "steps": steps}, indent=1, sort_keys=True) + "\n")
    # The offline fixture is this output, not an invented shape.
    assert shape(real) == shape(json.loads(FIXTURE.read_text())), "rewrite it: PLATFORM_WRITE_FIXTURES=1"
    check = delivery(workspace, "drift", "--stack", STACK)
    assert check.returncode == 2, check.stdout[-4000:] + check.stderr[-2000:]
    assert f"### Drift in stack `{STACK}`: 2 resource(s)" in check.stdout, check.stdout
    rows = sorted(line for line in check.stdout.splitlines() if line.startswith("| `kubernetes:"))
    assert len(rows) == 2, rows
    # Rows name Pulumi resources and what `up` would do, with the fields of the CLI's detailedDiff;
    # a field edited by another field manager also fails the server-side dry run: named as such.
    assert "NetworkPolicy" in rows[1] and "| create |" in rows[1], rows
    field = 'metadata.labels["app.kubernetes.io/part-of"] (update)'
    assert "core/v1:Service" in rows[0] and f"| update; conflict: changed by kubectl-label | {field}, " in rows[0], rows


def test_the_remediation_reapplies_the_deployed_commit(workspace: Workspace) -> None:
    """What the drift workflow's remediation runs (there for dev and staging only, from main)."""
    refused = delivery(workspace, "drift", "--stack", STACK, "--remediate", "true", "--policy-pack", "")
    assert refused.returncode == 1 and "only for dev, staging, never for 'pr-4343'" in refused.stdout
    # The same code path for this throwaway stack: only the list of remediable stacks differs.
    code = f"import tools.delivery as d; d.REMEDIABLE = ({STACK!r},); raise SystemExit(d.main())"
    args = ["drift", "--stack", STACK, "--remediate", "true", "--policy-pack", ""]
    env = {k: v for k, v in workspace.env.items() if not k.startswith("GITHUB_")}
    env.update(PYTHONPATH=str(ROOT), PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER="true", GITHUB_SHA=COMMIT)
    command = [sys.executable, "-c", code, *args]
    repair = subprocess.run(command, cwd=workspace.dir, env=env, capture_output=True, text=True, timeout=1500)
    assert repair.returncode == 0, repair.stdout[-4000:] + repair.stderr[-2000:]
    assert f"Remediation `pulumi up --refresh` of `{STACK}` at `{COMMIT}`: done" in repair.stdout
    check = delivery(workspace, "drift", "--stack", STACK)
    assert check.returncode == 0, check.stdout[-4000:]


def with_config(ws: Workspace, config: dict[str, Any] | None) -> None:
    """The stack's config as a checkout would carry it (the salt stays in the state)."""
    stack_file = ws.dir / f"Pulumi.{STACK}.yaml"
    if config is None:
        stack_file.unlink(missing_ok=True)
    else:
        stack_file.write_text(yaml.safe_dump({"config": config}))


def test_up_applies_exactly_the_saved_plan_and_refuses_a_stale_one(workspace: Workspace, tmp_path: Path) -> None:
    """What production does: the approver's preview saves a plan, the approved up applies it."""
    plan = tmp_path / "plan.json"
    api = {"platform:api": {"env": {"PODINFO_PORT_METRICS": "9797", "PLAN_CHECK": "one"}}}
    try:
        with_config(workspace, api)
        args = ["--stack", STACK, "--policy-pack", ""]
        saving = ["--log", str(tmp_path / "p.log"), "--save-plan", str(plan)]
        preview = delivery(workspace, "run", "--command", "preview", *args, *saving)
        assert preview.returncode == 0, preview.stdout[-3000:] + preview.stderr[-2000:]
        digest = hashlib.sha256(plan.read_bytes()).hexdigest()
        assert f"sha256 `{digest}`" in preview.stdout
        up = delivery(workspace, "run", "--command", "up", *args, "--log", str(tmp_path / "u.log"), "--plan", str(plan),
                      "--plan-digest", digest)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-2000:]
        # The program moved on after the approval: the old plan must not apply something else.
        stale = tmp_path / "stale.json"
        with_config(workspace, {"platform:api": {"env": {"PODINFO_PORT_METRICS": "9797", "PLAN_CHECK": "two"}}})
        delivery(workspace, "run", "--command", "preview", *args, "--log", str(tmp_path / "p2.log"), "--save-plan", str(stale))
        with_config(workspace, {"platform:api": {"env": {"PODINFO_PORT_METRICS": "9797", "PLAN_CHECK": "three"}}})
        refused = delivery(workspace, "run", "--command", "up", *args, "--log", str(tmp_path / "u2.log"), "--plan", str(stale))
        assert refused.returncode != 0, refused.stdout[-3000:]
        assert "plan" in (tmp_path / "u2.log").read_text().lower(), (tmp_path / "u2.log").read_text()[-3000:]
        maps = workspace.kube_json("get", "configmaps", "-n", STACK)["items"]
        values = {m["data"]["PLAN_CHECK"] for m in maps if "PLAN_CHECK" in (m.get("data") or {})}
        assert values == {"one"}, values  # the API's env lives in its ConfigMap: nothing of the refused plan applied
    finally:
        with_config(workspace, None)
        workspace.pulumi("up", "--yes", "--skip-preview", stack=STACK)


# ---------------------------------------------------------------- the README's preview identity


def preview_access() -> str:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- preview-access:begin -->", 1)[1].split("<!-- preview-access:end -->", 1)[0]
    return block.strip().removeprefix("```yaml").removesuffix("```")


@pytest.fixture
def preview_kubeconfig(workspace: Workspace, tmp_path: Path) -> Iterator[Path]:
    manifest = preview_access()
    workspace.kubectl("apply", "-f", "-", stdin=manifest)
    try:
        request = ["create", "token", "pulumi-preview", "-n", "platform-preview", "--duration", "1h"]
        token = workspace.kubectl(*request).stdout.strip()
        admin = yaml.safe_load(Path(workspace.env["KUBECONFIG"]).read_text())
        cluster = admin["clusters"][0]
        kubeconfig = {
            "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
            "users": [{"name": "preview", "user": {"token": token}}],
            "contexts": [{"name": "preview", "context": {"cluster": cluster["name"], "user": "preview"}}],
            "current-context": "preview",
        }
        path = tmp_path / "preview-kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))
        path.chmod(0o600)
        # The policy takes effect once the API server has loaded it: wait for a refused write.
        for _ in range(30):
            if "may only dry-run" in write(workspace, path, "probe").stderr:
                break
            subprocess.run(["sleep", "1"], check=True)
        yield path
    finally:
        workspace.kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=true", stdin=manifest)


def write(ws: Workspace, kubeconfig: Path, name: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return ws.kubectl("--kubeconfig", str(kubeconfig), "create", "configmap", name, "-n", STACK, *flags, check=False)


def test_the_preview_identity_can_dry_run_but_never_write(workspace: Workspace, preview_kubeconfig: Path) -> None:
    dry = write(workspace, preview_kubeconfig, "dry-run-only", "--dry-run=server")
    assert dry.returncode == 0, dry.stderr
    real = write(workspace, preview_kubeconfig, "a-real-write")
    assert real.returncode != 0 and "the Pulumi preview identity may only dry-run" in real.stderr, real.stderr
    assert "a-real-write" not in names(workspace, "configmaps")
    # Enough for a real preview: refresh (get), server-side dry runs of an update and of a create.
    victim = sorted(names(workspace, "networkpolicies"))[0]
    workspace.kubectl("delete", "networkpolicy", victim, "-n", STACK)
    env = {**workspace.env, "KUBECONFIG": str(preview_kubeconfig)}
    preview = subprocess.run(
        ["pulumi", "preview", "--refresh", "--json", "--stack", STACK, "--non-interactive"],
        cwd=workspace.dir, env=env, capture_output=True, text=True, timeout=900,
    )
    steps = json.loads(preview.stdout).get("steps", [])
    assert preview.returncode == 0, preview.stdout[-3000:] + preview.stderr[-2000:]
    creates = [s["urn"].split("::")[-2] for s in steps if s["op"] == "create"]
    assert any(kind.endswith("NetworkPolicy") for kind in creates), creates  # the deleted one, dry-run created
    assert victim not in names(workspace, "networkpolicies")  # previewed, not written
    workspace.pulumi("up", "--refresh", "--yes", "--skip-preview", stack=STACK)


def test_destroy_then_destroy_again_succeeds(workspace: Workspace, tmp_path: Path) -> None:
    log = tmp_path / "destroy.log"
    args = ["run", "--command", "destroy", "--stack", STACK, "--log", str(log)]
    first = delivery(workspace, *args)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert STACK not in stack_names(workspace)
    again = delivery(workspace, *args)
    assert again.returncode == 0, again.stdout[-2000:]
    assert f"stack {STACK} does not exist (already removed, or never created): nothing to destroy." in again.stdout
