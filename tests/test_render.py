"""The offline render: one deterministic, masked YAML manifest per Kubernetes object."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness import MOCK_PASSWORD_PREFIX, ROOT, Registered, Run
from tools.engine import AUTONAME_SUFFIX
from tools.render import HELM_RELEASE, MASK, api_version_kind, manifest, plain, write_stack


def registered(type_: str, name: str, inputs: dict, secret_inputs: set[str] | None = None) -> Registered:
    return Registered(type_, name, f"urn:{name}", inputs, "", "", False, False, [], secret_inputs or set(), True)


def render_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.render", *map(str, args)], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("kubernetes:apps/v1:Deployment", ("apps/v1", "Deployment")),
        ("kubernetes:core/v1:Namespace", ("v1", "Namespace")),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", ("networking.k8s.io/v1", "NetworkPolicy")),
        ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", ("monitoring.coreos.com/v1", "ServiceMonitor")),
    ],
)
def test_api_version_and_kind_come_from_the_type_token(token: str, expected: tuple[str, str]):
    assert api_version_kind(token) == expected


def test_integral_floats_become_ints_and_others_stay():
    assert plain({"replicas": 3.0, "ratio": 0.5, "ports": [{"port": 80.0}], "name": "x"}) == {
        "replicas": 3, "ratio": 0.5, "ports": [{"port": 80}], "name": "x"
    }  # fmt: skip
    assert type(plain(3.0)) is int


def test_auto_named_objects_get_the_fixed_mock_suffix():
    obj = manifest(registered("kubernetes:core/v1:ConfigMap", "api-config", {"metadata": {"namespace": "dev"}, "data": {}}))
    assert obj["metadata"]["name"] == f"api-config-{AUTONAME_SUFFIX}"
    assert list(obj)[:3] == ["apiVersion", "kind", "metadata"]


def test_secret_inputs_and_secret_data_are_masked_but_keep_their_keys():
    secret = manifest(
        registered("kubernetes:core/v1:Secret", "s", {"metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"b": "y"}})
    )
    assert secret["data"] == {"a": MASK} and secret["stringData"] == {"b": MASK}
    inputs = {"metadata": {"name": "c"}, "spec": {"values": {"auth": {"password": "hunter2", "user": "u"}}, "plain": "ok"}}
    custom = manifest(registered("kubernetes:example.com/v1:Thing", "c", inputs, {"spec.values.auth"}))
    assert custom["spec"] == {"plain": "ok", "values": {"auth": {"password": MASK, "user": MASK}}}


def test_custom_resources_keep_their_own_api_version_and_kind():
    inputs = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "m", "namespace": "dev"},
        "spec": {},
    }
    obj = manifest(registered("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "m", inputs))
    assert (obj["apiVersion"], obj["kind"]) == ("monitoring.coreos.com/v1", "ServiceMonitor")


def test_a_helm_release_renders_as_its_release_with_values():
    inputs = {
        "name": "kps",
        "namespace": "monitoring",
        "chart": "kube-prometheus-stack",
        "version": "1.2.3",
        "values": {"replicas": 2.0},
    }
    obj = manifest(registered(HELM_RELEASE, "monitoring-release", inputs))
    assert (obj["apiVersion"], obj["kind"]) == ("helm.sh/v3", "Release")
    assert obj["metadata"] == {"name": "kps", "namespace": "monitoring"}
    assert obj["spec"] == {"chart": "kube-prometheus-stack", "values": {"replicas": 2}, "version": "1.2.3"}


def test_every_object_of_every_stack_renders_complete_and_masked(run: Run, tmp_path: Path):
    objects = run.kubernetes()
    written = write_stack(objects, tmp_path / run.stack)
    assert len(written) == len(objects) >= 5, "one file per object"
    for path in written:
        text = path.read_text()
        obj = yaml.safe_load(text)
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"], path.name
        assert path.name.startswith(obj["kind"].lower() + "-") and obj["metadata"]["name"] in path.name
        assert MOCK_PASSWORD_PREFIX not in text, f"{path.name} shows a generated password"
        if obj["kind"] == "Secret":
            values = [*(obj.get("data") or {}).values(), *(obj.get("stringData") or {}).values()]
            assert values and set(values) == {MASK}, path.name
        assert not [leaf for leaf in _leaves(obj) if isinstance(leaf, float) and leaf.is_integer()], path.name


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for child in value.values() for leaf in _leaves(child)]
    if isinstance(value, list):
        return [leaf for child in value for leaf in _leaves(child)]
    return [value]


def test_the_command_is_deterministic(tmp_path: Path):
    for out in ("a", "b"):
        result = render_cli("--stack", "dev", "--stack", "pr-123", "--out", tmp_path / out)
        assert result.returncode == 0, result.stderr
    first = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*.yaml")}
    second = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*.yaml")}
    assert first == second and {p.parts[0] for p in first} == {"dev", "pr-123"}


def test_a_stale_file_does_not_survive_a_render(run: Run, tmp_path: Path):
    (tmp_path / run.stack).mkdir()
    (tmp_path / run.stack / "deployment-gone-old.yaml").write_text("kind: Deployment\n")
    write_stack(run.kubernetes(), tmp_path / run.stack)
    assert not (tmp_path / run.stack / "deployment-gone-old.yaml").exists()


def test_a_failing_program_fails_the_command_naming_the_stack(tmp_path: Path):
    (tmp_path / "Pulumi.yaml").write_text("name: platform\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("raise ValueError('platform:api.replicas must be at least 1')\n")
    result = render_cli("--root", tmp_path, "--stack", "dev", "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "error: dev: the program failed: platform:api.replicas must be at least 1" in result.stderr
    assert not (tmp_path / "out" / "dev").exists()


def test_help():
    result = render_cli("--help")
    assert result.returncode == 0 and "--stack" in result.stdout
