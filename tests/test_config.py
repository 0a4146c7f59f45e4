"""The config model: every rule fails with the key named, and a rejected config deploys nothing."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from components.config import GROUPS, SCALARS
from components.errors import ConfigError
from components.validation import parse_quantity
from environments import environment_defaults, load_config
from tests.harness import ROOT, run_program


def problems(stack: str, raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(stack, raw)
    return caught.value.problems


def assert_rejected(stack: str, overrides: dict, *expected: str) -> None:
    """The whole program refuses the config, names each key, and registers nothing."""
    run = run_program(stack, overrides)
    assert isinstance(run.error, ConfigError), run.error
    text = str(run.error)
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    assert run.resources == [], [r.name for r in run.resources]


@pytest.mark.parametrize("stack", ["dev", "staging", "production", "pr-123", "feature-x"])
def test_defaults_validate_for_every_environment(stack: str) -> None:
    config = load_config(stack, {})
    assert config.namespace.name == stack
    assert config.environment == (stack if stack in ("dev", "staging", "production") else "ephemeral")


def test_seed_shape_per_environment() -> None:
    replicas = {s: load_config(s, {}).api.replicas for s in ("dev", "staging", "production")}
    assert replicas == {"dev": 1, "staging": 2, "production": 3}
    assert load_config("production", {}).api.autoscaling.enabled
    assert not load_config("dev", {}).api.autoscaling.enabled
    quota = load_config("dev", {}).namespace.quota
    assert (quota.requests_cpu, quota.requests_memory, quota.persistent_volume_claims, quota.pods) == ("4", "8Gi", 10, 20)


def test_ephemeral_stacks_are_disposable() -> None:
    config = load_config("pr-7", {})
    assert config.environment == "ephemeral" and config.cluster.delete_unreachable
    assert not config.protect_data and not config.retain_data
    production = load_config("production", {})
    assert production.protect_data and production.retain_data and not production.cluster.delete_unreachable


def test_environment_override_is_validated() -> None:
    assert load_config("prod-eu", {"environment": "production"}).profile.strict
    rejected = problems("x", {"environment": "prod"})
    assert any("platform:environment" in p and "dev, staging, production, ephemeral" in p for p in rejected)


def test_typo_in_a_key_is_an_error_not_a_default() -> None:
    assert_rejected("dev", {"api": {"replcias": 3}}, "platform:api.replcias: unknown key")


def test_unknown_top_level_key() -> None:
    assert_rejected("dev", {"postgress": {"user": "x"}}, "platform:postgress: unknown key", "allowed top-level keys are")


def test_unknown_nested_key_deep_down() -> None:
    found = problems("dev", {"api": {"probes": {"liveness": {"pth": "/x"}}}})
    assert found == ["platform:api.probes.liveness.pth: unknown key (check the spelling; see the config reference in README.md)"]


def test_wrong_types_are_named() -> None:
    found = problems("dev", {"api": {"replicas": "three", "autoscaling": {"enabled": "yes"}}})
    assert any(p.startswith("platform:api.replicas:") and "integer" in p for p in found)
    assert any(p.startswith("platform:api.autoscaling.enabled:") and "boolean" in p for p in found)


def test_out_of_range_numbers() -> None:
    found = problems("dev", {"api": {"replicas": 0, "containerPort": 70000}})
    assert any(p.startswith("platform:api.replicas:") and "greater than or equal to 1" in p for p in found)
    assert any(p.startswith("platform:api.containerPort:") and "65535" in p for p in found)


def test_megabytes_are_not_mebibytes() -> None:
    assert_rejected(
        "dev",
        {"api": {"resources": {"limits": {"memory": "512MB"}}}},
        "platform:api.resources.limits.memory: '512MB' is not a Kubernetes memory quantity",
        "did you mean '512Mi' (binary) or '512M' (decimal)?",
    )


@pytest.mark.parametrize(
    ("text", "hint"), [("512KB", "'512Ki' (binary) or '512k' (decimal)"), ("2gb", "'2Gi' (binary) or '2G' (decimal)")]
)
def test_the_byte_suffix_hint_names_valid_quantities(text: str, hint: str) -> None:
    """Kubernetes spells kilo with a lower-case k: '512K' would be no quantity either."""
    found = problems("dev", {"api": {"resources": {"limits": {"memory": text}}}})
    assert any(p.endswith(f"did you mean {hint}?") for p in found), found


def test_cpu_in_bytes_is_rejected() -> None:
    found = problems("dev", {"redis": {"resources": {"requests": {"cpu": "100Mi"}}}})
    assert any(p.startswith("platform:redis.resources.requests.cpu:") and "millicores" in p for p in found)


def test_invalid_names_hosts_and_images() -> None:
    found = problems(
        "staging",
        {
            "namespace": {"name": "Staging_1"},
            "ingress": {"host": "api_bad.example.com"},
            "api": {"image": {"repository": "Registry.example.com/API:1.0"}},
        },
    )
    keys = {p.split(": ", 1)[0] for p in found}
    assert keys >= {"platform:namespace.name", "platform:ingress.host", "platform:api.image.repository"}
    assert any("DNS-1123 label" in p for p in found)


def test_stack_name_that_is_no_namespace_needs_an_explicit_one() -> None:
    assert any(p.startswith("platform:namespace.name:") for p in problems("Feature_X", {}))
    assert load_config("Feature_X", {"namespace": {"name": "feature-x"}}).namespace.name == "feature-x"


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        "production",
        {"api": {"replicas": -1, "logLevel": "LOUD"}, "redis": {"maxmemory": "1GB"}, "monitoring": {"mode": "maybe"}, "foo": 1},
    )
    assert len(found) >= 5
    assert {p.split(": ", 1)[0] for p in found} >= {
        "platform:api.replicas", "platform:api.logLevel", "platform:redis.maxmemory", "platform:monitoring.mode", "platform:foo"
    }


def test_requests_above_limits() -> None:
    found = problems("dev", {"api": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}})
    assert found == ["platform:api.resources: requests.cpu 2 is more than limits.cpu 1"]


def test_hpa_min_above_max() -> None:
    found = problems("dev", {"api": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}})
    assert found == ["platform:api.autoscaling: minReplicas 5 is more than maxReplicas 3"]


def test_hpa_max_must_fit_the_quota() -> None:
    found = problems("dev", {"api": {"autoscaling": {"enabled": True, "maxReplicas": 30}}})
    assert any(p.startswith("platform:namespace.quota.requestsMemory:") and "scale-up would stall" in p for p in found)
    assert any(p.startswith("platform:namespace.quota.pods:") for p in found)
    # The same HPA fits once the quota is raised to match.
    raised = {"quota": {"requestsCpu": "8", "requestsMemory": "16Gi", "limitsCpu": "32", "limitsMemory": "64Gi", "pods": 40}}
    load_config("dev", {"api": {"autoscaling": {"enabled": True, "maxReplicas": 30}}, "namespace": raised})


def test_volume_claims_must_fit_the_quota() -> None:
    found = problems("staging", {"namespace": {"quota": {"persistentVolumeClaims": 1}}})
    assert any(p.startswith("platform:namespace.quota.persistentVolumeClaims:") for p in found)


def test_shared_rwo_volume_is_refused() -> None:
    found = problems("staging", {"api": {"persistence": {"enabled": True}}})
    assert any(p.startswith("platform:api.persistence:") and "ReadWriteMany" in p for p in found)
    load_config("staging", {"api": {"persistence": {"enabled": True, "accessMode": "ReadWriteMany"}}})


@pytest.mark.parametrize(
    ("stack", "api"),
    [
        ("staging", {"metricsPort": 8080}),  # staging serves on 8080
        ("dev", {"metricsPort": 9898}),  # dev (podinfo) serves on 9898
        ("staging", {"metricsPort": 8081, "probes": {"liveness": {"port": 8081}}}),
        ("staging", {"metricsPort": 8082, "probes": {"startup": {"port": 8082}}}),
        ("staging", {"metricsPort": 8083, "probes": {"readiness": {"port": 8083}}}),
    ],
    ids=["staging-container-port", "dev-container-port", "liveness-port", "startup-port", "readiness-port"],
)
def test_the_metrics_port_is_a_port_of_its_own(stack: str, api: dict) -> None:
    """The public route reaches containerPort and the probes' ports: metrics there would be public."""
    found = problems(stack, {"api": api})
    expected = f"platform:api: metricsPort {api['metricsPort']} must differ from containerPort and the probe ports"
    assert any(p.startswith(expected) for p in found), found
    # The same layout with a port of its own is fine.
    assert load_config(stack, {"api": {**api, "metricsPort": 9100}}).api.metrics_port == 9100


