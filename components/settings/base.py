"""What every settings group shares: the strict base model, the blocks several groups use, the
footprint a group declares (pods, images, volume claims, Services), and building a group in code.

A group is one ``pydantic`` model per component (``ApiConfig`` beside ``ApiService``...). Each
declares its stack-config key (``KEY``), its neutral defaults for an environment profile
(``defaults``), the rules that involve only itself (``rules``) and what it runs (``footprint``),
so rules that span groups iterate over whatever groups exist and nothing lists them by hand.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from ..errors import PROJECT, ConfigError
from ..profiles import EnvironmentProfile, profile
from ..validation import (
    CpuQuantity,
    DnsLabel,
    HttpPath,
    ImageDigest,
    ImageRepository,
    ImageTag,
    MemoryQuantity,
    Port,
    StorageQuantity,
    parse_quantity,
)


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        raise ValueError(f"{value!r} is not an address range in CIDR notation (10.0.0.0/8, 203.0.113.7/32)") from None


# An address range a NetworkPolicy ipBlock can name.
Cidr = Annotated[str, AfterValidator(_cidr)]
# Tags that move: a production rollout must name what it runs.
FLOATING_TAGS = {"latest", "stable", "main", "master", "edge", "dev", "nightly"}
# Config keys that would hold a secret; this project generates its secrets instead.
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_?key|private_?key|credential)", re.IGNORECASE)
_SECRET_REFERENCE_KEYS = {"secretName", "existingSecret", "tlsSecretName"}


class Model(BaseModel):
    """Frozen, strict, camelCase-keyed base: unknown keys are errors, not silent defaults.

    Each field's docstring is its description: the config reference and ``help()`` show it.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, alias_generator=to_camel, validate_by_name=False,
        use_attribute_docstrings=True,
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # help(ApiConfig) lists every setting with its description, as stack config spells it.
        rows = [f"    {field.alias or name}: {field.description}" for name, field in cls.model_fields.items()]
        cls.__doc__ = (cls.__doc__ or "").rstrip() + "\n\nSettings (stack-config spelling):\n" + "\n".join(rows) + "\n"


# ---------------------------------------------------------------- shared blocks


class ResourceList(Model):
    """CPU and memory of one kind (requests or limits)."""

    cpu: CpuQuantity
    """Cores (0.5, 2) or millicores (500m)."""
    memory: MemoryQuantity
    """Bytes with a binary suffix (256Mi, 1Gi)."""


class Resources(Model):
    """Requests and limits of one container; both are required (no unbounded pods)."""

    requests: ResourceList
    """What the scheduler reserves for the container."""
    limits: ResourceList
    """The ceiling: CPU is throttled above it, memory is OOM-killed."""

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for kind in ("cpu", "memory"):
            request, limit = getattr(self.requests, kind), getattr(self.limits, kind)
            if parse_quantity(request) > parse_quantity(limit):
                raise ValueError(f"requests.{kind} {request} is more than limits.{kind} {limit}")
        return self


def resources(req_cpu: str, req_mem: str, lim_cpu: str, lim_mem: str) -> dict[str, Any]:
    """A ``Resources`` block as stack config spells it."""
    return {"requests": {"cpu": req_cpu, "memory": req_mem}, "limits": {"cpu": lim_cpu, "memory": lim_mem}}


