"""Shared fixtures: one mock-engine run per stack, reused by every test that reads it."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from tests.harness import Run, run_program

# CI (CI=true) and the mutation run draw the same examples every time: a property test there
# passes or fails for the code, never for the seed or the machine's load (issue 25). A developer's run stays random,
# to find what the fixed examples miss; HYPOTHESIS_PROFILE picks either explicitly.
settings.register_profile("deterministic", derandomize=True, database=None, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("deterministic" if os.environ.get("CI") else "default"))

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
