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
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import delivery

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


def uses_pulumi(job: dict[str, Any]) -> bool:
    return bool(pulumi_steps(job))


def test_no_pull_request_target_and_least_privilege() -> None:
    """Writes: comments and issues where the job posts them, and `id-token: write` exactly in the
    jobs that run a Pulumi operation (OIDC to Pulumi and the state bucket), nowhere else."""
    for path in WORKFLOWS:
        data = load(path)
        assert "pull_request_target" not in data["on"] and "workflow_run" not in data["on"], path.name
        assert data["permissions"] == {}, f"{path.name}: default to no permissions at the top"
    id_token_jobs = set()
    for file, name, job in all_jobs():
        assert "permissions" in job, f"{file}:{name} must declare its permissions"
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        allowed = {"pull-requests", "issues"} if file == "drift.yml" else {"pull-requests"}
        assert writes - {"id-token"} <= allowed, f"{file}:{name} writes {writes}"
        assert ("id-token" in writes) is uses_pulumi(job), f"{file}:{name}: id-token: write iff it runs ./.github/actions/pulumi"
        if "id-token" in writes:
            id_token_jobs.add(f"{file}:{name}")
    assert {"ci.yml:preview", "deploy.yml:production", "drift.yml:detect", "sweep.yml:find"} <= id_token_jobs
    assert "ci.yml:render" not in id_token_jobs and "ci.yml:comment" not in id_token_jobs


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


# What a template stands for in a job: each matrix value, a sample review-stack number.
SAMPLES = {"${{ github.event.pull_request.number }}": "12", "${{ fromJSON(needs.find.outputs.stacks) }}": ["pr-12"]}


def instances(job: dict[str, Any], step: dict[str, Any]) -> list[tuple[str, str]]:
    """(stack, environment) for every matrix value of a job's Pulumi step."""
    matrix = job.get("strategy", {}).get("matrix", {}).get("stack", [None])
    values = SAMPLES.get(matrix, matrix) if isinstance(matrix, str) else matrix
    out = []
    for value in values:
        def fill(text: str, value: str | None = value) -> str:
            text = text.replace("${{ matrix.stack }}", str(value))
            return text.replace("${{ github.event.pull_request.number }}", "12")
        out.append((fill(step["stack"]), fill(job.get("environment", ""))))
    return out