class Image(Model):
    """A container image, pinned by tag, digest or both."""

    repository: ImageRepository
    """Registry and path, without tag or digest (docker.io/library/postgres)."""
    tag: ImageTag | None = None
    """A version tag; production refuses moving tags such as latest."""
    digest: ImageDigest | None = None
    """sha256:<64 hex>; with a tag, the digest is what runs."""
    pull_policy: Literal["IfNotPresent", "Always", "Never"] | None = None
    """When the kubelet pulls the image; unset: IfNotPresent with a digest (its content cannot change, and a
    rescheduled pod starts without the registry), Always with only a tag (a re-pushed tag runs everywhere)."""

    @model_validator(mode="after")
    def _pinned_somehow(self) -> Image:
        if not self.tag and not self.digest:
            raise ValueError("set 'tag' or 'digest' (an image without either means 'latest')")
        return self

    @property
    def ref(self) -> str:
        ref = self.repository + (f":{self.tag}" if self.tag else "")
        return ref + (f"@{self.digest}" if self.digest else "")

    @property
    def effective_pull_policy(self) -> str:
        return self.pull_policy or ("IfNotPresent" if self.digest else "Always")

    @property
    def floating(self) -> bool:
        return not self.digest and (self.tag or "latest") in FLOATING_TAGS


class Persistence(Model):
    """A data volume: a PersistentVolumeClaim, or a bounded emptyDir when disabled."""

    enabled: bool
    """A claim that outlives the pod (false: an emptyDir, lost with the pod)."""
    size: StorageQuantity
    """The claim's size (or the emptyDir's size limit)."""
    storage_class: DnsLabel | None = None
    """The StorageClass; unset: the cluster's default class."""


class Probe(Model):
    """An HTTP probe of the app."""

    path: HttpPath
    """The path the kubelet GETs."""
    port: Port | None = None
    """The port; unset: the container's named port `http`."""
    initial_delay_seconds: int = Field(ge=0, le=600)
    """Seconds after start before the first probe."""
    period_seconds: int = Field(ge=1, le=300)
    """Seconds between probes."""
    timeout_seconds: int = Field(ge=1, le=60)
    """Seconds a probe may take."""
    success_threshold: int = Field(default=1, ge=1, le=10)
    """Successes in a row that count as healthy."""
    failure_threshold: int = Field(ge=1, le=60)
    """Failures in a row that count as unhealthy."""


def probe(path: str, delay: int, period: int, timeout: int, failures: int) -> dict[str, Any]:
    """A ``Probe`` block as stack config spells it."""
    return {"path": path, "initialDelaySeconds": delay, "periodSeconds": period,
            "timeoutSeconds": timeout, "failureThreshold": failures}


class SecurityIds(Model):
    """The UID/GID the container runs as (for the official images: the user the image has)."""

    run_as_user: int = Field(ge=1, le=2**31 - 1)
    """runAsUser of every container of the pod."""
    run_as_group: int = Field(ge=1, le=2**31 - 1)
    """runAsGroup, and fsGroup so the user owns its volumes."""


class Exporter(Model):
    """A Prometheus exporter sidecar."""

    enabled: bool
    """Run the sidecar and its metrics Service."""
    image: Image
    """The exporter's image."""
    resources: Resources
    """The sidecar's requests and limits."""


# ---------------------------------------------------------------- footprint


@dataclass(frozen=True)
class Container:
    """One container a group runs, by the config keys of its resources and image."""

    key: str  # e.g. "postgres.metrics": its resources at <key>.resources, its image at <key>.image
    resources: Resources
    image: Image
    image_key: str = ""  # where the image is configured when not at <key>.image

    @property
    def image_at(self) -> str:
        return self.image_key or f"{self.key}.image"


@dataclass(frozen=True)
class Workload:
    """``count`` pods at peak, each with ``containers``. ``data``: a data store's pod, whose memory
    must be guaranteed where the environment profile says so (eviction compares the whole pod)."""

    name: str
    count: int
    containers: tuple[Container, ...]
    data: bool = False


@dataclass(frozen=True)
class Footprint:
    """What a group (or a component) runs in its namespace: the quota and pinning rules read this."""

    workloads: tuple[Workload, ...] = ()
    claims: tuple[tuple[str, str], ...] = ()  # (config key, size) of each PersistentVolumeClaim
    services: int = 0

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(self.workloads + other.workloads, self.claims + other.claims, self.services + other.services)

    @property
    def images(self) -> dict[str, Image]:
        return {c.image_at: c.image for w in self.workloads for c in w.containers}


