"""A Service that selects no pod fails `pulumi up` on the real engine, before anything is created.

The provider's own Service await would not catch it (an empty Endpoints object passes after a
10 s settle, pulumi-kubernetes pkg/await/service.go), and the platform's Services skip that
await; the guarantee is the policy pack's `services-select-workloads`, which `preview` and `up`
run (`--policy-pack policy`). A tiny throwaway program keeps this quick: one Deployment and one
Service whose selector comes from config, so the passing run is the control for the failing one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from policy import validators
from tools.engine import ROOT
from tools.realengine import Workspace

pytestmark = pytest.mark.integration
NAMESPACE = "it-selector"
POLICY = "services-select-workloads"

PROGRAM = '''
import pulumi
import pulumi_kubernetes as k8s

namespace = "it-selector"
pods = {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": namespace}
selector = pulumi.Config().require_object("selector")
ns = k8s.core.v1.Namespace("ns", metadata={"name": namespace})
web = k8s.apps.v1.Deployment(
    "web",
    metadata={"name": "web", "namespace": namespace},
    spec={
        "replicas": 1,
        "selector": {"matchLabels": pods},
        "template": {
            "metadata": {"labels": pods},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27.0", "ports": [{"name": "http", "containerPort": 80}]}]},
        },
    },
    opts=pulumi.ResourceOptions(depends_on=[ns]),
)
# As the platform does: created after the pods are ready, without the provider's Service await.
k8s.core.v1.Service(
    "web",
    metadata={"name": "web", "namespace": namespace, "annotations": {"pulumi.com/skipAwait": "true"}},
    spec={"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    opts=pulumi.ResourceOptions(depends_on=[web]),
)
'''


def _policy_python_ready() -> None:
    if not (ROOT / "policy" / "venv" / "bin" / "python").exists():
        if os.environ.get("CI"):
            pytest.fail("policy/venv missing: `make policy-venv` (make test builds it)")
        pytest.skip("policy/venv missing: run `make policy-venv`")


@pytest.fixture
def program(workspace: Workspace, tmp_path: Path) -> Workspace:
    _policy_python_ready()
    project = tmp_path / "selector"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        yaml.safe_dump({"name": "it-selector", "runtime": {"name": "python", "options": {"virtualenv": "venv"}}})
    )
    (project / "__main__.py").write_text(PROGRAM)
    (project / "venv").symlink_to(ROOT / "venv")
    ws = Workspace(project, workspace.env)
    ws.pulumi("stack", "init", "--secrets-provider", "passphrase", stack="it")
    return ws


def _policy_config(path: Path) -> Path:
    """Only the policy under test: the throwaway Deployment is not meant to meet the platform's other rules."""
    disabled = {name: "disabled" for name in [*validators.RESOURCE_CHECKS, *validators.STACK_CHECKS] if name != POLICY}
    path.write_text(json.dumps(disabled))
    return path


def _up(ws: Workspace, selector: dict[str, str], config: Path) -> tuple[int, str]:
    stack_file = ws.dir / "Pulumi.it.yaml"
    data = yaml.safe_load(stack_file.read_text()) or {}
    data["config"] = {"it-selector:selector": selector}
    stack_file.write_text(yaml.safe_dump(data))
    result = ws.pulumi(
        "up", "--yes", "--policy-pack", str(ROOT / "policy"), "--policy-pack-config", str(config),
        stack="it", check=False, timeout=600,
    )
    return result.returncode, result.stdout + result.stderr


def test_a_service_that_selects_no_pod_fails_the_up(program: Workspace, workspace: Workspace, tmp_path: Path) -> None:
    config = _policy_config(tmp_path / "policy-config.json")
    try:
        code, output = _up(program, {"app.kubernetes.io/name": "nothing"}, config)
        assert code != 0, output
        assert POLICY in output and "Service web" in output, output
        # The preview stopped it: nothing reached the cluster.
        assert workspace.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0
        # The control: the same program selecting its own pods goes through, with endpoints.
        code, output = _up(program, {"app.kubernetes.io/name": "web"}, config)
        assert code == 0, output
        endpoints = workspace.kube_json("get", "endpointslices", "-n", NAMESPACE, "-l", "kubernetes.io/service-name=web")
        ready = [e for s in endpoints["items"] for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")]
        assert ready, endpoints
    finally:
        program.pulumi("destroy", "--yes", "--skip-preview", stack="it", check=False, timeout=600)
        workspace.delete_namespaces(NAMESPACE)
