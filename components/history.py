"""What this stack's last update deployed, read back from its own outputs: a program hands it to the
components whose settings could delete data by changing shape (``PostgresArgs.deployed``).

The engine serves a stack's outputs to its own program (the builtin ``readStackOutputs`` invoke a
``StackReference`` uses); a stack never updated has none. Outputs are what the last *successful*
update wrote, so an interrupted update repeats the check against the same, older, state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

# The stack output that records each Postgres instance's deployed modes (statefulset, cloudnativepg).
POSTGRES_MODES = "postgresModes"


def last_outputs() -> Mapping[str, Any]:
    """This stack's outputs after its last update (empty: never updated, or under mocks)."""
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    value = pulumi.runtime.invoke("pulumi:pulumi:readStackOutputs", {"name": name}).value or {}
    return value.get("outputs") or {}


def postgres_deployed(outputs: Mapping[str, Any], instance: str) -> tuple[str, ...] | None:
    """What the last update deployed for the Postgres ``instance`` (None: nothing known, a new stack or instance).
    A stack updated before modes were recorded ran the only mode there was: the statefulset."""
    if not outputs:
        return None
    modes = outputs.get(POSTGRES_MODES)
    if modes is None:
        return ("statefulset",)
    return tuple(modes.get(instance) or ()) or None
