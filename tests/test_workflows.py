"""The GitHub workflows: zizmor, actionlint (with shellcheck) and the workflow JSON schema pass
offline, and the gates fail on deliberately bad workflows; plus the project's own rules (SHA
pins, permissions, timeouts, concurrency, credentials per backend, promotion order and its
guards) read from the parsed YAML. The logic the steps run is tools/delivery.py
(tests/test_delivery.py).

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
# A pull request workflow with one job, for the bad examples to complete.
PR_JOB = """
name: bad
on: pull_request
permissions: {}
jobs:
  build:
    runs-on: ubuntu-24.04
"""
BAD_PIN = PR_JOB + """    permissions:
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
# Unquoted expansion (shellcheck SC2086) and an unknown expression context.
BAD_SHELL = PR_JOB + """    steps:
      - run: echo $HOME/${{ githubb.sha }}
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


def offline(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """A gate tool of the gates venv, run from the repository root with no network settings."""
    return subprocess.run(
        [str(tool(name)), *map(str, args)], capture_output=True, text=True, env=OFFLINE, timeout=120, check=False, cwd=ROOT
    )


def zizmor(target: Path) -> tuple[int, list[dict[str, Any]]]:
    out = offline("zizmor", "--offline", "--no-progress", "--min-severity", "medium", "--format", "json", target)
    assert out.stdout.strip(), out.stderr
    return out.returncode, json.loads(out.stdout)


def schema(schema_name: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return offline("check-jsonschema", "--builtin-schema", schema_name, *files)


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


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return offline("actionlint", "-shellcheck", tool("shellcheck"), "-no-color", *files)


def test_actionlint_with_shellcheck_is_clean() -> None:
    out = actionlint(*WORKFLOWS)
    assert out.returncode == 0, out.stdout + out.stderr


def test_actionlint_rejects_a_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(BAD_SHELL)
    out = actionlint(bad)
    assert out.returncode != 0 and "SC2086" in out.stdout and "githubb" in out.stdout, out.stdout + out.stderr


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
        allowed = {"pull-requests", "issues"} if file == "drift.yml" else {"pull-requests"}
        assert writes <= allowed, f"{file}:{name} writes {writes}"


def test_checkouts_keep_no_credentials() -> None:
    for file, name, job in all_jobs():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{file}:{name}"


def test_every_job_has_a_timeout() -> None:
    """A job killed mid-update leaves the stack locked (`pulumi cancel`, README); GitHub's default is 6 hours."""
    for file, name, job in all_jobs():
        if "uses" in job:  # a reusable workflow's own jobs carry theirs
            continue
        assert 0 < job.get("timeout-minutes", 0) <= 90, f"{file}:{name} needs timeout-minutes"


def test_stack_changes_run_one_at_a_time_per_stack() -> None:
    groups: dict[str, set[str]] = {}
    for file, name, job in all_jobs():
        for step in pulumi_steps(job):
            if step["command"] in ("up", "destroy") or step.get("remediate") is True:
                assert job["concurrency"]["cancel-in-progress"] is False, f"{file}:{name}"
                group = job["concurrency"]["group"]
                assert group == f"pulumi-{step['stack']}", f"{file}:{name}: {group}"
                groups.setdefault(step["stack"], set()).add(file)
    assert set(groups) >= {"dev", "staging", "production", "pr-${{ github.event.pull_request.number }}", "${{ matrix.stack }}"}