def server_pod(key: str, resources: Resources, image: Image, exporter: Exporter) -> Workload:
    """A data store's one pod: the server, and its exporter sidecar when enabled."""
    containers = [Container(key, resources, image)]
    if exporter.enabled:
        containers.append(Container(f"{key}.metrics", exporter.resources, exporter.image))
    return Workload(key.capitalize(), 1, tuple(containers), data=True)


def store_services(exporter: Exporter) -> int:
    """A data store's Services: the client one, the headless one, and one for its metrics."""
    return 3 if exporter.enabled else 2


class Group(Model):
    """A settings group: one component's settings under one stack-config key."""

    KEY: ClassVar[str]

    @classmethod
    def defaults(cls, env: EnvironmentProfile) -> dict[str, Any]:
        """The library's neutral defaults for an environment, as stack config spells them."""
        return {}

    def rules(self, env: EnvironmentProfile) -> list[str]:
        """Problems that involve only this group (each ``platform:<key>: ...``)."""
        return []

    def footprint(self) -> Footprint:
        return Footprint()

    def warnings(self, env: EnvironmentProfile) -> list[str]:
        """Settings that are allowed but risky: printed at preview, never an error."""
        return []

    @classmethod
    def for_environment(cls, environment: str, overrides: Mapping[str, Any] | None = None) -> Self:
        """This group built in code, for programs that use the components as a library.

        ``overrides`` is spelled like the stack config group (camelCase keys) and merged over the
        library's defaults for ``environment`` (dev, staging, production, ephemeral). It is validated
        exactly as stack config is (the group's own rules included), so a bad value raises the same
        ``ConfigError`` naming ``platform:<group>.<key>``. No Pulumi runtime is needed.
        """
        env = profile(environment)
        if overrides is not None and not isinstance(overrides, Mapping):
            raise ConfigError([f"{PROJECT}:{cls.KEY}: overrides must be a map of settings (got {type(overrides).__name__})"])
        return build_group(cls, env, deep_merge(cls, cls.defaults(env), overrides or {}))


# ---------------------------------------------------------------- building a group


