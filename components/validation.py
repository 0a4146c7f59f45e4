"""Reusable field types for the config model: Kubernetes quantities, DNS names, images.

Each type is a pydantic ``Annotated`` string with a validator whose message says what is
allowed, so a bad value fails with the key path and a hint instead of a cluster error later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

# Every pattern here is used with fullmatch, never match with '$': '$' also matches before a
# final newline, so "dev\n" would pass and reach the manifests.
# Kubernetes resource.Quantity grammar (apimachinery/pkg/api/resource/quantity.go).
_QUANTITY = re.compile(r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?P<suffix>[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal(10**3),
            "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15),
            "E": Decimal(10**18)}
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # a namespace; also each dot-separated part of a host name
# The distribution/reference grammar: [registry[:port]/]path[:tag][@digest], lower-case path.
_REPOSITORY = re.compile(
    r"(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::\d+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_CRON_FIELD = re.compile(r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*")
_DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_LABEL_KEY_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_SQL_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def parse_quantity(text: str) -> Decimal:
    """Return the value of a Kubernetes quantity in base units (cores or bytes)."""
    match = _QUANTITY.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number = Decimal(match["num"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix:
        return number * (Decimal(10) ** int(suffix[1:]))
    return number


def _number_to_text(value: Any) -> Any:
    # YAML turns `cpu: 1` into an int; Kubernetes accepts that, so do we.
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return format(value, "g") if isinstance(value, float) else str(value)
    return value


def _memory(text: str) -> str:
    if not _QUANTITY.fullmatch(text):
        hint = ""
        lowered = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmMgGtT])i?[bB]", text)
        if lowered:
            unit = lowered[2].upper()
            decimal = "k" if unit == "K" else unit
            hint = f"; did you mean '{lowered[1]}{unit}i' (binary) or '{lowered[1]}{decimal}' (decimal)?"
        raise ValueError(f"{text!r} is not a Kubernetes memory quantity (for example 256Mi, 1Gi, 500M){hint}")
    if text.endswith("m") or parse_quantity(text) < 1:
        raise ValueError(f"{text!r} is a fraction of a byte; memory uses Ki/Mi/Gi (for example 256Mi)")
    return text


def _cpu(text: str) -> str:
    if not _QUANTITY.fullmatch(text) or any(text.endswith(s) for s in _BINARY) or parse_quantity(text) <= 0:
        raise ValueError(f"{text!r} is not a CPU quantity (cores like 0.5 or 2, or millicores like 500m)")
    return text


def _storage(text: str) -> str:
    _memory(text)
    if parse_quantity(text) < 2**20:
        raise ValueError(f"{text!r} is too small for a volume (use Mi or Gi, for example 10Gi)")
    return text


def _matching(name: str, pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    """A validator that accepts what ``pattern`` matches and otherwise says the value is not ``what``."""

    def check(text: str) -> str:
        if not pattern.fullmatch(text):
            raise ValueError(f"{text!r} is not {what}")
        return text

    # tools/configdoc.py names the kind of a value after its validator.
    check.__name__ = check.__qualname__ = name
    return check


_dns_label = _matching(
    "_dns_label",
    DNS_LABEL,
    "a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)",
)
_tag = _matching("_tag", _TAG, "an image tag (letters, digits, '_', '.', '-'; at most 128)")
_digest = _matching("_digest", _DIGEST, "an image digest (sha256: followed by 64 hex digits)")
_duration = _matching("_duration", _DURATION, "a Prometheus duration (for example 30s, 15d)")
_env_name = _matching("_env_name", _ENV_NAME, "an environment variable name")
_sql_identifier = _matching(
    "_sql_identifier", _SQL_IDENTIFIER, "a plain SQL identifier (lower-case letters, digits, '_'; at most 63)"
)


def _hostname(text: str) -> str:
    body = text[2:] if text.startswith("*.") else text
    labels = body.split(".")
    if len(text) > 253 or len(labels) < 2 or not all(DNS_LABEL.fullmatch(part) for part in labels):
        raise ValueError(
            f"{text!r} is not a valid host name (lower-case DNS-1123 labels separated by dots, "
            "such as api.example.com; an optional leading '*.' wildcard)"
        )
    return text


def _repository(text: str) -> str:
    if ":" in text.rsplit("/", 1)[-1] or "@" in text:
        raise ValueError(f"{text!r}: put the tag in 'tag' and the digest in 'digest', not in 'repository'")
    if not _REPOSITORY.fullmatch(text) or len(text) > 255:
        raise ValueError(f"{text!r} is not an image repository (for example docker.io/library/postgres)")
    return text


def _cron(text: str) -> str:
    fields = text.split(" ")  # not split(): that would drop a trailing newline or tab
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        raise ValueError(f"{text!r} is not a 5-field cron schedule (fields separated by single spaces, for example '0 3 * * *')")
    return text


def _http_path(text: str) -> str:
    if not text.startswith("/") or any(c.isspace() for c in text):
        raise ValueError(f"{text!r} is not an HTTP path (it must start with '/' and contain no spaces)")
    return text


def _priority_class(text: str) -> str:
    """A PriorityClass is cluster-scoped and owned by the cluster's admins: config names one, the
    platform never creates it. The system-* classes are admitted in kube-system only."""
    if len(text) > 253 or not _DNS_SUBDOMAIN.fullmatch(text):
        raise ValueError(f"{text!r} is not a PriorityClass name (a DNS-1123 subdomain: lower-case letters, digits, '-', '.')")
    if text.startswith("system-"):
        raise ValueError(f"{text!r}: the system-* priority classes are reserved for kube-system; use one the cluster owners made")
    return text


def _label_key(text: str) -> str:
    prefix, _, name = text.rpartition("/")
    bad_prefix = prefix and not all(DNS_LABEL.fullmatch(p) for p in prefix.split("."))
    if bad_prefix or len(name) > 63 or not _LABEL_KEY_NAME.fullmatch(name):
        raise ValueError(f"{text!r} is not a Kubernetes label key ([prefix/]name, name at most 63 characters)")
    return text


def _label_value(text: str) -> str:
    if len(text) > 63 or not _LABEL_VALUE.fullmatch(text):
        raise ValueError(f"{text!r} is not a Kubernetes label value (at most 63 alphanumerics, '-', '_', '.')")
    return text


CpuQuantity = Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_cpu)]
MemoryQuantity = Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_memory)]
StorageQuantity = Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_storage)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Hostname = Annotated[str, AfterValidator(_hostname)]
ImageRepository = Annotated[str, AfterValidator(_repository)]
ImageTag = Annotated[str, AfterValidator(_tag)]
ImageDigest = Annotated[str, AfterValidator(_digest)]
CronSchedule = Annotated[str, AfterValidator(_cron)]
Duration = Annotated[str, AfterValidator(_duration)]
EnvName = Annotated[str, AfterValidator(_env_name)]
HttpPath = Annotated[str, AfterValidator(_http_path)]
LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
SqlIdentifier = Annotated[str, AfterValidator(_sql_identifier)]
PriorityClassName = Annotated[str, AfterValidator(_priority_class)]
Port = Annotated[int, Field(ge=1, le=65535)]
Percent = Annotated[int, Field(ge=1, le=100)]


def _problem(check: Callable[[str], str], value: Any) -> str | None:
    if not isinstance(value, str):
        return f"{value!r} is not a string"
    try:
        check(value)
    except ValueError as error:
        return str(error)
    return None


def label_key_problem(value: Any) -> str | None:
    """What is wrong with a label key (None: nothing), for checks outside the config model."""
    return _problem(_label_key, value)


def label_value_problem(value: Any) -> str | None:
    return _problem(_label_value, value)
