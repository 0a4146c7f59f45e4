"""A rotation that skips a generation is refused against what the stack's last update deployed (#22):
a store keeps a client's current and previous login only, so 1 -> 3 would drop the login the pods hold."""

from __future__ import annotations

from typing import Any

import pytest

from components.errors import ConfigError
from components.history import CREDENTIAL_GENERATIONS, rotation_step_problems
from tests.harness import run_program


def deployed(postgres: dict[str, int], redis: dict[str, int] | None = None) -> dict[str, Any]:
    return {"namespace": "staging", CREDENTIAL_GENERATIONS: {"postgres": postgres, "redis": redis or {}}}


def rotations(postgres: dict[str, int], redis: dict[str, int] | None = None) -> dict[str, Any]:
    return {"postgres": {"rotations": postgres}, "redis": {"rotations": redis or {}}}


@pytest.mark.parametrize(("before", "after"), [
    ({}, {"api": 2}),  # one step
    ({"api": 2}, {"api": 3, "metrics": 2}),
    ({"api": 2}, {"api": 2}),  # no change
])
def test_one_step_per_update_deploys_and_is_recorded(before: dict[str, int], after: dict[str, int]) -> None:
    run = run_program("staging", rotations(after), last_outputs=deployed(before))
    assert run.error is None, run.error
    assert run.outputs[CREDENTIAL_GENERATIONS] == {"postgres": after, "redis": {}}


@pytest.mark.parametrize(("before", "after", "message"), [
    ({}, {"api": 3}, "platform:postgres.rotations.api: 3 is more than one above the deployed generation 1"),
    ({"api": 3}, {"api": 2}, "platform:postgres.rotations.api: 2 is below the deployed generation 3"),
    ({"api": 2}, {}, "platform:postgres.rotations.api: 1 is below the deployed generation 2"),  # the key removed
])
def test_a_skipped_or_lowered_generation_is_refused_before_anything_registers(
    before: dict[str, int], after: dict[str, int], message: str
) -> None:
    run = run_program("staging", rotations(after), last_outputs=deployed(before))
    assert isinstance(run.error, ConfigError), run.error
    assert any(p.startswith(message) for p in run.error.problems), run.error.problems
    assert [r for r in run.resources if r.type != "pulumi:pulumi:Stack"] == []


def test_redis_is_checked_too_and_every_problem_is_listed() -> None:
    run = run_program("staging", rotations({"api": 3}, {"api": 4}), last_outputs=deployed({}, {"api": 2}))
    assert isinstance(run.error, ConfigError), run.error
    assert [p.split(":")[1] for p in run.error.problems] == ["postgres.rotations.api", "redis.rotations.api"]


def test_a_new_stack_or_one_deployed_before_generations_were_recorded() -> None:
    assert rotation_step_problems("postgres", None, {"api": 5}) == []  # nothing deployed yet: any start
    assert run_program("staging", rotations({"api": 3}), last_outputs=None).error is None
    # deployed before the output existed: one login per store, every key at generation 1
    older = run_program("staging", rotations({"api": 3}), last_outputs={"namespace": "staging"})
    assert isinstance(older.error, ConfigError) and "deployed generation 1" in str(older.error)