def test_the_action_hands_every_backend_its_credentials() -> None:
    """Pulumi Cloud (token) and self-managed (URL + passphrase or KMS provider) reach the logic."""
    action = load(GITHUB / "actions" / "pulumi" / "action.yml")
    steps = {s.get("id"): s for s in action["runs"]["steps"]}
    backend = {
        "PULUMI_ACCESS_TOKEN": "${{ inputs.pulumi-access-token }}",
        "PULUMI_BACKEND_URL": "${{ inputs.backend-url }}",
        "PULUMI_CONFIG_PASSPHRASE": "${{ inputs.config-passphrase }}",
        "PULUMI_SECRETS_PROVIDER": "${{ inputs.secrets-provider }}",
    }
    for step_id in ("credentials", "run"):
        assert backend.items() <= steps[step_id]["env"].items(), step_id
    assert "tools.delivery credentials" in steps["credentials"]["run"] and '--fork "$FORK"' in steps["credentials"]["run"]
    assert "tools.delivery run" in steps["run"]["run"] and "tools.delivery drift" in steps["run"]["run"]
    install = next(s for s in action["runs"]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert install["with"] == {"pulumi-version": "3.272.0"}  # install only; tools.delivery drives the CLI
    for file, name, job in all_jobs():
        for step in pulumi_steps(job):
            assert step["pulumi-access-token"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}", f"{file}:{name}"
            assert step["backend-url"] == "${{ vars.PULUMI_BACKEND_URL }}", f"{file}:{name}"
            assert step["config-passphrase"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}", f"{file}:{name}"
            assert step["secrets-provider"] == "${{ vars.PULUMI_SECRETS_PROVIDER }}", f"{file}:{name}"


def test_only_fork_pull_requests_may_skip_for_lack_of_credentials() -> None:
    fork = "${{ github.event.pull_request.head.repo.full_name != github.repository }}"
    for file, name, job in all_jobs():
        pull_request = "pull_request" in load(GITHUB / "workflows" / file)["on"]
        for step in pulumi_steps(job):
            assert step.get("fork-pull-request", "false") == (fork if pull_request else "false"), f"{file}:{name}"
            assert "require-credentials" not in step, f"{file}:{name}"


def test_a_failed_preview_still_updates_its_comment() -> None:
    action = load(GITHUB / "actions" / "pulumi" / "action.yml")
    (comment,) = [s for s in action["runs"]["steps"] if "tools.delivery comment" in s.get("run", "")]
    assert comment["if"].startswith("!cancelled()")  # runs after a failed run step too
    assert comment["env"]["OUTCOME"] == "${{ steps.run.outcome }}"


def test_the_policy_pack_exists() -> None:
    assert (ROOT / "policy" / "PulumiPolicy.yaml").exists() and (ROOT / "policy" / "__main__.py").exists()


def test_pull_requests_preview_every_stack_and_post_the_render_diff() -> None:
    ci = workflow("ci.yml")
    assert set(ci["on"]) == {"pull_request"}
    assert ci["jobs"]["test"]["uses"] == "./.github/workflows/test.yml"
    preview = ci["jobs"]["preview"]
    assert sorted(preview["strategy"]["matrix"]["stack"]) == STACKS
    (step,) = pulumi_steps(preview)
    assert step["command"] == "preview" and step["comment-on-pr"] is True
    render = "\n".join(s.get("run", "") for s in ci["jobs"]["render"]["steps"])
    assert "-m tools.render" in render and "-m tools.diff --format markdown" in render
    comment = ci["jobs"]["comment"]
    assert comment["needs"] == "render" and "steps" in comment and "checkout" not in json.dumps(comment)
    assert "updateComment" in comment["steps"][0]["with"]["script"]


def test_the_test_workflow_gives_fast_feedback_and_caches_the_toolchain() -> None:
    jobs = workflow("test.yml")["jobs"]
    fast = "\n".join(s.get("run", "") for s in jobs["fast"]["steps"])
    assert "make lint unit" in fast and "toolchain" not in fast
    real = jobs["real-engine"]["steps"]
    cache = next(s for s in real if str(s.get("uses", "")).startswith("actions/cache@"))
    assert "~/.cache/platform-toolchain" in cache["with"]["path"] and "~/.cache/go-build" in cache["with"]["path"]
    assert "hashFiles('scripts/toolchain.sh', 'scripts/toolchain/**', 'scripts/promtool.sh')" in cache["with"]["key"]
    runs = [s.get("run", "") for s in real]
    assert real.index(cache) < next(i for i, r in enumerate(runs) if "toolchain" in r)
    assert any("tests/integration" in r for r in runs)


def test_main_promotes_dev_then_staging_then_production() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert (jobs["dev"]["needs"], jobs["staging"]["needs"]) == ("test", "dev")
    assert jobs["production"]["needs"] == ["staging", "production-preview"]
    for stack in ("dev", "staging", "production"):
        assert jobs[stack]["environment"] == stack
        (step,) = pulumi_steps(jobs[stack])
        assert (step["command"], step["stack"]) == ("up", stack)
        assert step.get("fork-pull-request", "false") == "false"  # a deploy without credentials fails
        runs = [s.get("run", "") for s in jobs[stack]["steps"]]
        uses = [s.get("uses") for s in jobs[stack]["steps"]]
        guard = next(i for i, r in enumerate(runs) if "tools.delivery superseded" in r)
        assert "--branch main" in runs[guard] and guard < uses.index("./.github/actions/pulumi")


def test_production_is_protected_and_previewed_for_the_approver() -> None:
    guard = workflow("deploy.yml")["jobs"]["production-preview"]
    assert "environment" not in guard  # it runs before the approval it prepares
    assert guard["permissions"] == {"contents": "read", "actions": "read"}
    assert any("tools.delivery protection --environment production" in s.get("run", "") for s in guard["steps"])
    (step,) = pulumi_steps(guard)
    assert (step["command"], step["stack"], step["kubeconfig"]) == ("preview", "production", "${{ secrets.PREVIEW_KUBECONFIG }}")


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
    find = sweep["jobs"]["find"]
    runs = "\n".join(s.get("run", "") for s in find["steps"])
    assert 'tools.delivery sweep --ttl-days "$TTL_DAYS"' in runs and "tools.delivery credentials --command sweep" in runs
    (step,) = pulumi_steps(sweep["jobs"]["destroy"])
    assert step["command"] == "destroy" and step["stack"] == "${{ matrix.stack }}"


def test_drift_is_checked_nightly_and_repaired_only_where_allowed() -> None:
    drift = workflow("drift.yml")
    assert drift["on"]["schedule"]
    detect, remediate = drift["jobs"]["detect"], drift["jobs"]["remediate"]
    assert sorted(detect["strategy"]["matrix"]["stack"]) == STACKS and "environment" not in detect
    (check,) = pulumi_steps(detect)
    assert (check["command"], check["drift-issue"], check.get("remediate", False)) == ("drift", True, False)
    assert remediate["strategy"]["matrix"]["stack"] == ["dev", "staging"]
    assert "vars.DRIFT_REMEDIATE == 'true'" in remediate["if"]
    (repair,) = pulumi_steps(remediate)
    assert (repair["command"], repair["remediate"]) == ("drift", True)
    make = (ROOT / "Makefile").read_text()
    assert '-m tools.delivery drift --stack "$(STACK)"' in make  # the command the workflow's action runs
