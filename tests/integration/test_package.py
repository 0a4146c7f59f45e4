"""The components as a Pulumi package, from other languages, for real.

- examples/yaml (Pulumi YAML, the YAML language host built by scripts/toolchain.sh) on the local
  cluster through the package's plugin (package/, run by the Python language host): `up` with every
  workload ready, `preview --expect-no-changes`, a bad input failing the preview with the text the
  Python API raises, `destroy` leaving no namespace.
- The TypeScript and Go SDKs generated from the schema the plugin serves, compiled with `tsc` (npm,
  pinned by package/sdk-check/) and `go build`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from components import ApiConfig, ConfigError
from tools.engine import ROOT
from tools.library import install
from tools.realengine import TOOLCHAIN, ToolchainMissing, Workspace, toolchain_env

pytestmark = pytest.mark.integration
PACKAGE_FILES = ["PulumiPlugin.yaml", "__main__.py", "facade.py"]
NAMESPACE = "it-package-yaml"
STACK = "dev"
GO_MODULE = "example.com/pulumi-platform/sdk/go"
WORKLOADS = {"deployments": {"orders"}, "statefulsets": {"ordersdb", "cache"}}


def _package(base: Path) -> Path:
    """The package beside the example, as in the repository (`packages: platform: ../../package`),
    with the repository's venv; no requirements.txt, so adding it installs nothing into that venv."""
    target = base / "package"
    target.mkdir(parents=True)
    for name in PACKAGE_FILES:
        shutil.copy2(ROOT / "package" / name, target / name)
    (target / "venv").symlink_to(ROOT / "venv")
    return target


