"""What this stack's last update deployed, read back from its own outputs: a program hands it to the
components whose settings could delete data by changing shape (``PostgresArgs.deployed``).

The engine serves a stack's outputs to its own program (the builtin ``readStackOutputs`` invoke a
``StackReference`` uses); a stack never updated has none. Outputs are what the last *successful*
update wrote, so an interrupted update repeats the check against the same, older, state.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pulumi

from .contracts import raise_if
from .errors import PROJECT

# The stack output that records each Postgres instance's deployed modes (statefulset, cloudnativepg).
POSTGRES_MODES = "postgresModes"


# The file backend rewrites the stack's checkpoint as an update starts, while the program already runs:
# a read racing that write fails with "failed to load checkpoint: EOF" (seen on a new stack's first up).
CHECKPOINT_RACE = "failed to load checkpoint"
READ_ATTEMPTS = 6


def last_outputs(pause: float = 0.25) -> Mapping[str, Any]:
    """This stack's outputs after its last update (empty: never updated, or under mocks). A read that races
    the engine's checkpoint write is retried; any other failure, or a race that outlasts the retries, is raised:
    the checks that use these outputs guard data and must not pass on nothing."""
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            value = pulumi.runtime.invoke("pulumi:pulumi:readStackOutputs", {"name": name}).value or {}
            return value.get("outputs") or {}
        except Exception as error:
            if CHECKPOINT_RACE not in str(error) or attempt == READ_ATTEMPTS:
                raise
            time.sleep(pause * attempt)
    raise AssertionError("unreachable")


def postgres_deployed(outputs: Mapping[str, Any], instance: str) -> tuple[str, ...] | None:
    """What the last update deployed for the Postgres ``instance`` (None: nothing known, a new stack or instance).
    A stack updated before modes were recorded ran the only mode there was: the statefulset."""
    if not outputs:
        return None
    modes = outputs.get(POSTGRES_MODES)
    if modes is None:
        return ("statefulset",)
    return tuple(modes.get(instance) or ()) or None


# The stack output that records each store's credential generations (``<store>.rotations``) as deployed.
CREDENTIAL_GENERATIONS = "credentialGenerations"


def generations_deployed(outputs: Mapping[str, Any], instance: str) -> Mapping[str, int] | None:
    """The ``rotations`` the last update deployed for a store (None: nothing known, a new stack or store).
    A stack updated before generations were recorded had one login per store: every key at generation 1."""
    if not outputs:
        return None
    recorded = outputs.get(CREDENTIAL_GENERATIONS)
    if recorded is None:
        return {}
    return recorded.get(instance)


def rotation_step_problems(config_key: str, before: Mapping[str, int] | None, after: Mapping[str, int]) -> list[str]:
    """A store keeps a client's current and previous generation only: a generation raised by more than
    one per update drops the login the client's running pods still hold, and a lowered one revives a revoked
    one. Both are refused, naming ``<config_key>.rotations.<client>``."""
    if before is None:
        return []
    problems = []
    for key in sorted(set(before) | set(after)):
        old, new = int(before.get(key, 1)), int(after.get(key, 1))
        where = f"{PROJECT}:{config_key}.rotations.{key}"
        if new > old + 1:
            problems.append(f"{where}: {new} is more than one above the deployed generation {old}; raise it by one per "
                            f"`pulumi up` ({old + 1} now), or the login its pods hold is dropped before they roll")
        elif new < old:
            problems.append(f"{where}: {new} is below the deployed generation {old}; generations only go up")
    return problems


def check_rotations(outputs: Mapping[str, Any], stores: Mapping[str, tuple[str, Mapping[str, int]]]) -> None:
    """Refuse, before anything registers, a rotation step the stores cannot take without an outage.
    ``stores`` maps a store instance to its config key and ``rotations``."""
    raise_if([
        problem for instance, (config_key, rotations) in stores.items()
        for problem in rotation_step_problems(config_key, generations_deployed(outputs, instance), rotations)
    ])
