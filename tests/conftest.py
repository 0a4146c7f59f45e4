"""Shared fixtures: one mock-engine run per stack, reused by every test that reads it."""

from __future__ import annotations

import pytest

from tests.harness import Run, run_program

# The three stack files plus a review environment that has no stack file at all.
STACKS = ["dev", "staging", "production", "pr-123"]


@pytest.fixture(scope="session")
def runs() -> dict[str, Run]:
    results = {stack: run_program(stack) for stack in STACKS}
    for stack, run in results.items():
        assert run.error is None, f"{stack}: {run.error}"
        # Guard against vacuous passes: a run that registered nothing proves nothing.
        assert len(run.kubernetes()) >= 5, f"{stack}: only {len(run.kubernetes())} Kubernetes objects"
    return results


@pytest.fixture(params=STACKS)
def run(request: pytest.FixtureRequest, runs: dict[str, Run]) -> Run:
    return runs[request.param]