def test_every_pulumi_step_gets_its_environments_credentials_and_the_variables() -> None:
    """The composite takes settings as `toJSON(vars)` (one variable = one setting) and secrets
    of the job's environment, which holds exactly what the operation may do: previews and drift
    checks read with PREVIEW_KUBECONFIG in preview-<stack>, deploys use KUBECONFIG in <stack>."""
    action = load(GITHUB / "actions" / "pulumi" / "action.yml")
    steps = {s.get("id"): s for s in action["runs"]["steps"]}
    for step_id in ("credentials", "run"):
        env = steps[step_id]["env"]
        assert env["PLATFORM_VARS"] == "${{ inputs.variables }}", step_id
        assert env["PULUMI_ACCESS_TOKEN"] == "${{ inputs.pulumi-access-token }}", step_id  # noqa: S105
        assert env["PULUMI_CONFIG_PASSPHRASE"] == "${{ inputs.config-passphrase }}", step_id  # noqa: S105
    assert "tools.delivery credentials" in steps["credentials"]["run"] and '--fork "$FORK"' in steps["credentials"]["run"]
    assert all(f"tools.delivery {verb}" in steps["run"]["run"] for verb in ("run", "drift", "sweep"))
    install = next(s for s in action["runs"]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert install["with"] == {"pulumi-version": "3.272.0"}  # install only; tools.delivery drives the CLI
    checked = 0
    for file, name, job in all_jobs():
        for step in pulumi_steps(job):
            assert step["variables"] == "${{ toJSON(vars) }}", f"{file}:{name}"
            assert step["pulumi-access-token"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}", f"{file}:{name}"
            assert step["config-passphrase"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}", f"{file}:{name}"
            assert not {"backend-url", "secrets-provider"} & set(step), f"{file}:{name}: settings come from the variables"
            remediate = step.get("remediate") is True
            if step["command"] != "sweep":
                secret = delivery.kubeconfig_secret(step["command"], remediate)
                assert step["kubeconfig"] == f"${{{{ secrets.{secret} }}}}", f"{file}:{name}"
            for stack, environment in instances(job, step):
                assert environment == delivery.environment_of(step["command"], stack, remediate), f"{file}:{name} {stack}"
                checked += 1
    assert checked >= 12


def test_oidc_is_one_step_of_the_composite_and_only_when_asked() -> None:
    action = load(GITHUB / "actions" / "pulumi" / "action.yml")
    names = [s.get("name") for s in action["runs"]["steps"]]
    (oidc,) = [s for s in action["runs"]["steps"] if "tools.delivery oidc" in s.get("run", "")]
    assert names.index(oidc["name"]) < next(i for i, s in enumerate(action["runs"]["steps"]) if s.get("id") == "run")
    for variable in ("PULUMI_OIDC", "AWS_ROLE_ARN", "GCP_WORKLOAD_IDENTITY_PROVIDER", "AZURE_CLIENT_ID"):
        assert f"fromJSON(inputs.variables).{variable}" in oidc["if"]
        assert variable in delivery.VARIABLES
    cleanup = action["runs"]["steps"][-1]
    assert cleanup["if"] == "always()" and "platform-oidc.env" in cleanup["run"]


def test_the_composite_installs_no_dev_tools_and_pulumi_runs_only_inside_it() -> None:
    action = load(GITHUB / "actions" / "pulumi" / "action.yml")
    install = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    assert "-r requirements.txt" in install and "requirements-dev" not in install and "make venv" not in install
    for file, name, job in all_jobs():
        for step in job.get("steps", []):
            assert not str(step.get("uses", "")).startswith("pulumi/actions@"), f"{file}:{name} installs pulumi itself"
            assert not re.search(r"tools\.delivery (run|drift|sweep)\b", step.get("run", "")), f"{file}:{name}"


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
    script = comment["steps"][0]["with"]["script"]
    assert "updateComment" in script


def test_a_failed_render_rewrites_the_render_diff_comment() -> None:
    """The comment job runs after a failed render too (never after a cancel) and then says FAILED."""
    comment = workflow("ci.yml")["jobs"]["comment"]
    assert comment["if"].startswith("${{ !cancelled() &&"), comment["if"]
    step = comment["steps"][0]
    assert step["env"]["RESULT"] == "${{ needs.render.result }}"
    assert 'RESULT === "success"' in step["with"]["script"] and "FAILED (${RESULT})" in step["with"]["script"]


def test_the_test_workflow_gives_fast_feedback_and_keeps_the_toolchain_cache() -> None:
    jobs = workflow("test.yml")["jobs"]
    fast = "\n".join(s.get("run", "") for s in jobs["fast"]["steps"])
    assert "make lint unit" in fast and "toolchain" not in fast
    real = jobs["real-engine"]["steps"]
    uses = [str(s.get("uses", "")) for s in real]
    runs = [s.get("run", "") for s in real]
    restore = next(i for i, u in enumerate(uses) if u.startswith("actions/cache/restore@"))
    save = next(i for i, u in enumerate(uses) if u.startswith("actions/cache/save@"))
    assert not any(u.startswith("actions/cache@") for u in uses)  # its post-step save is lost when a test fails
    build = next(i for i, r in enumerate(runs) if "toolchain" in r)
    tests = [i for i, r in enumerate(runs) if "pytest" in r or "go-test" in r]
    assert restore < build < save < min(tests)
    assert real[save]["with"]["path"] == real[restore]["with"]["path"]
    assert real[save]["with"]["key"] == "${{ steps.cache.outputs.cache-primary-key }}" and real[restore]["id"] == "cache"
    key = real[restore]["with"]["key"]
    assert "hashFiles('scripts/toolchain.sh', 'scripts/toolchain/**', 'scripts/promtool.sh')" in key
    assert any("tests/integration" in r for r in runs)
    # `make test` runs the stand-ins' Go tests; GitHub runs them too.
    make_test = re.search(r"^test:(.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert make_test and "go-test" in make_test.group(1) and any(r.strip() == "make go-test" for r in runs)


def deploy_guard(job: dict[str, Any]) -> None:
    """The job checks main has not moved past its commit, and every later step skips if it has."""
    steps = job["steps"]
    guard = next(i for i, s in enumerate(steps) if "tools.delivery superseded" in s.get("run", ""))
    assert "--branch main" in steps[guard]["run"] and steps[guard]["id"] == "newest"
    for step in steps[guard + 1 :]:
        assert step["if"].startswith("steps.newest.outputs.current == 'true'"), step


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
        deploy_guard(jobs[stack])


def test_production_applies_the_plan_its_gate_approved() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    gate, production = jobs["production-preview"], jobs["production"]
    assert gate["environment"] == "preview-production"  # not `production`: it prepares that approval
    assert gate["permissions"] == {"contents": "read", "actions": "read", "id-token": "write"}
    steps = gate["steps"]
    check = next(s for s in steps if "tools.delivery protection --environment production" in s.get("run", ""))
    assert check["id"] == "gate" and '--approve-run "$APPROVE_RUN"' in check["run"]
    assert check["env"]["APPROVE_RUN"] == "${{ inputs.approve-run }}" and check["env"]["PLATFORM_VARS"] == "${{ toJSON(vars) }}"
    (preview,) = pulumi_steps(gate)
    assert (preview["command"], preview["stack"], preview["save-plan"]) == ("preview", "production", True)
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "production-plan-${{ steps.preview.outputs.plan-digest }}"
    assert upload["with"]["path"] == "${{ runner.temp }}/plan/plan.json" and upload["with"]["if-no-files-found"] == "error"
    assert steps.index(check) < steps.index(upload)
    assert gate["outputs"]["plan-digest"] == "${{ steps.gate.outputs.plan-digest || steps.preview.outputs.plan-digest }}"
    assert production["if"] == "needs.production-preview.outputs.approved == 'true'"
    download = next(s for s in production["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact@"))
    assert download["with"]["name"] == "production-plan-${{ needs.production-preview.outputs.plan-digest }}"
    assert download["with"]["run-id"] == "${{ needs.production-preview.outputs.plan-run }}"
    (up,) = pulumi_steps(production)
    assert up["plan"] == download["with"]["path"] + "/plan.json"
    assert up["plan-digest"] == "${{ needs.production-preview.outputs.plan-digest }}"
    assert production["permissions"]["actions"] == "read"
    assert workflow("deploy.yml")["on"]["workflow_dispatch"]["inputs"]["approve-run"]["default"] == ""


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
    (listing,) = pulumi_steps(find)
    assert (listing["command"], listing["stack"]) == ("sweep", "pr-*")
    assert find["outputs"]["stacks"] == "${{ steps.expired.outputs.stacks }}"
    assert next(s for s in find["steps"] if s.get("uses") == "./.github/actions/pulumi")["id"] == "expired"
    (step,) = pulumi_steps(sweep["jobs"]["destroy"])
    assert step["command"] == "destroy" and step["stack"] == "${{ matrix.stack }}"


def test_drift_is_checked_nightly_against_the_deployed_commit_and_repaired_only_where_allowed() -> None:
    drift = workflow("drift.yml")
    assert drift["on"]["schedule"]
    jobs = drift["jobs"]
    detect = jobs["detect"]
    assert sorted(detect["strategy"]["matrix"]["stack"]) == STACKS
    checkout = detect["steps"][0]
    assert checkout["with"]["fetch-depth"] == 0  # the deployed commit must be in the history
    (check,) = pulumi_steps(detect)
    assert (check["command"], check["drift-issue"], check.get("remediate", False)) == ("drift", True, False)
    dev, staging = jobs["remediate-dev"], jobs["remediate-staging"]
    assert {name for name, job in jobs.items() if any(s.get("remediate") for s in pulumi_steps(job))} == {
        "remediate-dev", "remediate-staging"}
    assert dev["needs"] == "detect" and staging["needs"] == "remediate-dev"  # dev first, staging after
    for job in (dev, staging):
        assert job["if"].startswith("${{ !cancelled() &&") and "github.ref == 'refs/heads/main'" in job["if"]
        assert "always()" not in job["if"]
        assert job["steps"][0]["with"]["fetch-depth"] == 0
    assert "vars.DRIFT_REMEDIATE == 'true'" in dev["if"] and "needs.remediate-dev.result == 'success'" in staging["if"]
    assert [pulumi_steps(j)[0]["stack"] for j in (dev, staging)] == ["dev", "staging"]
    assert set(delivery.REMEDIABLE) == {"dev", "staging"}
    make = (ROOT / "Makefile").read_text()
    assert '-m tools.delivery drift --stack "$(STACK)"' in make  # the command the workflow's action runs


def test_every_delivery_command_in_the_yaml_exists() -> None:
    """A renamed subcommand or flag would only fail on GitHub: parse each call here."""
    texts = [p.read_text().replace("\\\n", " ") for p in [*WORKFLOWS, *ACTIONS]]
    calls = [m.group(1) for text in texts for m in re.finditer(r"python3 -m tools\.delivery ([^\n;]+)", text)]
    assert len(calls) >= 8
    for call in calls:
        words = [w for w in shlex.split(call) if not re.fullmatch(r"\$\{\w+\[@\]\}", w)]  # "${issue[@]}": optional flags
        samples = {"$COMMAND": "preview", "$PR": "12"}  # a variable stands for any allowed value
        delivery.parser().parse_args([samples.get(w, "x") if w.startswith("$") else w for w in words])
