"""The README cannot drift from the config model or from what CI runs."""

from __future__ import annotations

from tests.harness import ROOT
from tools import configdoc


def test_config_reference_matches_the_model() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split(configdoc.BEGIN, 1)[1].split(configdoc.END, 1)[0]
    assert block.strip() == configdoc.table().strip(), "README config reference is stale: run `make docs`"


def test_reference_lists_every_group() -> None:
    table = configdoc.table()
    for key in (
        "platform:api.replicas",
        "platform:postgres.backup.schedule",
        "platform:redis.maxmemory",
        "platform:ingress.kind",
    ):
        assert f"`{key}`" in table


def test_quick_start_commands_are_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make dev" in quick_start and "make test" in quick_start
    assert "make test" in (ROOT / ".ci" / "run").read_text()
