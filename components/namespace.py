"""Where components deploy: one namespace, its environment profile and quota, and every name claimed in it.

Every component hands the ``NamespaceRef`` it deploys into the Kubernetes names it will create
(derived suffixes included) and what it runs, before it registers anything. A second claim of a
name, or a footprint past the namespace's quota, fails there, naming both claimants: a preview
fails instead of an ``up`` stopping half-way with AlreadyExists or "exceeded quota".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import ConfigError
from .profiles import EnvironmentProfile, profile
from .settings.base import Footprint
from .settings.namespace import Quota, quota_problems

# A DNS-1123 label: a namespace name.
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Names of pods a component runs, for claims: two workloads whose pods carry the same name label
# would be selected by each other's Services and policies.
PODS = "pods"


@dataclass
class _Ledger:
    """The names claimed so far and the footprint admitted so far (mutable, one per namespace)."""

    names: dict[tuple[str, str], str] = field(default_factory=dict)
    footprint: Footprint = field(default_factory=Footprint)


@dataclass(frozen=True, kw_only=True)
class NamespaceRef:
    """A namespace components deploy into. ``Environment`` makes one for the namespace it owns (its
    ``ref``); for a namespace someone else owns, make one yourself and share it between components.

    Attributes:
        name: the namespace.
        environment: dev, staging, production or ephemeral: the profile components follow there.
        quota: the namespace's quota; components that do not fit it are refused (None: not checked).
    """

    name: str
    environment: str
    quota: Quota | None = None
    _ledger: _Ledger = field(default_factory=_Ledger, compare=False, repr=False)

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.name, str) or not _NAMESPACE.fullmatch(self.name):
            problems.append(
                f"NamespaceRef.name: {self.name!r} is not a namespace name (a DNS-1123 label: lower-case letters, "
                "digits and '-', at most 63)"
            )
        try:
            profile(self.environment)
        except ConfigError as error:
            problems += [p.replace("platform:environment", "NamespaceRef.environment") for p in error.problems]
        if problems:
            raise ConfigError(problems)

    @property
    def profile(self) -> EnvironmentProfile:
        return profile(self.environment)

    def claim(self, claimant: str, names: Iterable[tuple[str, str]], footprint: Footprint | None = None) -> None:
        """Claim ``(kind, name)`` pairs and admit ``footprint`` for ``claimant`` (``"Redis 'cache'"``);
        raises ``ConfigError`` naming both claimants, or the quota key, before anything is registered."""
        ledger, wanted = self._ledger, list(names)
        problems = [
            f"{claimant}: {kind} {name!r} in namespace {self.name!r} is already claimed by {ledger.names[(kind, name)]}; "
            "give one of them another instance name"
            for kind, name in wanted
            if (kind, name) in ledger.names
        ]
        repeated = sorted({pair for pair in wanted if wanted.count(pair) > 1})
        problems += [f"{claimant}: creates {kind} {name!r} twice" for kind, name in repeated]
        total = ledger.footprint + (footprint or Footprint())
        if self.quota is not None:  # never exceeded before: a claim that would is refused
            refused = quota_problems(self.quota, total)
            problems += [f"{claimant} does not fit the quota of namespace {self.name!r}: {p}" for p in refused]
        if problems:
            raise ConfigError(problems)
        ledger.names.update(dict.fromkeys(wanted, claimant))
        ledger.footprint = total

    def claimant_of(self, kind: str, name: str) -> str | None:
        """Who claimed a name (None: nobody yet)."""
        return self._ledger.names.get((kind, name))
