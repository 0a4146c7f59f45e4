"""The toolchain never touches the user's Pulumi installation (~/.pulumi): its plugins live in
the toolchain's own PULUMI_HOME, for a toolchain build and for real-engine runs alike."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.harness import ROOT
from tests.integration.conftest import USER_PLUGINS_AT_START, user_plugins
from tools.realengine import TOOLCHAIN, Workspace

pytestmark = pytest.mark.integration
PLUGINS = {"kubernetes", "random"}


def installed(pulumi_home: Path, env: dict[str, str]) -> dict[str, str]:
    """Resource plugins the toolchain's CLI sees in ``pulumi_home``: name -> path."""
    listing = subprocess.run(
        [str(TOOLCHAIN / "bin" / "pulumi"), "plugin", "ls", "--json"],
        env={**env, "PULUMI_HOME": str(pulumi_home)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {p["name"]: p["path"] for p in json.loads(listing.stdout) or [] if p["kind"] == "resource"}


def test_a_toolchain_build_installs_plugins_into_its_own_home_only(tmp_path: Path) -> None:
    """Run the plugin step with HOME pointed at an empty directory: nothing may appear in it."""
    if not (TOOLCHAIN / "bin" / "pulumi").exists() or not (TOOLCHAIN / "bin" / "pulumi-resource-random").exists():
        pytest.skip(f"no built toolchain in {TOOLCHAIN} (make toolchain)")
    home, toolchain = tmp_path / "home", tmp_path / "toolchain"
    home.mkdir()
    toolchain.mkdir()
    (toolchain / "bin").symlink_to(TOOLCHAIN / "bin")  # the built binaries; the plugin step only reads them
    env = {**os.environ, "HOME": str(home), "PLATFORM_TOOLCHAIN_DIR": str(toolchain)}
    env.pop("PULUMI_HOME", None)
    build = subprocess.run(
        ["bash", str(ROOT / "scripts" / "toolchain.sh"), "--only", "plugins"], env=env, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr
    assert not (home / ".pulumi").exists(), f"the toolchain wrote into $HOME/.pulumi: {list((home / '.pulumi').rglob('*'))}"
    plugins = installed(toolchain / "pulumi-home", env)
    assert plugins.keys() >= PLUGINS and all(path.startswith(str(toolchain / "pulumi-home")) for path in plugins.values())
    assert f'export PULUMI_HOME="{toolchain / "pulumi-home"}"' in (toolchain / "env.sh").read_text()


def test_a_real_engine_run_leaves_the_users_plugins_as_they_were(workspace: Workspace) -> None:
    stack = "home-check"
    workspace.init_stack(stack)
    try:
        workspace.pulumi("preview", stack=stack, timeout=600)
    finally:
        workspace.pulumi("stack", "rm", "--yes", "--force", stack=stack, check=False)
    assert user_plugins() == USER_PLUGINS_AT_START, "the user's ~/.pulumi/plugins changed during the run"
    plugins = installed(Path(workspace.env["PULUMI_HOME"]), workspace.env)
    assert plugins.keys() >= PLUGINS, plugins
