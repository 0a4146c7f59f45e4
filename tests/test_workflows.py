"""The GitHub workflows: zizmor and the workflow JSON schema pass offline, and both gates fail on
deliberately bad workflows; plus the project's own rules (SHA pins, permissions, concurrency,
policy pack, promotion order) read from the parsed YAML.

The gate tools live in the gates venv (requirements-gates.txt): PLATFORM_GATES_BIN, default
<repo>/.venv-gates/bin. Both run with an unreachable proxy, so a network fetch would fail the test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
GATES_BIN = Path(os.environ.get("PLATFORM_GATES_BIN", ROOT / ".venv-gates" / "bin"))
OFFLINE = {
    **os.environ,
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "ZIZMOR_OFFLINE": "1",
}
PINNED = re.compile(r"^\s*-?\s*uses:\s*[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+\s*$")
STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))
BAD_PIN = """
name: bad
on: pull_request
permissions: {}
jobs:
  build:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@v4
        with:
          persist-credentials: false
"""
# The classic "pwn request": secrets and a write token next to the fork's code.
BAD_TRIGGER = """
name: bad
on: pull_request_target
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@df4cb1c069e1874edd31b4311f1884172cec0e10 # v6.0.3
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: make test
"""
BAD_SCHEMA = """
name: bad
on: pull_request
jobs:
  build:
    runs-on: ubuntu-24.04
    steps: make test
