"""A Service that selects no pod is caught on the real engine, before anything is created.

The provider's own Service await would not catch it (an empty Endpoints object passes after a
10 s settle, pulumi-kubernetes pkg/await/service.go), and the platform's Services skip that
await; the guarantee is the policy pack's `services-select-workloads`, which `preview` and `up`
run with `--policy-pack policy`. A tiny throwaway program keeps this quick: one Deployment and one
Service whose selector comes from config, so the passing run is the control for the failing one.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
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


# The pack's stack policy over the resources a real-engine preview would create, through the
# real pulumi_policy types in the pack's own venv: what `--policy-pack policy` evaluates.
RUN_POLICY = """
import json, sys
from pulumi_policy import PolicyResource, PolicyResourceOptions, StackValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy
import rules

steps = json.load(sys.stdin)
opts = PolicyResourceOptions(False, [], None, [], None, [], None)
resources = [
    PolicyResource(s["newState"]["type"], unknown_checking_proxy(s["newState"].get("inputs") or {}), s["urn"], "x", opts,
                   None, None, [], {})
    for s in steps if s.get("newState")
]
found = []
for policy in rules.POLICIES:
    if policy.name == sys.argv[1]:
        policy.validate(StackValidationArgs(resources, {}), lambda message, urn=None: found.append(message))
print(json.dumps(found))
"""
POLICY_PYTHON = ROOT / "policy" / "venv" / "bin" / "python"


def _policy_python_ready() -> None:
    if not POLICY_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail("policy/venv missing: `make policy-venv` (make test builds it)")
        pytest.skip("policy/venv missing: run `make policy-venv`")


@pytest.fixture
def program(workspace: Workspace, tmp_path: Path) -> Iterator[Workspace]:
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
    yield ws
    ws.pulumi("destroy", "--yes", "--skip-preview", "--remove", stack="it", check=False, timeout=600)
    workspace.delete_namespaces(NAMESPACE)


def _select(ws: Workspace, selector: dict[str, str]) -> None:
    stack_file = ws.dir / "Pulumi.it.yaml"
    data = yaml.safe_load(stack_file.read_text()) or {}
    data["config"] = {"it-selector:selector": selector}
    stack_file.write_text(yaml.safe_dump(data))


def _violations(ws: Workspace) -> list[str]:
    """The real engine's preview (real provider, real program), then the pack's policy over it."""
    preview = ws.pulumi("preview", "--json", stack="it")
    steps = json.loads(preview.stdout)["steps"]
    assert any(s.get("newState", {}).get("type") == "kubernetes:core/v1:Service" for s in steps), steps
    run = subprocess.run(
        [str(POLICY_PYTHON), "-c", RUN_POLICY, POLICY], cwd=ROOT / "policy", input=json.dumps(steps),
        capture_output=True, text=True, check=True, timeout=120,
    )
    return list(json.loads(run.stdout))


def test_a_service_that_selects_no_pod_is_caught_before_anything_is_created(program: Workspace, workspace: Workspace) -> None:
    _select(program, {"app.kubernetes.io/name": "nothing"})
    found = _violations(program)
    assert len(found) == 1 and found[0].startswith("Service web: selector app.kubernetes.io/name=nothing"), found
    assert workspace.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0
    # The control: selecting its own pods passes the policy, and `up` leaves the Service ready endpoints.
    _select(program, {"app.kubernetes.io/name": "web"})
    assert _violations(program) == []
    program.pulumi("up", "--yes", "--skip-preview", stack="it", timeout=600)
    slices = workspace.kube_json("get", "endpointslices", "-n", NAMESPACE, "-l", "kubernetes.io/service-name=web")
    ready = [e for s in slices["items"] for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")]
    assert ready, slices


def test_up_with_the_policy_pack_refuses_a_service_that_selects_no_pod(program: Workspace, tmp_path: Path) -> None:
    """The same through `up --policy-pack` (CI's route), where the language host can run policy packs."""
    # Only the policy under test: the throwaway Deployment is not meant to meet the platform's other rules.
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({n: "disabled" for n in [*validators.RESOURCE_CHECKS, *validators.STACK_CHECKS] if n != POLICY}))
    _select(program, {"app.kubernetes.io/name": "nothing"})
    result = program.pulumi(
        "up", "--yes", "--policy-pack", str(ROOT / "policy"), "--policy-pack-config", str(config),
        stack="it", check=False, timeout=600,
    )
    output = result.stdout + result.stderr
    if "RunPlugin not implemented" in output:
        pytest.skip("the local toolchain's stand-in pulumi-language-python cannot run policy packs (no RunPlugin)")
    assert result.returncode != 0 and POLICY in output and "Service web" in output, output
