"""The stand-in random provider under the real engine rejects, at preview, what upstream
pulumi-random rejects, with upstream's reason (no cluster needed: a program with one password)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.harness import ROOT
from tools.realengine import ToolchainMissing, toolchain_env

pytestmark = pytest.mark.integration
PROGRAM = """
import pulumi
import pulumi_random as random

random.RandomPassword("p", length=pulumi.Config().require_int("length"), min_upper=3, min_lower=3, special=False)
"""


def test_preview_rejects_a_length_below_the_minimums(tmp_path: Path) -> None:
    try:
        env = toolchain_env()
    except ToolchainMissing as missing:
        pytest.skip(str(missing))
    (tmp_path / "Pulumi.yaml").write_text("name: rp\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n")
    (tmp_path / "__main__.py").write_text(PROGRAM)
    (tmp_path / "venv").symlink_to(ROOT / "venv")
    (tmp_path / "state").mkdir()
    # A throwaway passphrase for a throwaway backend.
    env.update({"PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}", "PULUMI_CONFIG_PASSPHRASE": "test-only"})

    def pulumi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["pulumi", *args, "--stack", "t", "--non-interactive"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    assert pulumi("stack", "init").returncode == 0
    pulumi("config", "set", "length", "5")
    short = pulumi("preview")
    assert short.returncode != 0
    assert "at least sum of minLower + minUpper + minNumeric + minSpecial (6), got: 5" in short.stdout, short.stdout
    pulumi("config", "set", "length", "6")
    exact = pulumi("preview")
    assert exact.returncode == 0, exact.stdout + exact.stderr
