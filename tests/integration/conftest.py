"""Real engine fixtures: the Pulumi CLI, a file backend and the local control plane.

The project is copied to a temporary directory so that `pulumi stack init` (which writes an
encryption salt into stack files) and config edits never touch the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import ROOT

TOOLCHAIN = Path(os.environ.get("PLATFORM_TOOLCHAIN_DIR", Path.home() / ".cache" / "platform-toolchain"))
PROJECT_FILES = ["Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml", "__main__.py",
                 "components", "monitoring", "requirements.txt"]
# Helm charts cannot be downloaded here: the local cluster runs monitoring in `existing` mode
# (its CRDs are applied by scripts/local-cluster.sh).
LOCAL_OVERRIDES: dict[str, Any] = {"platform:monitoring": {"mode": "existing"}}
# Namespaces the tests deploy; left over from an earlier run, they are removed first.
TEST_NAMESPACES = ["dev", "pr-4242", "prod-local"]


def _toolchain_env() -> dict[str, str]:
    env_file = TOOLCHAIN / "env.sh"
    if not env_file.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{env_file} missing: .ci/run must run scripts/toolchain.sh")
        pytest.skip("real-engine toolchain not built: run `bash scripts/toolchain.sh`")
    dump = subprocess.run(["bash", "-c", f'source "{env_file}" && env -0'], capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in dump.decode().split("\0") if "=" in item)


@dataclass
class Workspace:
    """A copy of the project wired to a file backend and the local cluster."""

    dir: Path
    env: dict[str, str]

    def pulumi(self, *args: str, stack: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["pulumi", *args, "--stack", stack, "--non-interactive"],
            cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} --stack {stack} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["kubectl", *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def kube_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def init_stack(self, stack: str, extra: dict[str, Any] | None = None) -> None:
        """Create the stack with the repo's stack file (if any) plus local overrides."""
        stack_file = self.dir / f"Pulumi.{stack}.yaml"
        config = (yaml.safe_load(stack_file.read_text()) or {}).get("config", {}) if stack_file.exists() else {}
        self.pulumi("stack", "init", "--secrets-provider", "passphrase", stack=stack)
        # `stack init` rewrote the file with its salt: read it back and add the overrides.
        data = yaml.safe_load(stack_file.read_text()) or {}
        data["config"] = {**config, **LOCAL_OVERRIDES, **(extra or {})}
        stack_file.write_text(yaml.safe_dump(data))

    def set_config(self, stack: str, key: str, value: Any) -> None:
        stack_file = self.dir / f"Pulumi.{stack}.yaml"
        data = yaml.safe_load(stack_file.read_text())
        data["config"][key] = value
        stack_file.write_text(yaml.safe_dump(data))


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    env = {**os.environ, **_toolchain_env()}
    if not (ROOT / "venv" / "bin" / "python").exists():
        pytest.fail("the project's virtualenv ./venv is missing: run `make venv`")
    start = subprocess.run(["bash", str(ROOT / "scripts" / "local-cluster.sh"), "start"], env=env, capture_output=True, text=True, timeout=600)
    assert start.returncode == 0, f"local cluster did not start:\n{start.stdout[-3000:]}\n{start.stderr[-3000:]}"
    exports = subprocess.run(["bash", str(ROOT / "scripts" / "local-cluster.sh"), "env"], env=env, capture_output=True, text=True, check=True).stdout
    for line in exports.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = value.strip("'\"")
    # Each run has a fresh backend, so the cluster must not hold an earlier run's objects.
    subprocess.run(["kubectl", "delete", "namespace", *TEST_NAMESPACES, "--ignore-not-found", "--wait=true", "--timeout=180s"],
                   env=env, capture_output=True, text=True, timeout=240, check=True)
    base = tmp_path_factory.mktemp("real-engine")
    project = base / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, project / name)
    (project / "venv").symlink_to(ROOT / "venv")
    (base / "state").mkdir()
    env.update(
        PULUMI_BACKEND_URL=f"file://{base / 'state'}",
        # A throwaway passphrase for a throwaway backend; real stacks use their own provider.
        PULUMI_CONFIG_PASSPHRASE="integration-tests-only",  # noqa: S106
        PULUMI_SKIP_UPDATE_CHECK="true",
    )
    yield Workspace(project, env)
