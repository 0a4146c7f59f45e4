"""`make dev` (scripts/deploy-dev.sh) picks its path from what is on the machine, and says so first.

Runs the real script from a copy of scripts/ whose toolchain.sh only records that it ran, with
fake `kubectl` and `pulumi` on PATH that record their arguments and PULUMI_* environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness import ROOT

RECORDER = """#!/bin/bash
echo "$(basename "$0") $* | $(env | grep '^PULUMI_' | sort | tr '\\n' ' ')" >> "$FAKE_LOG"
"""


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, Path]:
    repo, fake_bin, home = tmp_path / "repo", tmp_path / "bin", tmp_path / "home"
    (repo / "scripts").mkdir(parents=True)
    fake_bin.mkdir()
    home.mkdir()
    shutil.copy(ROOT / "scripts" / "deploy-dev.sh", repo / "scripts")
    # Stops the local path right after the build, which is all these tests look at.
    (repo / "scripts" / "toolchain.sh").write_text(RECORDER + "exit 3\n")
    return {"repo": repo, "bin": fake_bin, "home": home, "log": tmp_path / "calls.log"}


def fake(directory: Path, name: str, body: str = "") -> None:
    path = directory / name
    path.write_text(RECORDER + body)
    path.chmod(0o755)


def fake_kubectl(machine: dict[str, Path], reachable: bool) -> None:
    version_exit = 0 if reachable else 1
    fake(machine["bin"], "kubectl", f'[ "$1" = config ] && echo kind-test\n[ "$1" = version ] && exit {version_exit}\nexit 0\n')


def fake_pulumi(directory: Path) -> None:
    fake(directory, "pulumi", '[ "$1" = version ] && echo v3.999.0\nexit 0\n')


def make_dev(machine: dict[str, Path], **extra: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "PLATFORM_", "KUBECONFIG"))}
    env.update(PATH=f"{machine['bin']}:/usr/bin:/bin", HOME=str(machine["home"]), FAKE_LOG=str(machine["log"]))
    env.update(extra)
    result = subprocess.run(
        ["bash", str(machine["repo"] / "scripts" / "deploy-dev.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    calls = machine["log"].read_text().splitlines() if machine["log"].exists() else []
    return result, calls


def test_a_reachable_cluster_and_a_pulumi_cli_use_that_cli_without_build_or_overrides(machine: dict[str, Path]):
    fake_kubectl(machine, reachable=True)
    fake_pulumi(machine["bin"])
    result, calls = make_dev(machine)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("== make dev: your cluster (context kind-test) with your pulumi CLI"), first
    assert "no toolchain build" in first
    assert not [c for c in calls if c.startswith("toolchain.sh")], calls
    pulumi_calls = [c for c in calls if c.startswith("pulumi ")]
    assert "pulumi up --stack dev --yes --non-interactive | " in pulumi_calls, pulumi_calls
    overridden = [c for c in pulumi_calls if c.split(" | ", 1)[1].strip()]
    assert not overridden, f"PULUMI_* settings passed to the user's CLI: {overridden}"


def test_no_reachable_cluster_takes_the_local_default_and_builds_the_toolchain(machine: dict[str, Path]):
    fake_kubectl(machine, reachable=False)
    fake_pulumi(machine["bin"])
    result, calls = make_dev(machine)
    assert result.returncode == 3, result.stdout + result.stderr  # the fake build's exit code
    assert result.stdout.splitlines()[0].startswith("== make dev: the local default (no reachable cluster")
    assert [c.split(" |")[0].strip() for c in calls if not c.startswith("kubectl")] == ["toolchain.sh"], calls


def test_a_reachable_cluster_without_a_pulumi_cli_stops_instead_of_using_stand_ins(machine: dict[str, Path]):
    fake_kubectl(machine, reachable=True)
    result, calls = make_dev(machine)
    assert result.returncode == 2 and "no pulumi CLI is on PATH" in result.stderr, result.stderr
    assert "PLATFORM_DEV_LOCAL=1 make dev" in result.stderr
    assert not [c for c in calls if c.startswith("toolchain.sh")], calls


def test_the_toolchains_own_cli_on_path_is_not_the_users(machine: dict[str, Path]):
    """After `source env.sh`, PATH holds the toolchain's pulumi: it must not count as the user's CLI."""
    toolchain_bin = machine["home"] / ".cache" / "platform-toolchain" / "bin"
    toolchain_bin.mkdir(parents=True)
    fake_pulumi(toolchain_bin)
    fake_kubectl(machine, reachable=True)
    result, _ = make_dev(machine, PATH=f"{toolchain_bin}:{machine['bin']}:/usr/bin:/bin")
    assert result.returncode == 2 and "no pulumi CLI is on PATH" in result.stderr, result.stdout + result.stderr


def test_platform_dev_local_forces_the_local_default(machine: dict[str, Path]):
    fake_kubectl(machine, reachable=True)
    fake_pulumi(machine["bin"])
    result, calls = make_dev(machine, PLATFORM_DEV_LOCAL="1")
    assert result.returncode == 3 and "the local default (PLATFORM_DEV_LOCAL is set)" in result.stdout.splitlines()[0]
    assert [c.split(" |")[0].strip() for c in calls] == ["toolchain.sh"], calls
