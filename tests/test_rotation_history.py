"""A rotation that skips a generation is refused against what the stack's last update deployed (#22):
a store keeps a client's current and previous login only, so 1 -> 3 would drop the login the pods hold."""

from __future__ import annotations

from typing import Any

import pytest

from components import history
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


class _Invoke:
    """pulumi.runtime.invoke answering with ``errors`` first, then the stack's outputs."""

    def __init__(self, errors: list[str]):
        self.errors, self.calls = list(errors), 0

    def __call__(self, token: str, args: dict[str, Any]) -> Any:
        self.calls += 1
        if self.errors:
            raise Exception(self.errors.pop(0))
        return type("Result", (), {"value": {"outputs": {"namespace": "dev"}}})()


def _reader(monkeypatch: pytest.MonkeyPatch, errors: list[str]) -> _Invoke:
    invoke = _Invoke(errors)
    monkeypatch.setattr(history.pulumi.runtime, "invoke", invoke)
    monkeypatch.setattr(history.pulumi, "get_organization", lambda: "organization")
    monkeypatch.setattr(history.pulumi, "get_project", lambda: "platform")
    monkeypatch.setattr(history.pulumi, "get_stack", lambda: "dev")
    return invoke


RACE = "invocation of pulumi:pulumi:readStackOutputs returned an error: failed to load checkpoint: EOF"


def test_a_read_racing_the_engines_checkpoint_write_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    invoke = _reader(monkeypatch, [RACE, RACE])
    assert history.last_outputs(pause=0) == {"namespace": "dev"}
    assert invoke.calls == 3


@pytest.mark.parametrize("errors", [[RACE] * history.READ_ATTEMPTS, ["permission denied"]])
def test_any_other_failure_or_a_lasting_race_is_raised_never_read_as_nothing(
    monkeypatch: pytest.MonkeyPatch, errors: list[str]
) -> None:
    _reader(monkeypatch, errors)
    with pytest.raises(Exception, match=errors[-1].split(": ")[-1]):
        history.last_outputs(pause=0)
