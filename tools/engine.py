"""Run the real program under Pulumi's mock engine and capture every registered resource.

Shared by the tests and by the offline render: no cluster, no backend, no credentials.

* ``preview=False`` so outputs resolve and assertions really run (DESIGN.md).
* Config comes from the real ``Pulumi.yaml`` defaults plus ``Pulumi.<stack>.yaml``, passed
  the way the CLI passes it (objects as JSON strings), because the SDK applies no defaults.
* Each registration is captured as a plain dict (type, name, inputs, parent, provider,
  protect, dependencies) so tests assert on data, not on Outputs.
"""
from __future__ import annotations

import json
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "platform"
# What the mock puts before each generated password, so tests can spot one that leaks.
MOCK_PASSWORD_PREFIX = "mock-generated-"  # noqa: S105 - a marker prefix, not a password
# The fixed suffix the mock gives auto-named objects (Pulumi's is random): renders stay stable.
AUTONAME_SUFFIX = "a1b2c3d4"
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
_SECRET_SIG = rpc._special_sig_key
_SECRET_VALUE = rpc._special_secret_sig


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    parent: str
    provider: str
    protect: bool
    retain_on_delete: bool
    depends_on: list[str]
    secret_inputs: set[str]
    custom: bool
    deleted_with: str = ""  # as registered; the engine gives children their parent's

    @property
    def kind(self) -> str:
        """``kubernetes:apps/v1:Deployment`` -> ``Deployment``."""
        return self.type.rsplit(":", 1)[-1]

    @property
    def metadata(self) -> dict[str, Any]:
        return self.inputs.get("metadata") or {}

    @property
    def spec(self) -> dict[str, Any]:
        return self.inputs.get("spec") or {}


@dataclass
class Run:
    stack: str
    resources: list[Registered] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    error: BaseException | None = None

    def of_kind(self, kind: str) -> list[Registered]:
        return [r for r in self.resources if r.kind == kind]

    def one(self, kind: str, suffix: str = "") -> Registered:
        found = [r for r in self.of_kind(kind) if r.name.endswith(suffix)]
        assert len(found) == 1, f"expected one {kind} named *{suffix}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def kubernetes(self) -> list[Registered]:
        """Every Kubernetes object (not providers, not components)."""
        return [
            r
            for r in self.resources
            if r.type.startswith("kubernetes:") and r.custom and not r.type.startswith("pulumi:providers")
        ]


