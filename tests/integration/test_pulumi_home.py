"""The toolchain never touches the user's Pulumi installation (~/.pulumi): its plugins live in
the toolchain's own PULUMI_HOME, for a toolchain build and for real-engine runs alike."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.harness import ROOT
from tests.integration.conftest import USER_PLUGINS_AT_START, USER_PULUMI, user_plugins
from tools.realengine import TOOLCHAIN, Workspace

pytestmark = pytest.mark.integration
PLUGINS = {"kubernetes", "random"}


def installed(pulumi_home: Path, env: dict[str, str]) -> set[str]:
    """Resource plugins the toolchain's CLI lists in ``pulumi_home`` whose files are there."""
    listing = subprocess.run(
        [str(TOOLCHAIN / "bin" / "pulumi"), "plugin", "ls", "--json"],
        env={**env, "PULUMI_HOME": str(pulumi_home)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    listed = [p for p in json.loads(listing.stdout) or [] if p["kind"] == "resource"]
    return {p["name"] for p in listed if (pulumi_home / "plugins" / f"resource-{p['name']}-v{p['version']}").is_dir()}


def test_a_toolchain_build_installs_plugins_into_its_own_home_only(tmp_path: Path) -> None:
    """The plugin step into a fresh toolchain directory (so it must install) leaves ~/.pulumi as it was."""
    if not (TOOLCHAIN / "bin" / "pulumi").exists() or not (TOOLCHAIN / "bin" / "pulumi-resource-random").exists():
        pytest.skip(f"no built toolchain in {TOOLCHAIN} (make toolchain)")
    toolchain = tmp_path / "toolchain"
    toolchain.mkdir()
    (toolchain / "bin").symlink_to(TOOLCHAIN / "bin")  # the built binaries; the plugin step only reads them
    env = {**os.environ, "PLATFORM_TOOLCHAIN_DIR": str(toolchain)}
    env.pop("PULUMI_HOME", None)
    before = user_plugins()
    build = subprocess.run(
        ["bash", str(ROOT / "scripts" / "toolchain.sh"), "--only", "plugins"], env=env, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr
    assert "installing plugin resource random" in build.stderr, build.stderr
    assert user_plugins() == before, "the toolchain build changed the user's ~/.pulumi/plugins"
    assert installed(toolchain / "pulumi-home", env) >= PLUGINS
    assert f'export PULUMI_HOME="{toolchain / "pulumi-home"}"' in (toolchain / "env.sh").read_text()


def test_a_real_engine_run_leaves_the_users_plugins_as_they_were(workspace: Workspace) -> None:
    stack = "home-check"
    workspace.init_stack(stack)
    try:
        workspace.pulumi("preview", stack=stack, timeout=600)
    finally:
        workspace.pulumi("stack", "rm", "--yes", "--force", stack=stack, check=False)
    assert user_plugins() == USER_PLUGINS_AT_START, "the user's ~/.pulumi/plugins changed during the run"
    home = workspace.env.get("PULUMI_HOME")
    assert home and Path(home).resolve() != USER_PULUMI.resolve(), f"the engine runs with the user's Pulumi home ({home})"
    plugins = installed(Path(home), workspace.env)
    assert plugins >= PLUGINS, plugins