def test_without_a_metrics_port_every_route_kind_is_accepted() -> None:
    """The seed's app serves /metrics on its app port (staging's default since #19): every route kind
    denies the path (an Ingress by an Exact rule to a Service that serves nothing, tests/test_ingress.py),
    so no kind is refused; a separate metrics port stays possible and must be its own."""
    gateway = {"kind": "gateway", "gateway": {"name": "public", "namespace": "gateways", "sectionName": "https"}}
    for ingress in ({}, gateway, {"kind": "none", "tls": {"enabled": False}}):
        assert load_config("staging", {"api": {"metricsPort": None}, "ingress": ingress}).api.metrics_port is None
    found = problems("staging", {"api": {"metricsPort": 8080}})
    assert [p for p in found if p.startswith("platform:api: metricsPort 8080 must differ from containerPort")], found


def test_redis_maxmemory_below_its_limit() -> None:
    found = problems("dev", {"redis": {"maxmemory": "1Gi"}})
    assert any(p.startswith("platform:redis.maxmemory:") for p in found)


def test_production_refuses_unsafe_defaults() -> None:
    assert_rejected(
        "production",
        {
            "api": {"autoscaling": {"enabled": False}, "replicas": 1, "image": {"tag": "latest"}},
            "postgres": {"persistence": {"enabled": False}, "backup": {"enabled": False}},
            "redis": {"persistence": {"enabled": False}},
        },
        "platform:api.replicas: production needs at least 2 API replicas",
        "platform:postgres.persistence.enabled: production data must be persistent",
        "platform:redis.persistence.enabled: production data must be persistent",
        "platform:api.image: production needs a pinned image",
    )


