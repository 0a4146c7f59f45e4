"""The one error every contract and config check raises: all problems at once, each naming its key."""

from __future__ import annotations

import pulumi

PROJECT = "platform"  # the stack-config namespace every key is named under: platform:<group>.<key>


class ConfigError(pulumi.RunError):
    """Every problem at once; ``pulumi`` prints it without a traceback."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration ({len(problems)} problem(s)):\n{listing}")
