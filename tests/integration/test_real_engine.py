"""`pulumi up`, `preview`, `refresh` and `destroy` for real, against the local control plane.

Run in order: each test builds on the stack state the previous one left.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.harness import run_program
from tools.engine import AUTONAME_SUFFIX
from tools.realengine import LOCAL_OVERRIDES, Workspace
from tools.render import manifest

pytestmark = pytest.mark.integration
# dev deploys into its own namespace here, so the tests never touch a `make dev` deployment.
DEV_NS = "it-dev"
DATA_KINDS = {"StatefulSet", "PersistentVolumeClaim", "Secret", "RandomPassword"}


def _cluster_names(ws: Workspace, kind: str, namespace: str | None) -> set[str]:
    scope = ["-n", namespace] if namespace else []
    return {item["metadata"]["name"] for item in ws.kube_json("get", kind, *scope)["items"]}


def _steps(preview_json: str) -> list[dict[str, Any]]:
    return json.loads(preview_json).get("steps", [])


def test_up_dev_from_empty(workspace: Workspace) -> None:
    workspace.init_stack("dev", {"platform:namespace": {"name": DEV_NS}})
    workspace.pulumi("up", "--yes", "--skip-preview", stack="dev", timeout=1200)
    for kind in ("deployments", "statefulsets"):
        items = workspace.kube_json("get", kind, "-n", DEV_NS)["items"]
        assert items, f"no {kind} in dev"
        for item in items:
            want = item["spec"].get("replicas", 1)
            assert item["status"].get("readyReplicas", 0) == want, (
                f"{kind} {item['metadata']['name']} not ready: {item['status']}"
            )


def test_cluster_matches_the_render(workspace: Workspace) -> None:
    run = run_program("dev", LOCAL_OVERRIDES, root=workspace.dir)
    assert run.error is None, run.error
    rendered = [manifest(r) for r in run.kubernetes()]
    assert len(rendered) > 20
    for obj in rendered:
        if obj["kind"] == "Release":
            continue
        namespace = obj["metadata"].get("namespace")
        names = _cluster_names(workspace, obj["kind"], namespace)
        name = obj["metadata"]["name"]
        if name.endswith(AUTONAME_SUFFIX):  # auto-named: Pulumi's suffix is random
            prefix = name[: -len(AUTONAME_SUFFIX)]
            assert any(n.startswith(prefix) and len(n) == len(name) for n in names), f"{obj['kind']} {name}: {names}"
        else:
            assert name in names, f"{obj['kind']} {namespace}/{name} missing from the cluster"
    images = {
        c["image"]
        for o in rendered
        if o["kind"] in ("Deployment", "StatefulSet")
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    live = {
        c["image"]
        for kind in ("deployments", "statefulsets")
        for i in workspace.kube_json("get", kind, "-n", DEV_NS)["items"]
        for c in i["spec"]["template"]["spec"]["containers"]
    }
    assert images == live


def test_second_up_changes_nothing(workspace: Workspace) -> None:
    workspace.pulumi("up", "--yes", "--expect-no-changes", stack="dev", timeout=900)


def test_image_change_previews_as_an_api_update_only(workspace: Workspace) -> None:
    workspace.set_config("dev", "platform:api", {"image": {"repository": "ghcr.io/stefanprodan/podinfo", "tag": "6.7.0"}})
    steps = _steps(workspace.pulumi("preview", "--diff", "--json", stack="dev").stdout)
    changed = [s for s in steps if s["op"] != "same"]
    assert any(s["op"] == "update" and s["urn"].endswith("Deployment::api-deployment") for s in changed), changed
    for step in changed:
        kind = step["urn"].split("::")[-2].rsplit(":", 1)[-1]
        assert step["op"] in ("update", "create-replacement", "replace", "delete-replaced", "create", "delete"), step["op"]
        assert "::api" in step["urn"] or "$platform:index:ApiService" in step["urn"], (
            f"unexpected change outside the API: {step['urn']}"
        )
        if kind in DATA_KINDS:
            assert step["op"] == "update", f"data-bearing {kind} would be {step['op']}"
    workspace.set_config("dev", "platform:api", {})


def test_refresh_detects_a_kubectl_edit(workspace: Workspace) -> None:
    policies = _cluster_names(workspace, "networkpolicies", DEV_NS)
    victim = next(n for n in sorted(policies) if n.startswith("redis"))
    workspace.kubectl("delete", "networkpolicy", victim, "-n", DEV_NS)
    refresh = workspace.pulumi("refresh", "--yes", "--skip-preview", stack="dev")
    assert "deleted" in refresh.stdout, refresh.stdout[-2000:]
    steps = _steps(workspace.pulumi("preview", "--json", stack="dev").stdout)
    assert [s["op"] for s in steps if s["op"] != "same"] == ["create"], steps
    workspace.pulumi("up", "--yes", "--skip-preview", stack="dev")
    assert victim in _cluster_names(workspace, "networkpolicies", DEV_NS)


def test_ephemeral_stack_up_and_destroy_leaves_nothing(workspace: Workspace) -> None:
    stack = "pr-4242"
    workspace.init_stack(stack)
    workspace.pulumi("up", "--yes", "--skip-preview", stack=stack, timeout=1200)
    assert stack in _cluster_names(workspace, "namespaces", None)
    workspace.pulumi("destroy", "--yes", "--remove", "--skip-preview", stack=stack, timeout=1200)
    deadline = time.monotonic() + 120
    while stack in _cluster_names(workspace, "namespaces", None) and time.monotonic() < deadline:
        time.sleep(2)
    assert stack not in _cluster_names(workspace, "namespaces", None), "namespace still there"
    claims = workspace.kube_json("get", "persistentvolumeclaims", "-A")["items"]
    assert not [c for c in claims if c["metadata"]["namespace"] == stack]
    stacks = json.loads(workspace.pulumi("stack", "ls", "--json", stack="dev").stdout)
    assert stack not in {s["name"] for s in stacks}


def test_production_destroy_refuses_to_delete_data(workspace: Workspace) -> None:
    stack = "prod-local"
    workspace.init_stack(stack, {"platform:environment": "production", "platform:ingress": {"host": "api.prod.local.test"}})
    workspace.pulumi("up", "--yes", "--skip-preview", stack=stack, timeout=1500)
    refused = workspace.pulumi("destroy", "--yes", "--skip-preview", stack=stack, check=False)
    assert refused.returncode != 0
    text = refused.stdout + refused.stderr
    assert "protect" in text, text[-3000:]
    assert "postgres" in _cluster_names(workspace, "statefulsets", stack)
    assert _cluster_names(workspace, "persistentvolumeclaims", stack), "production volumes were deleted"
