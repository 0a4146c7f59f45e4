"""Stack config: the only module that reads ``pulumi.Config``.

Stack config is grouped the way mature Helm charts group values (``platform:api``,
``platform:postgres``, ...), one group per component, each defined beside its component in
``components/settings/``. ``load_config`` layers, per group: the library's neutral defaults for the
stack's environment profile, the program's own choices (``overrides``), then the stack's values.
It validates everything with pydantic (unknown keys are errors), runs each group's rules and the
rules that span groups, and raises one ``ConfigError`` listing every problem, each with its full key
path, before a single resource is registered.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import pulumi

from .errors import PROJECT, ConfigError
from .profiles import ENVIRONMENTS, PROFILES, EnvironmentName, EnvironmentProfile, environment_for
from .settings import (
    GROUPS,
    ApiConfig,
    ClusterConfig,
    IngressConfig,
    MonitoringConfig,
    NamespaceConfig,
    PostgresConfig,
    RedisConfig,
)
from .settings.base import Footprint, Group, Model, deep_merge, digest_warnings, group_rules, validate_group
from .settings.namespace import limit_range_problems, quota_problems

# Scalar keys, declared with types in Pulumi.yaml (Pulumi's project schema has no objects).
SCALARS = {"environment": ""}
# A program's own choices over the library's defaults: {group key: overrides in stack-config spelling}.
Overrides = Callable[[EnvironmentProfile, str], Mapping[str, Mapping[str, Any]]]


class PlatformConfig(Model):
    """The whole, validated configuration of one stack."""

    stack: str
    environment: EnvironmentName
    cluster: ClusterConfig
    namespace: NamespaceConfig
    api: ApiConfig
    postgres: PostgresConfig
    redis: RedisConfig
    ingress: IngressConfig
    monitoring: MonitoringConfig

    @property
    def profile(self) -> EnvironmentProfile:
        return PROFILES[self.environment]

    @property
    def groups(self) -> list[Group]:
        return [getattr(self, key) for key in GROUPS]

    @property
    def footprint(self) -> Footprint:
        """What every component of this stack runs in its namespace."""
        total = Footprint()
        for group in self.groups:
            total += group.footprint()
        return total

    @property
    def protect_data(self) -> bool:
        """The engine refuses a routine ``pulumi destroy`` of data (production)."""
        return self.profile.protect_data

    @property
    def retain_data(self) -> bool:
        """Volumes (and the namespace) stay when objects go away (staging, production)."""
        return self.profile.retain_data


def environment_defaults(environment: str, stack: str, overrides: Overrides | None = None) -> dict[str, Any]:
    """Every group's defaults for one environment, as stack config would spell them (camelCase):
    the library's, with the program's ``overrides`` over them; the namespace is the stack's name."""
    env = PROFILES[environment]
    program = overrides(env, stack) if overrides else {}
    result = {}
    for key, model in GROUPS.items():
        base = model.defaults(env) | ({"name": stack} if key == "namespace" else {})
        result[key] = deep_merge(model, base, program.get(key, {}))
    return result


def load_config(stack: str, raw: Mapping[str, Any], overrides: Overrides | None = None) -> PlatformConfig:
    """Validate one stack's raw config (keys without the ``platform:`` prefix).

    Pure: no Pulumi runtime needed, so every rule is testable directly.
    """
    problems: list[str] = []
    unknown = sorted(set(raw) - set(GROUPS) - set(SCALARS))
    problems += [
        f"{PROJECT}:{key}: unknown key; allowed top-level keys are {', '.join(sorted({*GROUPS, *SCALARS}))}"
        for key in unknown
    ]
    environment = raw.get("environment") or ""
    if environment and environment not in ENVIRONMENTS:
        problems.append(f"{PROJECT}:environment: {environment!r} is not one of {', '.join(ENVIRONMENTS)}")
        environment = ""
    environment = environment_for(stack, environment)
    defaults = environment_defaults(environment, stack, overrides)

    groups: dict[str, Group] = {}
    for key, model in GROUPS.items():
        value = raw.get(key, {})
        if not isinstance(value, Mapping):
            problems.append(f"{PROJECT}:{key}: must be an object of settings (got {value!r})")
            continue
        group, found = validate_group(model, deep_merge(model, defaults[key], value), value)
        problems += found
        if group is not None:
            groups[key] = group
    if problems:
        raise ConfigError(problems)
    config = PlatformConfig.model_validate({"stack": stack, "environment": environment, **groups})
    problems = [p for group in config.groups for p in group_rules(group, config.profile)] + _relations(config)
    if problems:
        raise ConfigError(problems)
    return config


def _relations(config: PlatformConfig) -> list[str]:
    """Rules that span groups: each one would otherwise fail later, inside the cluster."""
    problems = quota_problems(config.namespace.quota, config.footprint)
    problems += limit_range_problems(config.namespace.limit_range, config.footprint)
    if config.api.metrics_port is None and config.ingress.kind == "ingress":
        problems.append(
            f"{PROJECT}:api.metricsPort: null serves {config.api.metrics_path} on the port the Ingress exposes, and an "
            "Ingress cannot deny a path portably; give the app a metrics port, or use ingress.kind 'gateway' (its route "
            "denies the path)"
        )
    return problems


def config_warnings(config: PlatformConfig) -> list[str]:
    """Settings that are allowed but risky: printed at preview, never an error."""
    own = [w for group in config.groups for w in group.warnings(config.profile)]
    return own + digest_warnings(config.footprint, config.profile)


def read_pulumi_config() -> tuple[str, dict[str, Any]]:
    """The stack name and this project's raw config, as the Pulumi engine passed it."""
    from pulumi.runtime import config as runtime_config

    prefix = f"{PROJECT}:"
    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    for full_key, value in everything.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        if isinstance(value, str) and key in GROUPS:
            with contextlib.suppress(json.JSONDecodeError):  # reported by load_config as "must be an object"
                value = json.loads(value)
        raw[key] = value
    secret_keys = runtime_config.get_config_secret_keys_env() + list(runtime_config._SECRET_KEYS.get())
    secret = sorted(k for k in secret_keys if k.startswith(prefix))
    if secret:
        raise ConfigError(
            [f"{k}: is set as a secret, but this project takes no secrets in config (passwords are generated)" for k in secret]
        )
    return pulumi.get_stack(), raw


def from_pulumi(overrides: Overrides | None = None) -> PlatformConfig:
    """Load and validate the running stack's config; raises ConfigError before any resource. Its
    warnings are printed by the components they concern, whoever builds them."""
    stack, raw = read_pulumi_config()
    return load_config(stack, raw, overrides)
