"""Real engine fixtures: the Pulumi CLI, a file backend and the local control plane."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tools.realengine import ToolchainMissing, Workspace, local_cluster, toolchain_env

# Namespaces the tests deploy; left over from an earlier run, they are removed first.
TEST_NAMESPACES = ["it-dev", "pr-4242", "prod-local", "it-upgrade", "it-two-services"]


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
