"""The CrossGuard policy objects, built from the plain validators (no PolicyPack here).

Importable without starting a policy server, so a smoke test can run each policy through
the real pulumi_policy argument types. Runs with policy/ as the working directory (the
CLI's layout), hence the top-level ``validators`` import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from validators import DEFAULTS, RESOURCE_CHECKS, STACK_CHECKS, ResourceCheck, StackCheck, Subject

# Policy config a stack may pass (--policy-pack-config), with this project's defaults.
SCHEMAS: dict[str, dict[str, dict[str, Any]]] = {
    "service-type": {"allowedServiceTypes": {"type": "array", "items": {"type": "string"}}},
    "production-replicas": {
        "replicatedComponents": {"type": "array", "items": {"type": "string"}},
        "minProductionReplicas": {"type": "integer", "minimum": 1},
    },
}


def _schema(name: str) -> PolicyConfigSchema | None:
    properties = SCHEMAS.get(name)
    if not properties:
        return None
    return PolicyConfigSchema({key: {**spec, "default": DEFAULTS[key]} for key, spec in properties.items()})


def subject(resource: ResourceValidationArgs | PolicyResource) -> Subject:
    return Subject(resource.resource_type, resource.props, resource.urn, bool(resource.opts.protect))


def _options(name: str, description: str) -> dict[str, Any]:
    """What every policy of the pack shares: mandatory, with its config schema if it has one."""
    return {
        "name": name,
        "description": description,
        "enforcement_level": EnforcementLevel.MANDATORY,
        "config_schema": _schema(name),
    }


def _config(args: ResourceValidationArgs | StackValidationArgs) -> Mapping[str, Any]:
    return args.get_config() or {}


def resource_policy(name: str, description: str, check: ResourceCheck) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(subject(args), _config(args)):
            report_violation(message, None)

    return ResourceValidationPolicy(validate=validate, **_options(name, description))


def stack_policy(name: str, description: str, check: StackCheck) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in check([subject(r) for r in args.resources], _config(args)):
            report_violation(message, urn or None)

    return StackValidationPolicy(validate=validate, **_options(name, description))


POLICIES = [resource_policy(name, text, check) for name, (text, check) in RESOURCE_CHECKS.items()] + [
    stack_policy(name, text, check) for name, (text, check) in STACK_CHECKS.items()
]