def _secret_paths(value: Any, path: str = "") -> set[str]:
    """Paths of the values the SDK sent as secrets (before deserialization unwraps them)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == _SECRET_VALUE:
            return {path or "."}
        for key, child in value.items():
            found |= _secret_paths(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found |= _secret_paths(child, f"{path}[{i}]")
    return found


def _unwrapped(value: Any) -> Any:
    """Plain values: deserialization keeps nested secrets in their wire envelope ({sig: secret, value: ...})."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == _SECRET_VALUE:
            return _unwrapped(value.get("value"))
        return {key: _unwrapped(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_unwrapped(child) for child in value]
    return value


class _Mocks(pulumi.runtime.Mocks):
    """Echo inputs as outputs, the way a provider would, plus what a real one computes."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"{MOCK_PASSWORD_PREFIX}{args.name}"
        if args.typ.startswith("kubernetes:") and isinstance(state.get("metadata"), dict):
            meta = dict(state["metadata"])
            # Pulumi auto-names objects without a name: logical name plus a random suffix.
            meta.setdefault("name", f"{args.name}-{AUTONAME_SUFFIX}")
            state["metadata"] = meta
        return f"{args.name}-id", state

    def __init__(self, last_outputs: dict[str, Any] | None = None):
        self.last_outputs = last_outputs or {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        if args.token == READ_STACK_OUTPUTS:  # the stack's own last outputs (components.history)
            return {"name": args.args.get("name"), "outputs": self.last_outputs, "secretOutputNames": []}, []
        return {}, []


class _Monitor(mocks.MockMonitor):
    """The stock mock monitor, recording each registration with its options."""

    def __init__(self, mocks_: pulumi.runtime.Mocks):
        super().__init__(mocks_)
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            from google.protobuf import json_format

            raw = json_format.MessageToDict(request.object)
            self.registered.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    inputs=_unwrapped(rpc.deserialize_properties(request.object)),
                    parent=request.parent,
                    provider=request.provider,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    depends_on=sorted(request.dependencies),
                    secret_inputs=_secret_paths(raw),
                    custom=bool(request.custom),
                    deleted_with=request.deletedWith,
                )
            )
        return response


def stack_config(stack: str, overrides: dict[str, Any] | None = None, root: Path = ROOT) -> dict[str, Any]:
    """The config the CLI would pass: Pulumi.yaml defaults, then the stack file, then overrides.

    Keys are ``platform:<key>``; objects travel as JSON strings, as they do from the CLI.
    ``root`` is another checkout of the program (the diff renders the base ref's worktree).
    """
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    values: dict[str, Any] = {
        f"{PROJECT}:{key}": spec["default"] for key, spec in (project.get("config") or {}).items() if "default" in spec
    }
    stack_file = root / f"Pulumi.{stack}.yaml"
    if stack_file.exists():
        values.update((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {})
    for key, value in (overrides or {}).items():
        values[key if ":" in key else f"{PROJECT}:{key}"] = value
    return {key: _wire(value) for key, value in values.items()}


def _wire(value: Any) -> str:
    """A config value as the CLI passes it: objects and lists as JSON, anything else as text."""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value if isinstance(value, str) else str(value)


def run_program(
    stack: str, overrides: dict[str, Any] | None = None, secret_keys: list[str] | None = None, root: Path = ROOT,
    last_outputs: dict[str, Any] | None = None,
) -> Run:
    """Run ``__main__.py`` for one stack under mocks; never raises, the error is in ``Run.error``.
    ``last_outputs``: the stack's outputs after its previous update, as the engine would serve them."""

    def program() -> None:
        runpy.run_path(str(root / "__main__.py"), run_name="__main__")

    return run_function(stack, program, stack_config(stack, overrides, root), secret_keys, last_outputs)


def run_function(
    stack: str, program: Callable[[], object], config: dict[str, Any] | None = None, secret_keys: list[str] | None = None,
    last_outputs: dict[str, Any] | None = None,
) -> Run:
    """Run ``program`` (a Pulumi program as a function) under mocks; the error is in ``Run.error``."""
    run = Run(stack=stack)
    settings.ROOT.set(None)  # a fresh root Stack resource for this run
    mocks_ = _Mocks(last_outputs)
    monitor = _Monitor(mocks_)
    pulumi.runtime.set_mocks(mocks_, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    runtime_config.set_all_config(config or {}, secret_keys or [])
    try:
        from pulumi.runtime.stack import run_pulumi_func

        def body() -> None:
            program()

        _sync_await(run_pulumi_func(body))
        stack_resource = settings.get_root_resource()
        for name, value in (getattr(stack_resource, "outputs", None) or {}).items():
            output = pulumi.Output.from_input(value)
            run.outputs[name] = _sync_await(output.future())
            if _sync_await(output.is_secret()):
                run.secret_outputs.add(name)
    except BaseException as exc:  # noqa: BLE001 - the test decides what an error means
        run.error = exc
    run.resources = monitor.registered
    _inherit_options(run)
    return run


def _inherit_options(run: Run) -> None:
    """The engine gives children their parent's retainOnDelete; mirror that."""
    by_urn = {r.urn: r for r in run.resources}
    for resource in run.resources:
        parent = by_urn.get(resource.parent)
        while parent is not None and not resource.retain_on_delete:
            resource.retain_on_delete = parent.retain_on_delete
            parent = by_urn.get(parent.parent)