def deep_merge(model: type[BaseModel], base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, guided by ``model``: a nested settings group merges key by key;
    any other value, maps of data such as label sets included, replaces the default whole (a
    selector that merged in the default's labels would match other pods than the ones meant)."""
    merged = copy.deepcopy(dict(base))
    groups = {field.alias or name: field.annotation for name, field in model.model_fields.items()}
    for key, value in override.items():
        group = groups.get(key)
        is_group = isinstance(value, Mapping) and isinstance(merged.get(key), dict)
        if is_group and isinstance(group, type) and issubclass(group, BaseModel):
            merged[key] = deep_merge(group, merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def secret_keys(value: Any, path: str) -> list[str]:
    """Keys that look like they hold a secret: this project takes none in config."""
    found = []
    if isinstance(value, Mapping):
        for key, child in value.items():
            child_path = f"{path}.{key}"
            if _SECRET_KEY.search(str(key)) and key not in _SECRET_REFERENCE_KEYS and not str(key).endswith("Secret"):
                found.append(
                    f"{child_path}: plaintext secrets are not accepted in config; "
                    "passwords are generated with pulumi-random and kept in Kubernetes Secrets"
                )
            found += secret_keys(child, child_path)
    return found


def format_error(group: str, error: Mapping[str, Any]) -> str:
    where = ".".join(str(p) for p in (group, *error["loc"]) if p != "")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see the config reference in README.md)"
        key = str(error["loc"][-1]) if error["loc"] else ""
        if "_" in key:
            message += f"; keys are camelCase: {to_camel(key)!r}"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif "input" in error and error["type"] not in ("value_error", "assertion_error"):
        message += f" (got {error['input']!r})"
    return f"{PROJECT}:{where}: {message}"


def validate_group(model: type[Group], value: Mapping[str, Any], raw: Mapping[str, Any]) -> tuple[Group | None, list[str]]:
    """(the group, problems): ``value`` is merged config, ``raw`` what the user wrote (secret check)."""
    secrets = secret_keys(raw, f"{PROJECT}:{model.KEY}")
    try:
        return model.model_validate(value), secrets
    except ValidationError as exc:
        # A secret-looking key is already reported as such; not again as "unknown".
        said = {p.split(": ", 1)[0] for p in secrets}
        errors = (format_error(model.KEY, e) for e in exc.errors())
        return None, secrets + [m for m in errors if m.split(": ", 1)[0] not in said]


def build_group(model: type[Group], env: EnvironmentProfile, merged: Mapping[str, Any]) -> Any:
    group, problems = validate_group(model, merged, merged)
    if group is not None:
        problems += group_rules(group, env)
    if problems:
        raise ConfigError(problems)
    return group


def guaranteed_data_pods(footprint: Footprint, env: EnvironmentProfile) -> list[str]:
    """Where the profile says so, every container of a data pod requests the CPU and memory it may
    use: the pod is then Guaranteed. A pod whose usage exceeds its requests is evicted first under
    node memory pressure, and a Burstable pod's OOM score ranks it near best-effort ones."""
    if not env.guaranteed_data_memory:
        return []
    return [
        f"{PROJECT}:{c.key}.resources.requests.{kind}: {getattr(c.resources.requests, kind)} must equal "
        f"{c.key}.resources.limits.{kind} {getattr(c.resources.limits, kind)} "
        f"in {env.name}, so the data pod is Guaranteed and node pressure never evicts or OOM-kills it first"
        for w in footprint.workloads if w.data
        for c in w.containers
        for kind in ("memory", "cpu")
        if parse_quantity(getattr(c.resources.requests, kind)) != parse_quantity(getattr(c.resources.limits, kind))
    ]


def pinned_images(footprint: Footprint, env: EnvironmentProfile) -> list[str]:
    if not env.strict:
        return []
    return [
        f"{PROJECT}:{key}: {env.name} needs a pinned image, not the moving tag {image.tag or 'latest'!r}; "
        "set a version tag or a digest"
        for key, image in footprint.images.items()
        if image.floating
    ]


def digest_warnings(footprint: Footprint, env: EnvironmentProfile) -> list[str]:
    """Where the profile is strict, images without a digest: a re-pushed tag would change what runs with no
    diff. A warning, not a rule: digests come from the registry (Renovate keeps them beside the tags)."""
    keys = [f"{key}.digest" for key, image in footprint.images.items() if env.strict and not image.digest]
    if not keys:
        return []
    return [
        f"{PROJECT}:{keys[0]}: {env.name} runs images by tag only ({', '.join(keys)}); a re-pushed tag changes "
        "what runs without a diff. Pin each by digest (then pulled IfNotPresent)"
    ]


def group_rules(group: Group, env: EnvironmentProfile) -> list[str]:
    """A group's own rules, and the house rules over what it runs."""
    footprint = group.footprint()
    return group.rules(env) + guaranteed_data_pods(footprint, env) + pinned_images(footprint, env)


def settings_problems(value: Any, expected: type[Group], env: EnvironmentProfile, argument: str) -> list[str]:
    """What is wrong with a settings object handed to a component: its type, its fields (again: a
    ``model_copy(update=...)`` skips validation) and its group's rules for the namespace's profile
    (settings built for dev are refused in a production namespace)."""
    if not isinstance(value, expected):
        name = expected.__name__
        return [f"{argument}: must be {name} (built with {name}.for_environment), got {type(value).__name__}"]
    try:
        expected.model_validate(value.model_dump(by_alias=True))
    except ValidationError as exc:
        return [f"{argument}: {format_error(expected.KEY, e)}" for e in exc.errors()]
    return [f"{argument}: {p}" for p in group_rules(value, env)]
