"""Real engine fixtures: the Pulumi CLI, a file backend and the local control plane."""

from __future__ import annotations

import hashlib
import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.realengine import ToolchainMissing, Workspace, local_cluster, toolchain_env

USER_PULUMI = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".pulumi"


def user_plugins() -> dict[str, tuple[str, int]] | None:
    """The user's ~/.pulumi/plugins: each path with its content hash and mtime (None: no such directory).

    The home is the account's (passwd), not $HOME: that is where Pulumi looks without PULUMI_HOME.
    The mtime catches a reinstall of the same binary. The ``.lastused`` markers are left out: any
    other Pulumi process of the machine's user touches them while the tests run.
    """
    root = USER_PULUMI / "plugins"
    if not root.exists():
        return None
    return {
        str(path.relative_to(root)): (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir",
            path.stat().st_mtime_ns,
        )
        for path in sorted(root.rglob("*"))
        if not path.name.endswith(".lastused")
    }


# Taken when pytest loads this file, before any test runs the engine.
USER_PLUGINS_AT_START = user_plugins()

# Namespaces the tests deploy; left over from an earlier run, they are removed first.
TEST_NAMESPACES = [
    "it-dev", "pr-4242", "prod-local", "it-routes", "it-gateway", "it-selector", "it-upgrade", "it-two-services",
    "it-package-yaml", "it-redis-rotation", "it-cnpg", "it-cnpg-switch", "it-cnpg-operator",
]


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    if os.environ.get("PLATFORM_GO_TOOLS") == "unavailable":
        pytest.skip("the Go-built toolchain could not be built within this CI run's budget (see .ci/run output)")
    try:
        env = local_cluster({**os.environ, **toolchain_env()})
        ws = Workspace.create(tmp_path_factory.mktemp("real-engine"), env)
    except ToolchainMissing as missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} (.ci/run builds it through `make test`)")
        pytest.skip(str(missing))
    # Each run has a fresh backend, so the cluster must not hold an earlier run's objects.
    ws.delete_namespaces(*TEST_NAMESPACES)
    yield ws
    # Leave the cluster as found, so `make dev` (another backend) meets no foreign objects.
    ws.delete_namespaces(*TEST_NAMESPACES)
