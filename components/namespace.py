"""Where components deploy: one namespace, its environment profile and quota, and every name claimed in it.

Every component hands the ``NamespaceRef`` it deploys into the Kubernetes names it will create
(derived suffixes included) and what it runs, before it registers anything. A second claim of a
name, or a footprint past the namespace's quota, fails there, naming both claimants: a preview
fails instead of an ``up`` stopping half-way with AlreadyExists or "exceeded quota".

The claims of a namespace are kept per Pulumi program (per root Stack resource) and namespace
name, so two ``NamespaceRef``s or ``Environment``s of one namespace share them.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from .errors import ConfigError
from .profiles import EnvironmentProfile, profile
from .settings.base import Footprint
from .settings.namespace import LimitRangeConfig, Quota, limit_range_problems, quota_problems
from .validation import DNS_LABEL

# The cluster's own namespaces: a default-deny policy or a quota there takes down DNS and system pods.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
# Names of pods a component runs, for claims: two workloads whose pods carry the same name label
# would be selected by each other's Services and policies.
PODS = "pods"


@dataclass(frozen=True)
class StoreRecord:
    """What a data store told its namespace when it claimed its names: a connection must match it."""

    kind: str  # database, cache
    pod_labels: Mapping[str, str]
    clients: tuple[Mapping[str, str], ...]


@dataclass
class _Ledger:
    """The names claimed so far, the footprint admitted so far and the stores of one namespace."""

    names: dict[tuple[str, str], str] = field(default_factory=dict)
    footprint: Footprint = field(default_factory=Footprint)
    stores: dict[str, StoreRecord] = field(default_factory=dict)


# {root Stack resource, or (outside a program run) the object asking: {scope: ledger}}.
_LEDGERS: weakref.WeakKeyDictionary[Any, dict[str, _Ledger]] = weakref.WeakKeyDictionary()


def ledger(scope: str, owner: Any) -> _Ledger:
    """The ledger of ``scope`` (a namespace, or ``cluster``) in the running program."""
    key = pulumi.runtime.settings.get_root_resource() or owner
    return _LEDGERS.setdefault(key, {}).setdefault(scope, _Ledger())


def claim_in(scope: str, owner: Any, claimant: str, names: Iterable[tuple[str, str]], where: str) -> None:
    """Claim ``(kind, name)`` pairs in ``scope``; raises naming both claimants. ``where`` says it."""
    book, wanted = ledger(scope, owner), list(names)
    problems = [
        f"{claimant}: {kind} {name!r} {where} is already claimed by {book.names[(kind, name)]}; "
        "give one of them another instance name"
        for kind, name in wanted
        if (kind, name) in book.names
    ]
    repeated = sorted({pair for pair in wanted if wanted.count(pair) > 1})
    problems += [f"{claimant}: creates {kind} {name!r} twice" for kind, name in repeated]
    if problems:
        raise ConfigError(problems)
    book.names.update(dict.fromkeys(wanted, claimant))


@dataclass(frozen=True, kw_only=True)
class NamespaceRef:
    """A namespace components deploy into. ``Environment`` makes one for the namespace it owns (its
    ``ref``); for a namespace someone else owns, make one yourself. Its owner must let the pods
    resolve names (the Environment's ``allow-dns-egress`` policy does that in its own namespace).

    Attributes:
        name: the namespace (not one of the cluster's own: default, kube-*).
        environment: dev, staging, production or ephemeral: the profile components follow there
            (protection, retention, strictness).
        quota: the namespace's quota; components that do not fit it are refused (None: not checked).
        limit_range: its per-container ceiling; a container above it is refused (None: not checked).
    """

    name: str
    environment: str
    quota: Quota | None = None
    limit_range: LimitRangeConfig | None = None

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.name, str) or not DNS_LABEL.fullmatch(self.name):
            problems.append(
                f"NamespaceRef.name: {self.name!r} is not a namespace name (a DNS-1123 label: lower-case letters, "
                "digits and '-', at most 63)"
            )
        elif self.name in SYSTEM_NAMESPACES:
            problems.append(f"NamespaceRef.name: {self.name!r} is the cluster's own namespace; deploy into one of yours")
        try:
            profile(self.environment)
        except ConfigError as error:
            problems += [p.replace("platform:environment", "NamespaceRef.environment") for p in error.problems]
        if self.quota is not None and not isinstance(self.quota, Quota):
            problems.append(f"NamespaceRef.quota: must be a Quota or None (got {type(self.quota).__name__})")
        if self.limit_range is not None and not isinstance(self.limit_range, LimitRangeConfig):
            got = type(self.limit_range).__name__
            problems.append(f"NamespaceRef.limit_range: must be a LimitRangeConfig or None (got {got})")
        if problems:
            raise ConfigError(problems)

    @property
    def profile(self) -> EnvironmentProfile:
        return profile(self.environment)

    def claim(self, claimant: str, names: Iterable[tuple[str, str]], footprint: Footprint | None = None) -> None:
        """Claim ``(kind, name)`` pairs and admit ``footprint`` for ``claimant`` (``"Redis 'cache'"``);
        raises ``ConfigError`` naming both claimants, or the quota key, before anything is registered."""
        book = ledger(self.name, self)
        total = book.footprint + (footprint or Footprint())
        # Never exceeded before: a claim that would is refused.
        refused = quota_problems(self.quota, total) if self.quota is not None else []
        refused += limit_range_problems(self.limit_range, footprint) if self.limit_range and footprint else []
        if refused:
            raise ConfigError([f"{claimant} does not fit namespace {self.name!r}: {p}" for p in refused])
        claim_in(self.name, self, claimant, names, f"in namespace {self.name!r}")
        book.footprint = total

    def register_store(self, instance: str, record: StoreRecord) -> None:
        """A data store's identity and clients, which connections handed to services must match."""
        ledger(self.name, self).stores[instance] = record

    def store(self, instance: str) -> StoreRecord | None:
        return ledger(self.name, self).stores.get(instance)

    def claimant_of(self, kind: str, name: str) -> str | None:
        """Who claimed a name (None: nobody yet)."""
        return ledger(self.name, self).names.get((kind, name))
