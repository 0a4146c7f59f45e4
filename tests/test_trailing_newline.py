"""Issue 25: a validated value with a trailing newline is refused, in every field family.

``re.match`` with a pattern ending in ``$`` accepts "dev\\n" ('$' also matches before a final
newline), and such a value reached the manifests. Each case loads a good value (so the rule is
not refusing everything) and the same value plus "\\n", which must fail naming its key.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.errors import ConfigError
from components.validation import parse_quantity
from environments import load_config
from policy import validators

STORE = {"endpoint": "s3.eu-central-1.amazonaws.com", "bucket": "acme-backups", "prefix": "platform/prod/",
         "region": "eu-central-1", "existingSecret": "backup-s3"}
RECEIVER = {"name": "oncall", "webhookUrlSecret": "oncall-webhook", "webhookUrlKey": "url"}


def nest(path: str, value: Any) -> dict[str, Any]:
    """``nest("api.image.tag", v)`` -> ``{"api": {"image": {"tag": v}}}``."""
    for key in reversed(path.split(".")):
        value = {key: value}
    return value


def scalar(stack: str, path: str, good: str) -> tuple[str, dict[str, Any], dict[str, Any], str]:
    return stack, nest(path, good), nest(path, good + "\n"), path


def keyed(stack: str, path: str, good: Any, bad: Any) -> tuple[str, dict[str, Any], dict[str, Any], str]:
    return stack, nest(path, good), nest(path, bad), path


CASES = {
    "dns label": scalar("dev", "namespace.name", "dev"),
    "host name": scalar("production", "ingress.host", "api.example.com"),
    "image repository": scalar("dev", "api.image.repository", "ghcr.io/stefanprodan/podinfo"),
    "image tag": scalar("dev", "api.image.tag", "6.7.1"),
    "image digest": scalar("dev", "api.image.digest", "sha256:" + "a" * 64),
    "cron schedule": scalar("staging", "postgres.backup.schedule", "0 3 * * *"),
    "duration": scalar("dev", "monitoring.retention", "7d"),
    "sql identifier (database)": scalar("dev", "postgres.database", "myapp"),
    "sql identifier (user)": scalar("dev", "postgres.user", "app"),
    "priority class": scalar("dev", "api.priorityClassName", "platform-api"),
    "cpu quantity": scalar("dev", "api.resources.requests.cpu", "100m"),
    "memory quantity": scalar("dev", "redis.maxmemory", "64Mi"),
    "storage quantity": scalar("dev", "postgres.persistence.size", "1Gi"),
    "http path": scalar("dev", "api.metricsPath", "/metrics"),
    "chart version": scalar("dev", "monitoring.chartVersion", "88.3.0"),
    "env name": keyed("dev", "api.env", {"FEATURE_X": "1"}, {"FEATURE_X\n": "1"}),
    "label key": keyed("dev", "monitoring.selectorLabels", {"release": "x"}, {"release\n": "x"}),
    "label value": keyed("dev", "monitoring.selectorLabels", {"release": "x"}, {"release": "x\n"}),
    "annotation key": keyed("dev", "ingress.annotations", {"example.com/limit": "1"}, {"example.com/limit\n": "1"}),
    "config file name": keyed("dev", "api.files", {"extra.yaml": "a: 1"}, {"extra.yaml\n": "a: 1"}),
    "ini section": keyed("dev", "api.configIni", {"main": {"a": "b"}}, {"main\n": {"a": "b"}}),
    "ini key": keyed("dev", "api.configIni", {"main": {"a": "b"}}, {"main": {"a\n": "b"}}),
    # pydantic Field(pattern=...): pydantic-core's Rust regex engine, where '$' is the end of the text.
    **{
        f"object store {field}": keyed("production", "postgres.backup.objectStore", STORE, {**STORE, field: STORE[field] + "\n"})
        for field in ("bucket", "prefix", "region")
    },
    "webhook key": keyed("dev", "monitoring.receivers", [RECEIVER], [{**RECEIVER, "webhookUrlKey": "url\n"}]),
}


@pytest.mark.parametrize(("stack", "good", "bad", "key"), CASES.values(), ids=CASES.keys())
def test_a_trailing_newline_is_refused_naming_the_key(stack: str, good: dict, bad: dict, key: str) -> None:
    load_config(stack, good)  # the value itself is fine
    with pytest.raises(ConfigError) as caught:
        load_config(stack, bad)
    assert any(p.startswith(f"platform:{key}") for p in caught.value.problems), caught.value.problems


def test_a_quantity_with_a_newline_is_no_quantity() -> None:
    assert parse_quantity("1Gi") == 2**30
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity("1Gi\n")


@pytest.mark.parametrize("whitespace", ["\n", "\t", " "])
def test_a_cron_schedule_is_five_fields_and_nothing_else(whitespace: str) -> None:
    """split() would drop the trailing character before the fields were checked."""
    with pytest.raises(ConfigError, match=r"platform:postgres.backup.schedule: .* is not a 5-field cron schedule"):
        load_config("staging", nest("postgres.backup.schedule", "0 3 * * *" + whitespace))


def test_the_policy_does_not_take_a_tag_with_a_newline_for_a_pin() -> None:
    def pod(image: str) -> validators.Subject:
        spec = {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}
        return validators.Subject("kubernetes:apps/v1:Deployment", {"metadata": {"name": "api"}, "spec": spec})

    assert validators.pinned_image(pod("nginx:1.27.3"), {}) == []
    assert validators.pinned_image(pod("nginx:latest\n"), {})
    assert validators.pinned_image(pod("nginx:1.27.3\n"), {})