"""


def tool(name: str) -> Path:
    path = GATES_BIN / name
    if not path.exists():
        message = f"{path} missing: make gates (requirements-gates.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def zizmor(target: Path) -> tuple[int, list[dict[str, Any]]]:
    out = subprocess.run(
        [str(tool("zizmor")), "--offline", "--no-progress", "--min-severity", "medium", "--format", "json", str(target)],
        capture_output=True,
        text=True,
        env=OFFLINE,
        timeout=120,
        check=False,
    )
    assert out.stdout.strip(), out.stderr
    return out.returncode, json.loads(out.stdout)


def schema(schema_name: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool("check-jsonschema")), "--builtin-schema", schema_name, *map(str, files)],
        capture_output=True,
        text=True,
        env=OFFLINE,
        timeout=120,
        check=False,
    )


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def workflow(name: str) -> dict[str, Any]:
    return load(GITHUB / "workflows" / name)


def pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s.get("with", {}) for s in job.get("steps", []) if s.get("uses") == "./.github/actions/pulumi"]


def all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path.name, name, job) for path in WORKFLOWS for name, job in load(path)["jobs"].items()]


# ---------------------------------------------------------------- the gates


def test_there_are_workflows_to_check() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "deploy.yml", "review.yml", "sweep.yml", "test.yml"}
    assert ACTIONS


def test_zizmor_finds_nothing_at_medium_or_above() -> None:
    code, findings = zizmor(GITHUB)
    assert findings == [] and code == 0, json.dumps(findings, indent=1)[:4000]


def test_workflows_match_the_github_workflow_schema() -> None:
    out = schema("vendor.github-workflows", *WORKFLOWS)
    assert out.returncode == 0, out.stdout + out.stderr
    out = schema("vendor.github-actions", *ACTIONS)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(("text", "audit"), [(BAD_PIN, "unpinned-uses"), (BAD_TRIGGER, "dangerous-triggers")])
def test_zizmor_rejects_a_bad_workflow(tmp_path: Path, text: str, audit: str) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(text)
    code, findings = zizmor(bad)
    assert code != 0
    assert audit in {f["ident"] for f in findings}


def test_schema_rejects_a_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_SCHEMA)
    out = schema("vendor.github-workflows", bad)
    assert out.returncode != 0 and "steps" in out.stdout + out.stderr


# ---------------------------------------------------------------- the project's own rules


def test_every_action_is_pinned_by_commit_sha_with_its_version() -> None:
    for path in [*WORKFLOWS, *ACTIONS]:
        for line in path.read_text().splitlines():
            if re.match(r"^\s*-?\s*uses:", line) and "./.github/" not in line:
                assert PINNED.match(line), f"{path.name}: {line.strip()}"


def test_no_pull_request_target_and_least_privilege() -> None:
    for path in WORKFLOWS:
        data = load(path)
        assert "pull_request_target" not in data["on"] and "workflow_run" not in data["on"], path.name
        assert data["permissions"] == {}, f"{path.name}: default to no permissions at the top"
    for file, name, job in all_jobs():
        assert "permissions" in job, f"{file}:{name} must declare its permissions"
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        assert writes <= {"pull-requests"}, f"{file}:{name} writes {writes}"


def test_checkouts_keep_no_credentials() -> None:
    for file, name, job in all_jobs():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{file}:{name}"


def test_stack_changes_run_one_at_a_time_per_stack() -> None:
    groups: dict[str, set[str]] = {}
    for file, name, job in all_jobs():
        for step in pulumi_steps(job):
            if step["command"] in ("up", "destroy"):
                assert job["concurrency"]["cancel-in-progress"] is False, f"{file}:{name}"
                group = job["concurrency"]["group"]
                assert group == f"pulumi-{step['stack']}", f"{file}:{name}: {group}"
                groups.setdefault(step["stack"], set()).add(file)
    assert set(groups) >= {"dev", "staging", "production", "pr-${{ github.event.pull_request.number }}"}


def test_preview_and_up_use_the_policy_pack() -> None:
    action = load(GITHUB / "actions" / "pulumi" / "action.yml")
    pulumi = next(s for s in action["runs"]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert pulumi["with"]["policyPacks"] == "${{ inputs.command != 'destroy' && 'policy' || '' }}"
    assert pulumi["with"]["remove"] == "${{ inputs.command == 'destroy' }}"
    assert pulumi["with"]["pulumi-version"] == "3.272.0"
    assert (ROOT / "policy" / "PulumiPolicy.yaml").exists() and (ROOT / "policy" / "__main__.py").exists()


def test_pull_requests_preview_every_stack_and_post_the_render_diff() -> None:
    ci = workflow("ci.yml")
    assert set(ci["on"]) == {"pull_request"}
    assert ci["jobs"]["test"]["uses"] == "./.github/workflows/test.yml"
    assert "make test" in json.dumps(workflow("test.yml"))
    preview = ci["jobs"]["preview"]
    assert sorted(preview["strategy"]["matrix"]["stack"]) == STACKS
    (step,) = pulumi_steps(preview)
    assert step["command"] == "preview" and step["comment-on-pr"] is True and step["require-credentials"] is False
    render = "\n".join(s.get("run", "") for s in ci["jobs"]["render"]["steps"])
    assert "-m tools.render" in render and "-m tools.diff --format markdown" in render
    comment = ci["jobs"]["comment"]
    assert comment["needs"] == "render" and "steps" in comment and "checkout" not in json.dumps(comment)
    assert "updateComment" in comment["steps"][0]["with"]["script"]


def test_main_promotes_dev_then_staging_then_production() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert (jobs["dev"]["needs"], jobs["staging"]["needs"], jobs["production"]["needs"]) == ("test", "dev", "staging")
    for stack in ("dev", "staging", "production"):
        assert jobs[stack]["environment"] == stack
        (step,) = pulumi_steps(jobs[stack])
        assert (step["command"], step["stack"]) == ("up", stack)
        assert step.get("require-credentials", True) is True  # a deploy without credentials fails


def test_labelled_pull_requests_get_a_review_stack_destroyed_on_close() -> None:
    review = workflow("review.yml")
    assert "closed" in review["on"]["pull_request"]["types"] and "labeled" in review["on"]["pull_request"]["types"]
    (up,) = pulumi_steps(review["jobs"]["deploy"])
    (down,) = pulumi_steps(review["jobs"]["destroy"])
    assert up["stack"] == down["stack"] == "pr-${{ github.event.pull_request.number }}"
    assert (up["command"], up["upsert"], down["command"]) == ("up", True, "destroy")
    assert "'review-env'" in review["jobs"]["deploy"]["if"] and "closed" in review["jobs"]["destroy"]["if"]


def test_the_sweep_destroys_expired_review_stacks() -> None:
    sweep = workflow("sweep.yml")
    assert sweep["on"]["schedule"]
    script = sweep["jobs"]["find"]["steps"][-1]["with"]["script"]
    assert "^pr-(\\d+)$" in script and "pr.state" in script and "TTL_DAYS" in script
    (step,) = pulumi_steps(sweep["jobs"]["destroy"])
    assert step["command"] == "destroy" and step["stack"] == "${{ matrix.stack }}"
