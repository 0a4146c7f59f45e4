"""The real-server tier: marked ``realservers``, needs root (namespaces) and scripts/realservers.sh."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from components.config import PlatformConfig
from environments import load_config
from tests.harness import Run, stack_config
from tests.realservers.pods import REQUIRED, Node


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.realservers)


@pytest.fixture(scope="session", autouse=True)
def _binaries() -> None:
    missing = [str(p) for p in REQUIRED if not p.exists()]
    if missing:
        pytest.fail(f"real-server binaries missing: {missing}; install them with `make realservers`")
    if os.geteuid() != 0:
        pytest.fail("the real-server tier needs root for its network and mount namespaces (CI runs as root)")


@pytest.fixture
def nodes() -> Iterator[Callable[[Run, list[str]], Node]]:
    made: list[Node] = []

    def make(run: Run, hosts: list[str]) -> Node:
        made.append(Node(run, hosts))
        return made[-1]

    yield make
    for node in made:
        node.close()


def settings(stack: str, overrides: dict[str, Any] | None = None) -> PlatformConfig:
    """The validated config the program used for this stack: what the servers must end up with."""
    raw = {}
    for key, value in stack_config(stack, overrides).items():
        name = key.split(":", 1)[1]
        raw[name] = json.loads(value) if isinstance(value, str) and value.startswith(("{", "[")) else value
    return load_config(stack, raw)
