"""The CrossGuard pack applied by the real engine: `pulumi preview --policy-pack policy` passes on
the platform as configured and fails when a stack breaks a mandatory policy (runs through the
language host's RunPlugin)."""

from __future__ import annotations

import pytest

from tests.harness import ROOT
from tools.realengine import Workspace

pytestmark = pytest.mark.integration
PACK = ROOT / "policy"


def test_preview_with_the_policy_pack_fails_on_a_violation(workspace: Workspace) -> None:
    if not (PACK / "venv" / "bin" / "python").exists():
        pytest.fail("the policy pack's virtualenv is missing: make policy-venv")
    stack = "policy-check"  # an ephemeral stack: no stack file, monitoring off
    workspace.init_stack(stack)
    try:
        clean = workspace.pulumi("preview", "--policy-pack", str(PACK), stack=stack, check=False, timeout=600)
        assert clean.returncode == 0, clean.stdout[-4000:] + clean.stderr[-4000:]
        assert "platform-invariants" in clean.stdout, clean.stdout[-4000:]
        workspace.set_config(stack, "platform:api", {"image": {"tag": "latest"}})
        broken = workspace.pulumi("preview", "--policy-pack", str(PACK), stack=stack, check=False, timeout=600)
        output = broken.stdout + broken.stderr
        assert broken.returncode != 0, output[-4000:]
        assert "pinned-images" in output and "mandatory" in output, output[-4000:]
    finally:
        workspace.pulumi("stack", "rm", "--yes", "--force", stack=stack, check=False)
