"""The real engine, driven from Python: the Go-built toolchain, the local control plane, and a
copy of the project wired to a file backend. Used by the integration tests and the benchmark.

The project is copied because `pulumi stack init` writes an encryption salt into stack files
and tests edit config: the repository is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.engine import ROOT

TOOLCHAIN = Path(os.environ.get("PLATFORM_TOOLCHAIN_DIR", Path.home() / ".cache" / "platform-toolchain"))
# The program itself. Stack files are not copied: `stack init` writes each one, with its salt,
# and write_local_config then adds the repository's config for that stack.
CODE_FILES = ["Pulumi.yaml", "__main__.py", "environments.py", "components", "monitoring", "requirements.txt"]
# Helm charts cannot be downloaded here: the local cluster runs monitoring in `existing` mode
# (its CRDs are applied by scripts/local-cluster.sh).
LOCAL_OVERRIDES: dict[str, Any] = {"platform:monitoring": {"mode": "existing"}}


class ToolchainMissing(RuntimeError):
    pass


def toolchain_env() -> dict[str, str]:
    """The environment of scripts/toolchain.sh's env.sh (PATH, PULUMI_* settings)."""
    env_file = TOOLCHAIN / "env.sh"
    if not env_file.exists():
        raise ToolchainMissing(f"{env_file} missing: run `bash scripts/toolchain.sh`")
    dump = subprocess.run(["bash", "-c", f'source "{env_file}" && env -0'], capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in dump.decode().split("\0") if "=" in item)


def local_cluster(env: dict[str, str]) -> dict[str, str]:
    """Start (or reuse) the local control plane; returns ``env`` plus its KUBECONFIG."""
    script = str(ROOT / "scripts" / "local-cluster.sh")
    start = subprocess.run(["bash", script, "start"], env=env, capture_output=True, text=True, timeout=600)
    if start.returncode != 0:
        raise RuntimeError(f"local cluster did not start:\n{start.stdout[-3000:]}\n{start.stderr[-3000:]}")
    exports = subprocess.run(["bash", script, "env"], env=env, capture_output=True, text=True, check=True).stdout
    result = dict(env)
    for line in exports.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            result[key] = value.strip("'\"")
    return result


def copy_project(project: Path, root: Path = ROOT, files: list[str] = CODE_FILES) -> None:
    """Copy (or refresh) the program at ``root`` (another checkout, or an example) into
    ``project`` and link the repository's venv."""
    project.mkdir(parents=True, exist_ok=True)
    for name in files:
        source, target = root / name, project / name
        if not source.exists() and root != ROOT:
            continue  # a base revision of the upgrade test may predate a file
        if target.is_dir():
            shutil.rmtree(target)
        target.unlink(missing_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    venv = project / "venv"
    venv.unlink(missing_ok=True)
    venv.symlink_to(ROOT / "venv")


def write_local_config(stack_file: Path, stack: str, extra: dict[str, Any] | None = None, root: Path = ROOT) -> None:
    """The repository's (or checkout ``root``'s) config for ``stack`` plus the local overrides,
    under the salt in ``stack_file``."""
    repo_file = root / f"Pulumi.{stack}.yaml"
    config = (yaml.safe_load(repo_file.read_text()) or {}).get("config", {}) if repo_file.exists() else {}
    data = yaml.safe_load(stack_file.read_text()) or {}
    data["config"] = {**config, **LOCAL_OVERRIDES, **(extra or {})}
    stack_file.write_text(yaml.safe_dump(data))


@dataclass
class Workspace:
    """A copy of the project wired to a file backend and a cluster."""

    dir: Path
    env: dict[str, str]

    @classmethod
    def create(cls, base: Path, env: dict[str, str], root: Path = ROOT, files: list[str] = CODE_FILES) -> Workspace:
        if not (ROOT / "venv" / "bin" / "python").exists():
            raise ToolchainMissing("the project's virtualenv ./venv is missing: run `make venv`")
        project = base / "project"
        copy_project(project, root, files)
        (base / "state").mkdir()
        env = {
            **env,
            "PULUMI_BACKEND_URL": f"file://{base / 'state'}",
            # A throwaway passphrase for a throwaway backend; real stacks use their own provider.
            "PULUMI_CONFIG_PASSPHRASE": "integration-tests-only",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }
        return cls(project, env)

    def pulumi(self, *args: str, stack: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["pulumi", *args, "--stack", stack, "--non-interactive"],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} --stack {stack} failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: int = 300
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["kubectl", *args], env=self.env, capture_output=True, text=True, timeout=timeout, input=stdin)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def kube_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def delete_namespaces(self, *names: str) -> None:
        self.kubectl("delete", "namespace", *names, "--ignore-not-found", "--wait=true", "--timeout=180s", timeout=240)

    def init_stack(self, stack: str, extra: dict[str, Any] | None = None, root: Path = ROOT) -> None:
        """Create the stack with the repo's (or ``root``'s) stack file (if any) plus the local overrides."""
        self.pulumi("stack", "init", "--secrets-provider", "passphrase", stack=stack)
        write_local_config(self.dir / f"Pulumi.{stack}.yaml", stack, extra, root)

    def set_config(self, stack: str, key: str, value: Any) -> None:
        stack_file = self.dir / f"Pulumi.{stack}.yaml"
        data = yaml.safe_load(stack_file.read_text())
        data["config"][key] = value
        stack_file.write_text(yaml.safe_dump(data))


def main(argv: list[str] | None = None) -> int:
    """For scripts/deploy-dev.sh: the same project copy and local config the tests use."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("copy-project", help="copy the program into DIR").add_argument("dir", type=Path)
    local = commands.add_parser("local-config", help="write the repo's config plus local overrides into STACK_FILE")
    local.add_argument("stack_file", type=Path)
    local.add_argument("stack")
    args = parser.parse_args(argv)
    if args.command == "copy-project":
        copy_project(args.dir)
    else:
        write_local_config(args.stack_file, args.stack)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
