"""Checks every component runs on its arguments before it registers anything: each problem names the
argument and what is allowed, in one ``ConfigError`` (the same error stack config raises)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfigError
from .validation import DNS_LABEL, label_key_problem, label_value_problem

# A DNS-1035 label (Service names need one) short enough for the longest derived name, such as
# `<instance>-headless` or a StatefulSet pod's controller-revision-hash label.
INSTANCE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?")


def instance_name_problems(name: Any) -> list[str]:
    if isinstance(name, str) and INSTANCE_NAME.fullmatch(name):
        return []
    return [
        f"{name!r} is not an instance name: 1 to 40 lowercase letters, digits and '-', starting with a letter and "
        "ending with a letter or digit (every Kubernetes name of the instance derives from it)"
    ]


def require(args: Any, expected: type, component: str, name: str) -> None:
    """The component's own name and Args type, before anything else is looked at."""
    problems = [f"{component} {name!r}: {p}" for p in instance_name_problems(name)]
    if not isinstance(args, expected):
        problems.append(f"{component} {name!r}: args must be {expected.__name__} (got {type(args).__name__})")
    if problems:
        raise ConfigError(problems)


def of_type(value: Any, expected: type | tuple[type, ...], argument: str, what: str) -> list[str]:
    """[] if ``value`` is an instance of ``expected``, else one problem naming ``argument``."""
    if isinstance(value, expected):
        return []
    return [f"{argument}: must be {what} (got {type(value).__name__} {_short(value)})"]


def sequence_of(value: Any, expected: type | tuple[type, ...], argument: str, what: str) -> list[str]:
    """A list or tuple whose items are all ``expected`` (a lone string is not a list of names)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        return [f"{argument}: must be a list of {what} (got {type(value).__name__} {_short(value)})"]
    return [p for i, item in enumerate(value) for p in of_type(item, expected, f"{argument}[{i}]", what)]


def dns_label(value: Any, argument: str, optional: bool = False) -> list[str]:
    if optional and value is None:
        return []
    if isinstance(value, str) and DNS_LABEL.fullmatch(value):
        return []
    return [f"{argument}: {value!r} is not a namespace name (a DNS-1123 label: lower-case letters, digits and '-')"]


def scraper_problems(value: Any, own_namespace: str, argument: str) -> list[str]:
    """A monitoring namespace a workload admits scrapes from: a namespace, and not its own."""
    if value is not None and value == own_namespace:
        return [f"{argument}: {value!r} is the workload's own namespace: every pod there could scrape it"]
    return dns_label(value, argument, optional=True)


def label_set(value: Any, argument: str) -> list[str]:
    """A non-empty map of valid label keys to valid label values (a pod selector)."""
    if not isinstance(value, Mapping) or not value:
        return [f"{argument}: must be a non-empty map of pod labels (got {type(value).__name__} {value!r})"]
    problems = []
    for key, label in value.items():
        problems += [f"{argument}: {p}" for p in (label_key_problem(key), label_value_problem(label)) if p]
    return problems


def raise_if(problems: list[str]) -> None:
    if problems:
        raise ConfigError(problems)


def _short(value: Any) -> str:
    """A value for an error message: a long repr (a whole settings object) cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
