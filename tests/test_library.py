"""The components as a library: the installed wheel, settings built in code, the public API."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import components
from components.errors import ConfigError
from components.profiles import PROFILES
from components.settings import GROUPS, ApiConfig, PostgresConfig
from environments import load_config, overrides
from tools.engine import ROOT
from tools.library import IMPORT_NAME, install

EXAMPLE = ROOT / "examples" / "two-services"
# Run in a clean interpreter, from a directory outside the repository: only the wheel's package
# and the mock harness (tools/) are importable by name; `components` must never be imported.
CHECK = """
import json, sys
from pathlib import Path
import platform_components as pc
from platform_components import monitoring
from tools.engine import run_program
run = run_program("dev", root=Path(sys.argv[1]))
print(json.dumps({
    "package": pc.__file__, "assets": str(monitoring.ASSETS), "error": repr(run.error) if run.error else None,
    "kinds": sorted({r.kind for r in run.kubernetes()}), "objects": len(run.kubernetes()),
    "repo_modules": sorted(m for m in sys.modules if m == "components" or m.startswith("components.")),
}))
"""


def test_installed_wheel_runs_the_example_from_site_packages(tmp_path: Path) -> None:
    target = install(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(EXAMPLE)], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"] is None
    assert Path(result["package"]).is_relative_to(target)
    # The rules and dashboards ship inside the package, not beside the repository.
    assert Path(result["assets"]) == target / IMPORT_NAME / "assets"
    assert result["repo_modules"] == []
    assert {"Deployment", "StatefulSet", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"} <= set(result["kinds"])
    assert result["objects"] >= 40


def test_no_absolute_import_of_the_package_inside_it() -> None:
    """`from components...` works in the repository but not from site-packages."""
    offenders = [
        f"{path.name}:{n}"
        for path in sorted((ROOT / "components").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.match(r"\s*(from|import) components\b", line)
    ]
    assert offenders == []


def test_distribution_ranges_hold_the_program_pins() -> None:
    """The wheel declares ranges (a consumer's own pins must resolve); the program's exact pins,
    what the tests run, lie inside them, and each range stops before the next major version."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ranges = {Requirement(r).name.lower(): Requirement(r).specifier for r in project["dependencies"]}
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    assert set(ranges) == {pin.name.lower() for pin in pins}
    for pin in pins:
        (exact,) = pin.specifier
        assert exact.operator == "==" and exact.version in ranges[pin.name.lower()], pin
        major = int(exact.version.split(".")[0])
        assert f"{major + 1}.0" not in ranges[pin.name.lower()] and f"{major}.999999" in ranges[pin.name.lower()], pin
    assert project["version"] == components.__version__
    assert (ROOT / "components" / "py.typed").exists()


@pytest.mark.parametrize("environment", ["dev", "staging", "production", "ephemeral"])
def test_settings_in_code_with_this_programs_choices_are_its_stack_defaults(environment: str) -> None:
    stack = environment if environment != "ephemeral" else "pr-1"
    config, ours = load_config(stack, {}), overrides(PROFILES[environment], stack)
    for key, group in GROUPS.items():
        if key != "namespace":  # its name is the stack's, set by the loader
            assert group.for_environment(environment, ours.get(key, {})) == getattr(config, key), key


@pytest.mark.parametrize("environment", ["dev", "staging", "production", "ephemeral"])
def test_the_librarys_defaults_hold_none_of_this_teams_choices(environment: str) -> None:
    """An outside team gets neutral defaults: no image of ours, no host of ours, and an error until
    it names its own image."""
    with pytest.raises(ConfigError, match=r"platform:api\.image: required key is missing"):
        ApiConfig.for_environment(environment)
    built = {key: group.model_fields for key, group in GROUPS.items()}
    defaults = json.dumps({key: GROUPS[key].defaults(PROFILES[environment]) for key in built})
    for ours in ("example.com", "api-fpc", "myapp", "podinfo"):
        assert ours not in defaults, ours
    assert "example.com" in json.dumps(overrides(PROFILES["production"], "production"))  # the check can fail


def test_settings_in_code_merge_overrides_like_stack_config() -> None:
    image = {"image": {"repository": "ghcr.io/acme/orders", "tag": "1.2.3"}}
    built = ApiConfig.for_environment("staging", {**image, "replicas": 4, "probes": {"readiness": {"path": "/up"}}})
    assert (built.replicas, built.probes.readiness.path) == (4, "/up")
    assert built.probes.liveness == ApiConfig.for_environment("staging", image).probes.liveness


@pytest.mark.parametrize(
    ("environment", "overrides"),
    [
        # An environment rule (the library's production has no bucket: the risk accepted by name here).
        ("production", {"persistence": {"enabled": False}, "backup": {"acknowledgeNoOffClusterCopy": True}}),
        ("dev", {"persistence": {"size": "5GB"}}),  # a field rule
        ("dev", {"replcias": 2}),  # an unknown key
        ("dev", {"password": "hunter2"}),  # no secrets in settings either
    ],
)
def test_settings_in_code_fail_with_the_stack_config_errors(environment: str, overrides: dict) -> None:
    with pytest.raises(ConfigError) as in_code:
        PostgresConfig.for_environment(environment, overrides)
    with pytest.raises(ConfigError) as in_stack:
        load_config(environment, {"postgres": overrides})
    assert in_code.value.problems == in_stack.value.problems
    assert all(p.startswith("platform:postgres.") for p in in_code.value.problems)


def test_settings_reject_an_unknown_environment() -> None:
    with pytest.raises(ConfigError, match="platform:environment: 'qa' is not one of"):
        ApiConfig.for_environment("qa")


def test_every_public_class_says_what_it_is() -> None:
    undocumented = []
    for name in components.__all__:
        value = getattr(components, name)
        doc = inspect.getdoc(value) if inspect.isclass(value) else "function"
        # A dataclass without a docstring gets its signature as __doc__.
        if not doc or doc.startswith(f"{name}("):
            undocumented.append(name)
    assert undocumented == []


def test_every_setting_has_a_description_that_help_shows() -> None:
    """Descriptions are the fields' docstrings: the config reference and help() both show them."""
    from pydantic import BaseModel

    def models(model: type[BaseModel]) -> list[type[BaseModel]]:
        nested = [a for f in model.model_fields.values() for a in (f.annotation, *getattr(f.annotation, "__args__", ()))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        return [model, *(m for n in nested for m in models(n))]

    every = {m for group in GROUPS.values() for m in models(group)}
    assert len(every) >= 20
    fields = [(m.__name__, name, field) for m in every for name, field in m.model_fields.items()]
    missing = [f"{model}.{name}" for model, name, field in fields if not (field.description or "").strip()]
    assert missing == []
    shown = inspect.getdoc(ApiConfig) or ""
    assert "metricsPort: The port the app serves metricsPath on" in shown and "image: The app's image" in shown


def test_args_are_keyword_only_and_components_list_their_outputs() -> None:
    args = [components.ApiServiceArgs, components.PostgresArgs, components.RedisArgs, components.IngressArgs,
            components.MonitoringArgs, components.EnvironmentArgs]
    for cls in args:
        params = inspect.signature(cls).parameters.values()
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params), cls.__name__
        assert "Attributes:" in (cls.__doc__ or ""), cls.__name__
    for component in (components.ApiService, components.Postgres, components.Redis, components.Ingress,
                      components.Monitoring, components.Environment):
        assert "Outputs:" in (component.__doc__ or ""), component.__name__
