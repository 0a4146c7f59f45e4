"""What each kind of environment means, in one table: every rule and default that differs between
dev, staging, production and a short-lived review environment reads a trait here, never a name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import ConfigError

EnvironmentName = Literal["dev", "staging", "production", "ephemeral"]
NAMED_ENVIRONMENTS = ("dev", "staging", "production")


@dataclass(frozen=True)
class EnvironmentProfile:
    """The traits of one kind of environment."""

    name: EnvironmentName
    replicas: int  # API pods by default
    durable: bool  # data outlives the pods: persistent volumes, backups, Guaranteed memory
    protect_data: bool  # the engine refuses to delete data-bearing objects (`pulumi destroy` fails)
    retain_data: bool  # data-bearing objects (and the namespace) are left in the cluster when deleted
    strict: bool  # refuses defaults that are only safe for throwaway environments
    autoscaling: bool  # the API runs under an HPA by default
    debug_logs: bool
    monitoring: Literal["install", "existing", "off"]  # how Prometheus is found by default
    delete_unreachable: bool  # destroy clears the state even when the cluster is already gone

    @property
    def guaranteed_data_memory(self) -> bool:
        return self.durable

    @property
    def deleted_with_namespace(self) -> bool:
        """Deleting the namespace deletes all in it: destroy then deletes one object."""
        return not self.retain_data


PROFILES: dict[str, EnvironmentProfile] = {
    "dev": EnvironmentProfile(
        "dev", replicas=1, durable=False, protect_data=False, retain_data=False, strict=False, autoscaling=False,
        debug_logs=True, monitoring="install", delete_unreachable=False,
    ),
    "staging": EnvironmentProfile(
        "staging", replicas=2, durable=True, protect_data=False, retain_data=True, strict=False, autoscaling=False,
        debug_logs=False, monitoring="existing", delete_unreachable=False,
    ),
    "production": EnvironmentProfile(
        "production", replicas=3, durable=True, protect_data=True, retain_data=True, strict=True, autoscaling=True,
        debug_logs=False, monitoring="existing", delete_unreachable=False,
    ),
    "ephemeral": EnvironmentProfile(
        "ephemeral", replicas=1, durable=False, protect_data=False, retain_data=False, strict=False, autoscaling=False,
        debug_logs=False, monitoring="off", delete_unreachable=True,
    ),
}
ENVIRONMENTS = tuple(PROFILES)


def profile(environment: str) -> EnvironmentProfile:
    """The profile of ``environment``; a ``ConfigError`` naming the allowed ones otherwise."""
    if environment not in PROFILES:
        raise ConfigError([f"platform:environment: {environment!r} is not one of {', '.join(ENVIRONMENTS)}"])
    return PROFILES[environment]


def environment_for(stack: str, override: str = "") -> str:
    """dev, staging and production are themselves; any other stack is a review environment."""
    if override:
        return override
    return stack if stack in NAMED_ENVIRONMENTS else "ephemeral"