def test_a_digest_pins_a_floating_tag() -> None:
    digest = "sha256:" + "a" * 64
    config = load_config("production", {"api": {"image": {"tag": "latest", "digest": digest}}})
    assert config.api.image.ref.endswith("@" + digest)


def test_image_needs_tag_or_digest() -> None:
    found = problems("dev", {"api": {"image": {"repository": "nginx", "tag": None}}})
    assert any(p.startswith("platform:api.image:") and "tag" in p for p in found)


def test_plaintext_secrets_are_refused() -> None:
    assert_rejected(
        "dev",
        {"postgres": {"password": "supersecret123"}},
        "platform:postgres.password: plaintext secrets are not accepted in config",
    )


def test_secret_config_values_are_refused() -> None:
    run = run_program("dev", {"api": {"logLevel": "INFO"}}, secret_keys=["platform:api"])
    assert isinstance(run.error, ConfigError) and "platform:api: is set as a secret" in str(run.error)
    assert run.resources == []


def test_group_must_be_an_object() -> None:
    assert any(p == "platform:api: must be an object of settings (got 3)" for p in problems("dev", {"api": 3}))


def test_config_is_frozen() -> None:
    config = load_config("dev", {})
    with pytest.raises(Exception, match="frozen"):
        config.api.replicas = 5  # type: ignore[misc]


def test_pulumi_yaml_declares_the_scalar_keys_with_the_model_defaults() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert {k: v["default"] for k, v in declared.items()} == SCALARS
    assert all(v.get("type") and v.get("description") for v in declared.values())


def test_stack_files_use_only_known_keys() -> None:
    for stack in ("dev", "staging", "production"):
        values = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        keys = {k.split(":", 1)[1] for k in values if k.startswith("platform:")}
        assert keys <= set(GROUPS) | set(SCALARS), keys
        assert not any(k.endswith("password") for k in keys)


def test_defaults_are_spelled_like_the_model() -> None:
    """Every key in environment_defaults exists in the model (a typo there would be silent)."""
    for environment in ("dev", "staging", "production", "ephemeral"):
        load_config("x", {"environment": environment})  # extra="forbid" applies to defaults too
        assert set(environment_defaults(environment, "x")) == set(GROUPS)


# ------------------------------------------------------------------ property-based

_SUFFIXES = ["", "Ki", "Mi", "Gi", "k", "M", "G"]
# Room for any single container the properties below try, so only the rule under test speaks.
_ROOMY = {
    "quota": {"requestsCpu": "1000", "requestsMemory": "100000Ti", "limitsCpu": "1000", "limitsMemory": "100000Ti"},
    "limitRange": {"max": {"cpu": "1000", "memory": "100000Ti"}},
}


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(_SUFFIXES))
def test_valid_memory_quantities_are_accepted(number: int, suffix: str) -> None:
    text = f"{number}{suffix}"
    resources = {"requests": {"memory": text}, "limits": {"memory": "10000Ti"}}
    config = load_config("dev", {"api": {"resources": resources}, "namespace": _ROOMY})
    assert parse_quantity(config.api.resources.requests.memory) == parse_quantity(text) > 0


