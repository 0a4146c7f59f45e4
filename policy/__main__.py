"""Entry point the Pulumi CLI runs for `--policy-pack policy`: constructing PolicyPack serves it.

Never import this module from tests (it starts a gRPC server and blocks); import validators.py.
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(name="platform-invariants", enforcement_level=EnforcementLevel.MANDATORY, policies=list(POLICIES))