def _with_library(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    # The plugin imports the wheel (platform_components), as a user's installation does.
    return {**env, "PYTHONPATH": str(install(tmp_path / "library"))}


def test_yaml_program_up_idempotent_bad_input_destroyed(workspace: Workspace, tmp_path: Path) -> None:
    _package(tmp_path)
    env = _with_library(workspace.env, tmp_path)
    # tmp_path/examples/project/../../package is tmp_path/package.
    ws = Workspace.create(tmp_path / "examples", env, root=ROOT / "examples" / "yaml", files=["Pulumi.yaml"])
    ws.pulumi("stack", "init", "--secrets-provider", "passphrase", stack=STACK)
    ws.pulumi("config", "set", "namespace", NAMESPACE, stack=STACK)
    try:
        ws.pulumi("up", "--yes", "--skip-preview", stack=STACK, timeout=1200)
        ws.assert_ready(NAMESPACE, WORKLOADS)
        outputs = json.loads(ws.pulumi("stack", "output", "--json", stack=STACK).stdout)
        assert outputs["url"] == f"http://orders.{NAMESPACE}.svc.cluster.local"
        assert outputs["database"]["host"] == "ordersdb" and outputs["database"]["database"] == "shop"
        # No shared password (#22): the service's own login is in its binding Secret.
        assert (outputs["database"]["secretName"], outputs["database"]["user"]) == ("", "")
        secret = ws.kube_json("get", "secret", "ordersdb-orders-g1", "-n", NAMESPACE)
        assert {"username", "password", "uri"} <= set(secret["data"])
        ws.pulumi("preview", "--expect-no-changes", stack=STACK, timeout=900)

        # A typo and a wrong type in the service's settings: the preview fails with the problems the
        # Python API raises for the same settings, and nothing changes.
        program = yaml.safe_load((ws.dir / "Pulumi.yaml").read_text())
        settings = program["resources"]["orders"]["properties"]["settings"]
        settings.update({"replcias": 2, "containerPort": "eighty"})
        (ws.dir / "Pulumi.yaml").write_text(yaml.safe_dump(program, sort_keys=False))
        with pytest.raises(ConfigError) as python:
            ApiConfig.for_environment("dev", settings)
        failed = ws.pulumi("preview", stack=STACK, check=False, timeout=900)
        assert failed.returncode != 0
        shown = failed.stdout + failed.stderr
        assert "invalid configuration (2 problem(s))" in str(python.value)
        for line in str(python.value).splitlines():
            assert line.strip() in shown, f"{line.strip()!r} not in the preview's output:\n{shown[-3000:]}"
    finally:
        destroyed = ws.pulumi("destroy", "--yes", "--remove", "--skip-preview", stack=STACK, timeout=1200, check=False)
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    deadline = time.monotonic() + 120
    while NAMESPACE in {n["metadata"]["name"] for n in ws.kube_json("get", "namespaces")["items"]}:
        assert time.monotonic() < deadline, "namespace still there"
        time.sleep(2)


def _npm_modules() -> Path:
    """node_modules of package/sdk-check (exact pins and lock), installed once into the toolchain
    cache with `npm ci` and reused while the lock is unchanged."""
    source = ROOT / "package" / "sdk-check"
    lock = (source / "package-lock.json").read_bytes()
    target = TOOLCHAIN / "sdk-check"
    stamp = target / "lock.sha256"
    digest = hashlib.sha256(lock).hexdigest()
    if not (stamp.exists() and stamp.read_text() == digest and (target / "node_modules" / ".bin" / "tsc").exists()):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(source / name, target / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=target, check=True, capture_output=True, timeout=900)
        stamp.write_text(digest)
    return target / "node_modules"


def _go_mod(sdk: Path, env: dict[str, str]) -> None:
    """A go.mod for the generated Go SDK (the generator writes none): the import path the schema names
    and the Go SDK of the toolchain's CLI."""
    version = subprocess.run(["pulumi", "version"], env=env, capture_output=True, text=True, check=True).stdout.strip()
    (sdk / "go.mod").write_text(f"module {GO_MODULE}\n\ngo 1.26\n\nrequire github.com/pulumi/pulumi/sdk/v3 {version}\n")
    subprocess.run(["go", "mod", "tidy"], cwd=sdk, env=env, check=True, capture_output=True, timeout=900)


def _readme_example(language: str) -> str:
    """The README's example for ``language`` (its one fenced block in the package's section)."""
    section = (ROOT / "README.md").read_text().split("## The components as a Pulumi package", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(rf"```{language}\n(.*?)```", section, re.S)
    return block


def _go_program(snippet: str) -> str:
    """The README's Go example (an import line, then a body) as a program."""
    imports, body = snippet.split("\n", 1)
    imports = imports.split("//")[0].strip().removeprefix("import ")
    return (f'package main\n\nimport (\n\t{imports}\n\t"github.com/pulumi/pulumi/sdk/v3/go/pulumi"\n)\n\n'
            f"func main() {{\n\tpulumi.Run(func(ctx *pulumi.Context) error {{\n{body}\n\t\treturn nil\n\t}})\n}}\n")


def test_typescript_and_go_sdks_compile(tmp_path: Path) -> None:
    try:
        env = _with_library({**os.environ, **toolchain_env()}, tmp_path)
    except ToolchainMissing as missing:
        pytest.skip(str(missing))
    if shutil.which("pulumi-sdkgen", path=env["PATH"]) is None:
        pytest.skip("pulumi-sdkgen missing: run `bash scripts/toolchain.sh --only sdkgen`")
    package = _package(tmp_path)
    schema = subprocess.run(["pulumi", "package", "get-schema", str(package)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=True, timeout=300).stdout
    spec = json.loads(schema)
    assert set(spec["resources"]) == {f"platform:index:{c}" for c in ("Environment", "Postgres", "Redis", "ApiService")}
    # The import path `pulumi package add` links the Go SDK under (the README's example uses it).
    assert spec["language"]["go"].get("importBasePath", f"{GO_MODULE}/platform") == f"{GO_MODULE}/platform"
    (tmp_path / "schema.json").write_text(json.dumps(spec))
    for language in ("nodejs", "go"):
        generate = ["pulumi-sdkgen", language, "schema.json", f"sdk/{language}"]
        subprocess.run(generate, cwd=tmp_path, env=env, check=True, timeout=300)

    # The README's examples are compiled with the SDK, as programs that use it.
    nodejs = tmp_path / "sdk" / "nodejs"
    (nodejs / "example").mkdir()
    (nodejs / "example" / "index.ts").write_text(_readme_example("typescript").replace('"@pulumi/platform"', '".."'))
    tsconfig = json.loads(re.sub(r"^\s*//.*$", "", (nodejs / "tsconfig.json").read_text(), flags=re.M))
    tsconfig["files"].append("example/index.ts")
    (nodejs / "tsconfig.json").write_text(json.dumps(tsconfig))
    (nodejs / "node_modules").symlink_to(_npm_modules())
    tsc = subprocess.run([str(nodejs / "node_modules" / ".bin" / "tsc"), "-p", "."], cwd=nodejs, env=env,
                         capture_output=True, text=True, timeout=600)
    assert tsc.returncode == 0, tsc.stdout[-3000:]
    assert (nodejs / "bin" / "postgres.d.ts").exists() and (nodejs / "bin" / "example" / "index.js").exists()

    go = tmp_path / "sdk" / "go"
    (go / "example").mkdir()
    (go / "example" / "main.go").write_text(_go_program(_readme_example("go")))
    _go_mod(go, env)
    build = subprocess.run(["go", "build", "./..."], cwd=go, env=env, capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stderr[-3000:]