@given(st.integers(min_value=1, max_value=4096), st.sampled_from(["MB", "GB", "mb", "Gb", "KB"]))
def test_byte_suffixes_are_rejected_with_a_hint(number: int, suffix: str) -> None:
    found = problems("dev", {"api": {"resources": {"limits": {"memory": f"{number}{suffix}"}}}})
    assert any("did you mean" in p and p.startswith("platform:api.resources.limits.memory:") for p in found)


@given(st.integers(min_value=1, max_value=64000))
def test_millicores_compare_numerically(millis: int) -> None:
    limit = Decimal(millis) / 1000
    request_ok = {"requests": {"cpu": f"{millis}m"}, "limits": {"cpu": format(limit, "f")}}
    load_config("dev", {"postgres": {"resources": request_ok}, "namespace": _ROOMY})
    too_much = {"requests": {"cpu": f"{millis + 1}m"}, "limits": {"cpu": format(limit, "f")}}
    assert any("more than limits.cpu" in p for p in problems("dev", {"postgres": {"resources": too_much}, "namespace": _ROOMY}))


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@given(st.from_regex(_DNS_LABEL, fullmatch=True))
def test_dns_labels_are_accepted(name: str) -> None:
    assert load_config("dev", {"namespace": {"name": name}}).namespace.name == name


# Not by luck: a valid label plus a trailing newline is always tried (the explicit examples, and
# half the generated names), where plain text found that bug in about 1 run in 18 (issue 25).
@given(
    st.one_of(
        st.text(min_size=1, max_size=70).filter(lambda s: not _DNS_LABEL.fullmatch(s)),
        st.tuples(st.from_regex(_DNS_LABEL, fullmatch=True), st.sampled_from(["\n", "\r\n", " ", "\t"])).map("".join),
    )
)
@example("dev\n")
@example("a\n")
@example(" dev")
def test_anything_else_is_not_a_namespace(name: str) -> None:
    assert any(p.startswith("platform:namespace.name:") for p in problems("dev", {"namespace": {"name": name}}))


@given(st.integers(min_value=1, max_value=100), st.integers(min_value=1, max_value=100))
def test_hpa_bounds(low: int, high: int) -> None:
    raw = {"api": {"autoscaling": {"minReplicas": low, "maxReplicas": high}}}
    if low <= high:
        assert load_config("dev", raw).api.autoscaling.max_replicas == high
    else:
        assert any(p.startswith("platform:api.autoscaling:") for p in problems("dev", raw))


def test_settings_merge_but_label_maps_replace_the_default() -> None:
    """Groups merge key by key over the defaults; a label map is data and replaces them whole."""
    config = load_config(
        "staging",
        {
            "ingress": {"host": "api.example.org"},
            "monitoring": {"selectorLabels": {"prometheus": "shared"}},
        },
    )
    assert config.ingress.host == "api.example.org"
    assert config.ingress.tls.cluster_issuer == "letsencrypt"  # the sibling setting keeps its default
    assert config.monitoring.selector_labels == {"prometheus": "shared"}
    assert config.api.resources.limits.memory == "512Mi"  # nested settings still merge


def test_a_container_above_the_limit_range_or_an_incoherent_range_is_refused() -> None:
    big = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "6", "memory": "1Gi"}}
    found = problems("dev", {"postgres": {"resources": big}, "namespace": {"quota": {"limitsCpu": "100"}}})
    assert any(p.startswith("platform:postgres.resources.limits.cpu: 6 is more than the namespace's limitRange.max.cpu 4")
               for p in found), found
    found = problems("dev", {"namespace": {"limitRange": {"defaultLimit": {"cpu": "8", "memory": "512Mi"}}}})
    assert any(p.startswith("platform:namespace.limitRange: defaultLimit.cpu 8 is more than max.cpu 4") for p in found), found
    found = problems("dev", {"namespace": {"quota": {"requestsCpu": "9"}}})
    assert any(p.startswith("platform:namespace.quota: requestsCpu 9 is more than limitsCpu 8") for p in found), found
