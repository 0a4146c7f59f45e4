"""tools/delivery.py, the workflows' logic, run as the workflows run it (`python3 -m tools.delivery`)
with fake `pulumi` and `gh` executables (tests/fakes) first on PATH: each test sets up what the
fakes answer, then checks the exit code, the step outputs, the summary and the exact calls made.
The drift fixture is real `pulumi preview --refresh --json` output of the local engine
(tests/fixtures/delivery/, checked against the engine by tests/integration/test_delivery_real.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAKES = ROOT / "tests" / "fakes"
FIXTURES = ROOT / "tests" / "fixtures" / "delivery"
REPO = "acme/platform"
RUN_URL = f"https://github.com/{REPO}/actions/runs/4711"
KMS = "awskms://alias/platform?region=eu-west-1"
SHA = "0123abc0123abc0123abc0123abc0123abc0123a"


@dataclass
class Result:
    code: int
    stdout: str
    outputs: dict[str, str]
    summary: str
    calls: list[list[str]]
    cwds: list[dict[str, Any]]

    def ran(self, *prefix: str) -> list[list[str]]:
        return [c for c in self.calls if c[: len(prefix)] == list(prefix)]


class Fakes:
    def __init__(self, base: Path) -> None:
        self.dir = base
        self.pulumi: dict[str, Any] = {"stacks": []}
        self.gh: dict[str, dict[str, Any]] = {}
        self.env: dict[str, str] = {}

    def stacks(self, *names: str, **extra: Any) -> None:
        self.pulumi["stacks"] = [{"name": n, **extra} for n in names]

    def run(self, *args: str) -> Result:
        (self.dir / "pulumi.json").write_text(json.dumps(self.pulumi))
        (self.dir / "gh.json").write_text(json.dumps(self.gh))
        for name in ("calls.jsonl", "cwd.jsonl", "output", "summary"):
            (self.dir / name).write_text("")
        env = {
            "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
            "FAKE_DIR": str(self.dir),
            "GITHUB_OUTPUT": str(self.dir / "output"),
            "GITHUB_STEP_SUMMARY": str(self.dir / "summary"),
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_RUN_ID": "4711",
            "GITHUB_SERVER_URL": "https://github.com",
            "RUNNER_TEMP": str(self.dir),
            **self.env,
        }
        proc = subprocess.run(
            [sys.executable, "-m", "tools.delivery", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.pulumi = json.loads((self.dir / "pulumi.json").read_text())  # what the fake changed (tags, stacks)
        outputs = dict(line.split("=", 1) for line in (self.dir / "output").read_text().splitlines())
        calls = [json.loads(line) for line in (self.dir / "calls.jsonl").read_text().splitlines()]
        cwds = [json.loads(line) for line in (self.dir / "cwd.jsonl").read_text().splitlines()]
        return Result(proc.returncode, proc.stdout + proc.stderr, outputs, (self.dir / "summary").read_text(), calls, cwds)


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    return Fakes(tmp_path)


CLOUD = {"PULUMI_ACCESS_TOKEN": "pul-token", "PULUMI_ORG": "acme", "KUBECONFIG_DATA": "apiVersion: v1"}
SELF_MANAGED = {"PULUMI_BACKEND_URL": "s3://state-bucket", "PULUMI_CONFIG_PASSPHRASE": "pw", "KUBECONFIG_DATA": "apiVersion: v1"}


# ---------------------------------------------------------------- credentials


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        (CLOUD, None),
        (SELF_MANAGED, None),  # a self-managed backend needs no Pulumi token and has no organisation
        ({"PULUMI_BACKEND_URL": "file:///state", "PULUMI_SECRETS_PROVIDER": KMS, "KUBECONFIG_DATA": "x"}, None),
        ({"PULUMI_OIDC": "team:deployers", "PULUMI_ORG": "acme", "KUBECONFIG_DATA": "x"}, None),  # token by exchange
        ({"PULUMI_ORG": "acme", "KUBECONFIG_DATA": "x"}, "secret PULUMI_ACCESS_TOKEN in GitHub environment review"),
        ({"PULUMI_ACCESS_TOKEN": "t", "KUBECONFIG_DATA": "x"}, "variable PULUMI_ORG"),
        ({"PULUMI_BACKEND_URL": "gs://state", "PULUMI_ACCESS_TOKEN": "t", "KUBECONFIG_DATA": "x"}, "secret PULUMI_CONFIG_PASS"),
        # A self-hosted Pulumi Cloud is a Cloud backend: a token, never a passphrase.
        ({"PULUMI_BACKEND_URL": "https://pulumi.acme", "PULUMI_ORG": "acme", "KUBECONFIG_DATA": "x"}, "secret PULUMI_ACCESS"),
        ({"PULUMI_ACCESS_TOKEN": "t", "PULUMI_ORG": "acme"}, "secret KUBECONFIG in GitHub environment review"),
    ],
)
def test_credentials_are_required_everywhere_but_on_fork_pull_requests(
    fakes: Fakes, env: dict[str, str], missing: str | None
) -> None:
    fakes.env = env
    same_repo = fakes.run("credentials", "--command", "up", "--stack", "pr-7", "--fork", "false")
    fork = fakes.run("credentials", "--command", "preview", "--stack", "dev", "--fork", "true")
    if missing is None:
        assert (same_repo.code, same_repo.outputs) == (0, {"ok": "true"}), same_repo.stdout
        assert (fork.code, fork.outputs) == (0, {"ok": "true"})
        return
    assert same_repo.code == 1 and same_repo.outputs == {"ok": "false"}, same_repo.stdout
    assert f"::error::pulumi up pr-7: missing {missing}" in same_repo.stdout
    assert "PULUMI_CONFIG_PASSPHRASE" not in same_repo.stdout or "PASS" in missing  # a Cloud backend has none
    assert (fork.code, fork.outputs) == (0, {"ok": "false"})
    assert "forks get no secrets" in fork.summary
    assert not same_repo.calls and not fork.calls


@pytest.mark.parametrize(
    ("args", "secret"),
    [
        (["--command", "preview", "--stack", "production"], "secret PREVIEW_KUBECONFIG in GitHub environment preview-production"),
        (["--command", "drift", "--stack", "staging"], "secret PREVIEW_KUBECONFIG in GitHub environment preview-staging"),
        (["--command", "drift", "--stack", "dev", "--remediate", "true"], "secret KUBECONFIG in GitHub environment dev"),
        (["--command", "up", "--stack", "production"], "secret KUBECONFIG in GitHub environment production"),
    ],
)
def test_the_missing_kubeconfig_is_named_as_the_job_knows_it(fakes: Fakes, args: list[str], secret: str) -> None:
    fakes.env = {"PULUMI_ACCESS_TOKEN": "t", "PULUMI_ORG": "acme"}
    result = fakes.run("credentials", *args)
    assert result.code == 1 and f"missing {secret} (the target cluster)" in result.stdout, result.stdout


def test_settings_arrive_as_the_jobs_variables(fakes: Fakes) -> None:
    """`toJSON(vars)`: one variable is one setting; an empty variable counts as unset."""
    variables = {"PULUMI_BACKEND_URL": "gs://state", "PULUMI_SECRETS_PROVIDER": KMS, "PULUMI_ORG": "", "UNRELATED": "x"}
    fakes.env = {"PLATFORM_VARS": json.dumps(variables), "KUBECONFIG_DATA": "x"}
    assert fakes.run("credentials", "--command", "up", "--stack", "dev").outputs == {"ok": "true"}
    fakes.env["PLATFORM_VARS"] = json.dumps({**variables, "PULUMI_SECRETS_PROVIDER": ""})
    result = fakes.run("credentials", "--command", "up", "--stack", "dev")
    assert result.code == 1 and "secret PULUMI_CONFIG_PASSPHRASE in GitHub environment dev" in result.stdout


def test_an_organisation_on_a_self_managed_backend_is_an_error(fakes: Fakes, tmp_path: Path) -> None:
    fakes.env = {**SELF_MANAGED, "PULUMI_ORG": "acme"}
    result = fakes.run("run", "--command", "up", "--stack", "dev", "--log", str(tmp_path / "l"))
    assert result.code == 1 and "PULUMI_ORG is set, but PULUMI_BACKEND_URL is a self-managed backend" in result.stdout
    assert not result.calls


# ---------------------------------------------------------------- previews never create or change a stack


# On Pulumi Cloud, another organisation's stack of the same name is not this one.
@pytest.mark.parametrize(("env", "listed"), [(CLOUD, ["other-org/platform/production"]), (SELF_MANAGED, [])])
def test_a_preview_of_a_missing_stack_is_a_notice_and_creates_nothing(
    fakes: Fakes, tmp_path: Path, env: dict[str, str], listed: list[str]
) -> None:
    fakes.env = env
    fakes.stacks(*listed)
    log = tmp_path / "production.log"
    result = fakes.run("run", "--command", "preview", "--stack", "production", "--log", str(log))
    assert result.code == 0, result.stdout
    assert [c[:3] for c in result.calls] == [["pulumi", "stack", "ls"]], result.calls  # listed; nothing else
    assert "::notice::stack production does not exist yet: nothing to preview" in result.stdout
    assert "Its first deploy creates it" in log.read_text()


def test_a_preview_reads_with_the_policy_pack_and_adds_the_data_safety_summary(fakes: Fakes, tmp_path: Path) -> None:
    fakes.env = {**CLOUD, "GITHUB_SHA": SHA}
    fakes.stacks("acme/platform/dev")
    fakes.pulumi["preview_json"] = json.loads((FIXTURES / "preview-replace-statefulset.json").read_text())
    log = tmp_path / "dev.log"
    result = fakes.run("run", "--command", "preview", "--stack", "dev", "--log", str(log))
    assert result.code == 0, result.stdout
    (listing,) = result.ran("pulumi", "stack", "ls")
    assert listing[listing.index("--organization") + 1] == "acme"
    assert not result.ran("pulumi", "stack", "init") and not result.ran("pulumi", "up")
    assert not result.ran("pulumi", "stack", "tag")
    human, as_json = result.ran("pulumi", "preview")
    assert human[human.index("--policy-pack") + 1] == str(ROOT / "policy") and human[human.index("--stack") + 1] == "acme/dev"
    assert "--diff" in human and "--suppress-outputs" in human and "--save-plan" not in human
    assert {"--json", "--show-secrets"} <= set(as_json) and as_json[as_json.index("--stack") + 1] == "acme/dev"
    safety = log.with_suffix(".safety.md").read_text()
    assert safety.startswith(":warning:", 5) and "**StatefulSet** `redis-statefulset`: REPLACED" in safety, safety
    assert safety in result.summary and f"Commit: `{SHA}`" in result.summary


def test_a_preview_without_its_data_safety_summary_fails(fakes: Fakes, tmp_path: Path) -> None:
    """No comment may look safe because the JSON pass broke."""
    fakes.env = CLOUD
    fakes.stacks("dev")
    fakes.pulumi["preview_json"] = "not a preview"
    log = tmp_path / "dev.log"
    result = fakes.run("run", "--command", "preview", "--stack", "dev", "--log", str(log))
    assert result.code == 1 and "Data safety of `dev`: unknown" in log.with_suffix(".safety.md").read_text()


def test_the_production_preview_saves_the_plan_it_shows(fakes: Fakes, tmp_path: Path) -> None:
    fakes.env = CLOUD
    fakes.stacks("production")
    plan = tmp_path / "plan" / "plan.json"
    args = ["--command", "preview", "--stack", "production", "--log", str(tmp_path / "l"), "--save-plan", str(plan)]
    result = fakes.run("run", *args)
    assert result.code == 0, result.stdout
    human = result.ran("pulumi", "preview")[0]
    assert human[human.index("--save-plan") + 1] == str(plan)
    digest = hashlib.sha256(plan.read_bytes()).hexdigest()
    assert result.outputs["plan-digest"] == digest and digest in result.summary


# ---------------------------------------------------------------- up: creates where safe, applies the plan, records the commit


def test_up_creates_a_missing_cloud_stack_in_its_organisation_and_records_the_commit(fakes: Fakes, tmp_path: Path) -> None:
    fakes.env = {**CLOUD, "GITHUB_SHA": SHA}
    result = fakes.run("run", "--command", "up", "--stack", "dev", "--log", str(tmp_path / "dev.log"))
    assert result.code == 0, result.stdout
    assert result.ran("pulumi", "stack", "init") == [["pulumi", "stack", "init", "acme/dev", "--non-interactive"]]
    (up,) = result.ran("pulumi", "up")
    assert {"--yes", "--skip-preview"} <= set(up) and up[up.index("--stack") + 1] == "acme/dev" and "--plan" not in up
    assert fakes.pulumi["tags"] == {"acme/dev": {"deployed-commit": SHA}}
    assert f"deployed-commit={SHA}" in result.summary


def test_a_failed_up_does_not_move_the_deployed_commit(fakes: Fakes, tmp_path: Path) -> None:
    fakes.env = {**SELF_MANAGED, "GITHUB_SHA": SHA}
    fakes.stacks("dev")
    fakes.pulumi["exit"] = {"up": 255}
    result = fakes.run("run", "--command", "up", "--stack", "dev", "--log", str(tmp_path / "l"))
    assert result.code == 255 and "pulumi up dev: FAILED (exit 255)" in result.summary
    assert not result.ran("pulumi", "stack", "tag")


def test_a_self_managed_backend_never_creates_a_long_lived_stack_in_ci(fakes: Fakes, tmp_path: Path) -> None:
    """Its salt or key would be written to a Pulumi.<stack>.yaml that the checkout throws away."""
    fakes.env = SELF_MANAGED
    result = fakes.run("run", "--command", "up", "--stack", "staging", "--log", str(tmp_path / "s.log"))
    assert result.code == 1
    assert "stack 'staging' does not exist in the self-managed backend" in result.stdout
    assert "pulumi stack init staging --secrets-provider" in result.stdout and "commit Pulumi.staging.yaml" in result.stdout
    assert [c[:2] for c in result.calls] == [["pulumi", "stack"]]  # listed, nothing created, nothing run


@pytest.mark.parametrize(("provider", "expected"), [(None, "passphrase"), (KMS, KMS)])
def test_review_stacks_are_created_with_the_backends_secrets_provider(
    fakes: Fakes, tmp_path: Path, provider: str | None, expected: str
) -> None:
    fakes.env = {**SELF_MANAGED, **({"PULUMI_SECRETS_PROVIDER": provider} if provider else {})}
    result = fakes.run("run", "--command", "up", "--stack", "pr-7", "--upsert", "true", "--log", str(tmp_path / "l"))
    assert result.code == 0, result.stdout
    (init,) = result.ran("pulumi", "stack", "init")
    assert init == ["pulumi", "stack", "init", "pr-7", "--secrets-provider", expected, "--non-interactive"]
    assert result.ran("pulumi", "up")


def test_production_applies_exactly_the_approved_plan(fakes: Fakes, tmp_path: Path) -> None:
    fakes.env = CLOUD
    fakes.stacks("production")
    plan = tmp_path / "plan.json"
    plan.write_text('{"resources": {}}')
    digest = hashlib.sha256(plan.read_bytes()).hexdigest()
    args = ["run", "--command", "up", "--stack", "production", "--log", str(tmp_path / "l"), "--plan", str(plan)]
    applied = fakes.run(*args, "--plan-digest", digest)
    assert applied.code == 0, applied.stdout
    (up,) = applied.ran("pulumi", "up")
    assert up[up.index("--plan") + 1] == str(plan)
    swapped = fakes.run(*args, "--plan-digest", "0" * 64)
    assert swapped.code == 1 and "not the approved" in swapped.stdout and not swapped.calls
    plan.unlink()
    missing = fakes.run(*args, "--plan-digest", digest)
    assert missing.code == 1 and "is missing" in missing.stdout and not missing.ran("pulumi", "up")


def test_the_first_production_deploy_creates_the_stack_without_a_plan(fakes: Fakes, tmp_path: Path) -> None:
    """A preview needs the stack, so the very first one saved no plan; once it exists, never again."""
    fakes.env = {**CLOUD, "GITHUB_SHA": SHA}
    plan = ["--plan", str(tmp_path / "none.json")]
    args = ["run", "--command", "up", "--stack", "production", "--log", str(tmp_path / "l"), *plan]
    first = fakes.run(*args, "--plan-digest", "")
    assert first.code == 0, first.stdout
    assert "its first deploy creates it, without a plan" in first.stdout
    assert first.ran("pulumi", "stack", "init") and "--plan" not in first.ran("pulumi", "up")[0]
    again = fakes.run(*args, "--plan-digest", "")  # the stack exists now (the fake remembers)
    assert again.code == 1 and "is missing" in again.stdout and not again.ran("pulumi", "up")


def test_a_plan_that_no_longer_matches_fails_the_up(fakes: Fakes, tmp_path: Path) -> None:
    """The CLI refuses a step outside the plan ("violates plan"); that failure is the step's."""
    fakes.env = CLOUD
    fakes.stacks("production")
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    fakes.pulumi["exit"] = {"up": 255}
    result = fakes.run("run", "--command", "up", "--stack", "production", "--log", str(tmp_path / "l"), "--plan", str(plan))
    assert result.code == 255 and not result.ran("pulumi", "stack", "tag")


# ---------------------------------------------------------------- destroy


def test_destroying_a_stack_that_is_gone_succeeds_quietly(fakes: Fakes, tmp_path: Path) -> None:
    fakes.env = CLOUD
    fakes.stacks("dev", "pr-8")
    result = fakes.run("run", "--command", "destroy", "--stack", "pr-7", "--log", str(tmp_path / "l"))
    assert result.code == 0, result.stdout
    assert not result.ran("pulumi", "destroy") and not result.ran("pulumi", "stack", "init")
    assert "stack pr-7 does not exist" in result.summary


def test_destroy_removes_an_existing_stack_and_reports_failure(fakes: Fakes, tmp_path: Path) -> None:
    fakes.env = CLOUD
    fakes.stacks("acme/platform/pr-7")  # Pulumi Cloud lists org/project/stack
    done = fakes.run("run", "--command", "destroy", "--stack", "pr-7", "--log", str(tmp_path / "l"))
    assert done.code == 0
    (destroy,) = done.ran("pulumi", "destroy")
    assert {"--yes", "--remove"} <= set(destroy) and destroy[destroy.index("--stack") + 1] == "acme/pr-7"
    fakes.stacks("acme/platform/pr-7")
    fakes.pulumi["exit"] = {"destroy": 1}
    assert fakes.run("run", "--command", "destroy", "--stack", "pr-7", "--log", str(tmp_path / "l")).code == 1


def test_a_backend_error_is_not_taken_for_a_missing_stack(fakes: Fakes, tmp_path: Path) -> None:
    fakes.env = CLOUD
    fakes.pulumi["exit"] = {"stack": 1}  # `pulumi stack ls` fails: unauthorised, network, ...
    result = fakes.run("run", "--command", "destroy", "--stack", "pr-7", "--log", str(tmp_path / "l"))
    assert result.code == 1 and "::error::" in result.stdout and not result.ran("pulumi", "destroy")


# ---------------------------------------------------------------- the pull request comment


def comment_args(log: Path, outcome: str) -> list[str]:
    args = ["--command", "preview", "--stack", "dev", "--outcome", outcome, "--pr", "12", "--sha", "abc123"]
    return ["comment", *args, "--log", str(log)]


def test_a_successful_preview_posts_its_data_safety_summary_first(fakes: Fakes, tmp_path: Path) -> None:
    log = tmp_path / "dev.log"
    log.write_text("+ 3 to create")
    log.with_suffix(".safety.md").write_text("#### :warning: Data safety of `dev`: 1 finding(s)\n\n- **Secret** `db`: ...\n")
    result = fakes.run(*comment_args(log, "success"))
    assert result.code == 0, result.stdout
    (post,) = result.ran("gh", "api", "--method", "POST")
    assert post[4] == f"repos/{REPO}/issues/12/comments"
    body = post[-1]
    assert body.startswith("<!-- platform-pulumi-preview-dev -->\n#### :warning: Data safety of `dev`")
    assert body.index("Data safety") < body.index("+ 3 to create") and "abc123" in body


def test_a_failed_preview_replaces_the_last_good_comment(fakes: Fakes, tmp_path: Path) -> None:
    log = tmp_path / "dev.log"
    log.write_text("error: the program failed")
    old = {"id": 99, "type": "Bot", "body": "<!-- platform-pulumi-preview-dev -->\n+ 3 to create"}
    someone = {"id": 98, "type": "User", "body": "<!-- platform-pulumi-preview-dev -->\nquoted by a human"}
    other = {"id": 97, "type": "Bot", "body": "<!-- platform-pulumi-preview-staging -->\n+ 1"}
    listed = "".join(json.dumps(c) + "\n" for c in (someone, other, old))
    fakes.gh = {f"api --paginate repos/{REPO}/issues/12/comments": {"stdout": listed}}
    result = fakes.run(*comment_args(log, "failure"))
    assert result.code == 0, result.stdout
    assert not result.ran("gh", "api", "--method", "POST")
    (patch,) = result.ran("gh", "api", "--method", "PATCH")
    assert patch[4] == f"repos/{REPO}/issues/comments/99"
    body = patch[-1]
    assert "FAILED" in body and RUN_URL in body and "abc123" in body and "+ 3 to create" not in body
    assert "Data safety of `dev`: unknown" in body  # never the old "safe"
    # What the failed preview planned before failing is kept: a replacement must not go unseen.
    log.with_suffix(".safety.md").write_text("#### :warning: Data safety of `dev`: 1 finding(s) (INCOMPLETE: ...)\n")
    body = fakes.run(*comment_args(log, "failure")).ran("gh", "api", "--method", "PATCH")[0][-1]
    assert "1 finding(s) (INCOMPLETE" in body and "FAILED" in body


# ---------------------------------------------------------------- review environment sweep


def iso(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def pr(state: str, *labels: str) -> dict[str, Any]:
    return {"stdout": json.dumps({"state": state, "labels": [{"name": n} for n in labels]})}


def test_the_sweep_keeps_active_review_stacks_and_destroys_the_rest(fakes: Fakes) -> None:
    fakes.env = CLOUD
    fakes.pulumi["stacks"] = [
        {"name": "dev", "lastUpdate": iso(90)},
        {"name": "pr-1", "lastUpdate": iso(1)},  # closed PR
        {"name": "pr-2", "lastUpdate": iso(90)},  # open and labelled: never, however old
        {"name": "pr-3"},  # open, unlabelled, never updated or updating now: age unknown = young
        {"name": "pr-4", "lastUpdate": iso(30)},  # open, unlabelled, idle past the TTL
        {"name": "pr-5", "lastUpdate": iso(1)},  # no such PR
        {"name": "pr-6", "lastUpdate": iso(2)},  # open, unlabelled, recent
        {"name": "acme/platform/pr-8", "lastUpdate": iso(40), "updateInProgress": True},  # running
        {"name": "acme/platform/pr-9", "lastUpdate": iso(1)},  # merged
        {"name": "other/platform/pr-9", "lastUpdate": iso(1)},  # another organisation's: not ours to judge
        {"name": "other/platform/pr-10", "lastUpdate": iso(90)},
    ]
    fakes.gh = {
        f"api repos/{REPO}/pulls/1": pr("closed", "review-env"),
        f"api repos/{REPO}/pulls/2": pr("open", "bug", "review-env"),
        f"api repos/{REPO}/pulls/3": pr("open"),
        f"api repos/{REPO}/pulls/4": pr("open", "bug"),
        f"api repos/{REPO}/pulls/5": {"code": 1, "stderr": "gh: Not Found (HTTP 404)"},
        f"api repos/{REPO}/pulls/6": pr("open"),
        f"api repos/{REPO}/pulls/8": pr("open"),
        f"api repos/{REPO}/pulls/9": pr("closed"),
    }
    result = fakes.run("sweep", "--ttl-days", "7")
    assert result.code == 0, result.stdout
    assert json.loads(result.outputs["stacks"]) == ["pr-1", "pr-4", "pr-5", "pr-9"]
    assert "| acme/pr-2 | keep | pull request open and labelled review-env |" in result.summary
    assert "| acme/pr-3 | keep | age unknown" in result.summary
    assert result.summary.count("pr-9") == 1 and "pr-10" not in result.summary
    assert not result.ran("gh", "api", f"repos/{REPO}/pulls/10")
    (listing,) = result.ran("pulumi", "stack", "ls")
    assert listing[listing.index("--organization") + 1] == "acme"
    assert not result.ran("pulumi", "destroy")


def test_the_sweep_takes_its_ttl_from_the_variables(fakes: Fakes) -> None:
    fakes.env = {**CLOUD, "PLATFORM_VARS": json.dumps({"REVIEW_ENV_TTL_DAYS": "40"})}
    fakes.stacks("pr-4", lastUpdate=iso(30))
    fakes.gh = {f"api repos/{REPO}/pulls/4": pr("open")}
    assert json.loads(fakes.run("sweep").outputs["stacks"]) == []


def test_the_sweep_destroys_nothing_when_github_cannot_answer(fakes: Fakes) -> None:
    fakes.env = CLOUD
    fakes.stacks("pr-1", "pr-2", lastUpdate=iso(30))
    fakes.gh = {f"api repos/{REPO}/pulls/1": pr("closed"), f"api repos/{REPO}/pulls/2": {"code": 1, "stderr": "HTTP 502"}}
    result = fakes.run("sweep", "--ttl-days", "7")
    assert result.code == 1 and "stacks" not in result.outputs and "destroying nothing" in result.stdout


# ---------------------------------------------------------------- drift, measured against the deployed commit


def drift_fixture() -> dict[str, Any]:
    """Real `pulumi preview --refresh --json` of the local engine after a NetworkPolicy was deleted
    and a Service relabelled with kubectl (tests/integration/test_delivery_real.py, which checks
    this file against the engine): a `create`, and an `update` whose server-side dry run failed
    with a field conflict (so the CLI exits non-zero, as the fake does where a test says so)."""
    return dict(json.loads((FIXTURES / "preview-refresh-drift.json").read_text()))


TITLE = "Drift detected in stack {}"


def issues(*open_titles: str) -> dict[str, Any]:
    return {"stdout": json.dumps([{"number": 40 + i, "title": t} for i, t in enumerate(open_titles)])}


def deployed(fakes: Fakes, stack: str = "dev", commit: str = SHA) -> None:
    fakes.env = {**SELF_MANAGED, "GITHUB_SHA": SHA, **fakes.env}
    fakes.stacks(stack)
    fakes.pulumi["tags"] = {stack: {"deployed-commit": commit}}


def test_drift_is_reported_with_the_fields_of_the_real_json_and_opens_one_issue(fakes: Fakes) -> None:
    deployed(fakes)
    fakes.pulumi["preview_json"] = drift_fixture()
    fakes.pulumi["exit"] = {"preview": 255}  # as the real run exited: the conflict fails the dry run
    fakes.gh = {"issue list": issues(TITLE.format("staging"))}
    result = fakes.run("drift", "--stack", "dev", "--issue")
    assert result.code == 2, result.stdout
    (preview,) = result.ran("pulumi", "preview")
    assert "--refresh" in preview and "--json" in preview and preview[preview.index("--stack") + 1] == "dev"
    assert preview[preview.index("--cwd") + 1] == str(ROOT)  # the deployed commit is this checkout
    for text in (result.summary, result.ran("gh", "issue", "create")[0][-1]):
        assert "2 resource(s)" in text and f"deployment of `{SHA}`" in text
        assert "| `kubernetes:networking.k8s.io/v1:NetworkPolicy` | `env-allow-dns` | create |  |" in text, text
        # detailedDiff's path and kind: the field that changed (the CLI's JSON has no diffKeys)
        row = '| `kubernetes:core/v1:Service` | `redis-metrics` | update; conflict: changed by kubectl-label |'
        assert f'{row} metadata.labels["app.kubernetes.io/part-of"] (update), ' in text, text
    (create,) = result.ran("gh", "issue", "create")
    assert create[create.index("--title") + 1] == TITLE.format("dev") and create[create.index("--label") + 1] == "drift"
    assert not result.ran("gh", "issue", "edit") and not result.ran("pulumi", "up")


def test_drift_updates_the_open_issue_and_closes_it_when_gone(fakes: Fakes) -> None:
    deployed(fakes)
    fakes.pulumi["preview_json"] = drift_fixture()
    fakes.gh = {"issue list": issues(TITLE.format("staging"), TITLE.format("dev"))}
    still = fakes.run("drift", "--stack", "dev", "--issue")
    assert still.code == 2 and not still.ran("gh", "issue", "create")
    assert [c[:4] for c in still.ran("gh", "issue", "edit")] == [["gh", "issue", "edit", "41"]]
    quiet = [s for s in drift_fixture()["steps"] if s["op"] in ("refresh", "same")]
    fakes.pulumi["preview_json"] = {"steps": quiet}
    gone = fakes.run("drift", "--stack", "dev", "--issue")
    assert gone.code == 0 and "no drift" in gone.summary
    assert [c[:4] for c in gone.ran("gh", "issue", "close")] == [["gh", "issue", "close", "41"]]


def test_drift_without_an_issue_is_the_make_target(fakes: Fakes) -> None:
    deployed(fakes)
    fakes.pulumi["preview_json"] = drift_fixture()
    result = fakes.run("drift", "--stack", "dev")
    assert result.code == 2 and not result.ran("gh")


def test_a_stack_without_a_deployed_commit_is_not_compared_with_head(fakes: Fakes) -> None:
    """Comparing main's HEAD would report every undeployed merge as drift."""
    fakes.env = {**SELF_MANAGED, "GITHUB_SHA": SHA}
    fakes.stacks("production")
    fakes.pulumi["preview_json"] = drift_fixture()
    result = fakes.run("drift", "--stack", "production", "--issue")
    assert result.code == 0 and "::warning::stack production has no `deployed-commit` tag" in result.stdout
    assert not result.ran("pulumi", "preview") and not result.ran("gh")


@pytest.fixture
def previous_commit() -> str:
    if not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout")
    return subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def worktrees() -> str:
    return subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_drift_runs_the_program_of_the_deployed_commit_not_head(fakes: Fakes, previous_commit: str) -> None:
    deployed(fakes, commit=previous_commit)
    fakes.pulumi["preview_json"] = drift_fixture()
    result = fakes.run("drift", "--stack", "dev")
    assert result.code == 2, result.stdout
    (ran,) = result.cwds
    assert ran["head"] == previous_commit and ran["pulumi_yaml"] and "--refresh" in ran["args"]
    assert f"deployment of `{previous_commit}`" in result.summary
    assert "platform-deployed-" not in worktrees(), "the deployed commit's worktree was left behind"


def test_a_deployed_commit_missing_from_the_history_fails_clearly(fakes: Fakes) -> None:
    deployed(fakes, commit="f" * 40)
    result = fakes.run("drift", "--stack", "dev")
    assert result.code == 1 and "is not in this checkout's history" in result.stdout and not result.ran("pulumi", "preview")


def test_drift_remediation_reapplies_the_deployed_commit_of_dev_only(fakes: Fakes, previous_commit: str) -> None:
    fakes.env = {"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/heads/main"}
    deployed(fakes, commit=previous_commit)
    fakes.pulumi["preview_json"] = drift_fixture()
    fakes.gh = {"issue list": issues(TITLE.format("dev"))}
    dev = fakes.run("drift", "--stack", "dev", "--remediate", "true", "--issue")
    assert dev.code == 0, dev.stdout
    (up,) = dev.ran("pulumi", "up")
    assert "--refresh" in up and up[up.index("--stack") + 1] == "dev"
    assert [c["head"] for c in dev.cwds] == [previous_commit, previous_commit]  # preview and up: the deployed program
    assert up[up.index("--policy-pack") + 1] == str(ROOT / "policy")
    assert [c[:4] for c in dev.ran("gh", "issue", "close")] == [["gh", "issue", "close", "40"]]  # repaired
    fakes.stacks("production")
    production = fakes.run("drift", "--stack", "production", "--remediate", "true")
    assert production.code == 1 and "never for 'production'" in production.stdout
    assert not production.ran("pulumi")


def test_drift_remediation_runs_only_from_main(fakes: Fakes) -> None:
    fakes.env = {"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/heads/feature"}
    deployed(fakes)
    fakes.pulumi["preview_json"] = drift_fixture()
    result = fakes.run("drift", "--stack", "dev", "--remediate", "true")
    assert result.code == 1 and "only from main, not from 'refs/heads/feature'" in result.stdout and not result.calls


def test_a_field_changed_with_kubectl_is_drift_not_an_error(fakes: Fakes) -> None:
    """The server-side dry run of `preview --refresh` fails on a field another manager took over."""
    deployed(fakes)
    service = "urn:pulumi:dev::platform::platform:index:ApiService$kubernetes:core/v1:Service::api-service"
    message = (
        'the Kubernetes API server reported that "dev/api" failed to fully initialize or become live: '
        "Server-Side Apply field conflict detected. See https://www.pulumi.com/registry/...\n"
        'The resource managed by field manager "pulumi-kubernetes-383e65ce" had an apply conflict: '
        'Apply failed with 1 conflict: conflict with "kubectl-label" using v1: .metadata.labels.app.kubernetes.io/part-of\n'
    )
    fakes.pulumi["preview_json"] = {
        "steps": [{"op": "update", "urn": service, "diffReasons": ["metadata"]}],
        "diagnostics": [{"urn": service, "severity": "error", "message": message}],
    }
    fakes.pulumi["exit"] = {"preview": 255}
    result = fakes.run("drift", "--stack", "dev")
    assert result.code == 2, result.stdout
    assert "1 resource(s)" in result.summary
    row = "| `kubernetes:core/v1:Service` | `api-service` | update; conflict: changed by kubectl-label |"
    assert f"{row} metadata, .metadata.labels.app.kubernetes.io/part-of |" in result.summary


def test_a_failing_drift_check_is_an_error_not_drift(fakes: Fakes) -> None:
    deployed(fakes)
    fakes.pulumi["preview_json"] = {"steps": [], "diagnostics": [{"severity": "error", "message": "cluster unreachable"}]}
    fakes.pulumi["exit"] = {"preview": 255}
    result = fakes.run("drift", "--stack", "dev", "--issue")
    assert result.code == 1 and "cluster unreachable" in result.stdout and not result.ran("gh")


# ---------------------------------------------------------------- the production gate


def environment(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"stdout": json.dumps({"protection_rules": list(rules)})}


REVIEWERS = {"type": "required_reviewers", "reviewers": [{"id": 1}]}


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ({"code": 1, "stderr": "gh: Not Found (HTTP 404)"}, "does not exist"),
        (environment({"type": "wait_timer", "wait_timer": 5}), "no required reviewers and variable PRODUCTION_APPROVERS"),
        (environment({"type": "required_reviewers", "reviewers": []}), "nothing gates production"),
    ],
)
def test_production_without_a_gate_fails_closed(fakes: Fakes, answer: dict[str, Any], says: str) -> None:
    fakes.gh = {f"api repos/{REPO}/environments/production": answer}
    result = fakes.run("protection", "--environment", "production", "--sha", SHA)
    assert result.code == 1 and says in result.stdout and "approved" not in result.outputs


def test_required_reviewers_approve_this_runs_plan(fakes: Fakes) -> None:
    fakes.gh = {f"api repos/{REPO}/environments/production": environment(REVIEWERS)}
    result = fakes.run("protection", "--environment", "production", "--sha", SHA)
    assert result.code == 0 and result.outputs == {"approved": "true", "plan-run": "4711"}
    assert "1 required reviewer(s)" in result.summary


APPROVERS = {"PLATFORM_VARS": json.dumps({"PRODUCTION_APPROVERS": "alice, bob"})}


def approved_run(**change: Any) -> dict[str, Any]:
    run = {"head_sha": SHA, "head_branch": "main", "event": "push", "path": ".github/workflows/deploy.yml",
           "triggering_actor": {"login": "carol"}}
    return {"stdout": json.dumps({**run, **change})}


def test_without_reviewers_a_push_waits_for_a_listed_approver(fakes: Fakes) -> None:
    fakes.env = {**APPROVERS, "GITHUB_EVENT_NAME": "push"}
    fakes.gh = {f"api repos/{REPO}/environments/production": environment()}
    result = fakes.run("protection", "--environment", "production", "--sha", SHA)
    assert result.code == 0 and result.outputs == {"approved": "false", "plan-run": "4711"}
    assert "gh workflow run deploy.yml --ref main -f approve-run=4711" in result.summary and "alice, bob" in result.summary


def test_a_listed_approver_approves_the_plan_of_an_earlier_run(fakes: Fakes) -> None:
    digest = "ab" * 32
    fakes.env = {**APPROVERS, "GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_TRIGGERING_ACTOR": "bob"}
    artifacts = {"artifacts": [{"name": "other"}, {"name": f"production-plan-{digest}", "expired": False}]}
    fakes.gh = {
        f"api repos/{REPO}/environments/production": environment(),
        f"api repos/{REPO}/actions/runs/4700": approved_run(),
        f"api repos/{REPO}/actions/runs/4700/artifacts": {"stdout": json.dumps(artifacts)},
    }
    result = fakes.run("protection", "--environment", "production", "--sha", SHA, "--approve-run", "4700")
    assert result.code == 0, result.stdout
    assert result.outputs == {"approved": "true", "plan-run": "4700", "plan-digest": digest}


def test_an_approved_run_without_a_plan_is_a_first_deploy(fakes: Fakes) -> None:
    fakes.env = {**APPROVERS, "GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_TRIGGERING_ACTOR": "bob"}
    fakes.gh = {
        f"api repos/{REPO}/environments/production": environment(),
        f"api repos/{REPO}/actions/runs/4700": approved_run(),
        f"api repos/{REPO}/actions/runs/4700/artifacts": {"stdout": json.dumps({"artifacts": []})},
    }
    result = fakes.run("protection", "--environment", "production", "--sha", SHA, "--approve-run", "4700")
    assert result.code == 0 and result.outputs == {"approved": "true", "plan-run": "4700", "plan-digest": ""}, result.stdout
    expired = {"artifacts": [{"name": "production-plan-" + "ab" * 32, "expired": True}]}
    fakes.gh[f"api repos/{REPO}/actions/runs/4700/artifacts"] = {"stdout": json.dumps(expired)}
    late = fakes.run("protection", "--environment", "production", "--sha", SHA, "--approve-run", "4700")
    assert late.code == 1 and "no unexpired production plan" in late.stdout


@pytest.mark.parametrize(
    ("actor", "run", "says"),
    [
        ("mallory", approved_run(), "'mallory' may not approve"),
        ("bob", approved_run(head_sha="f" * 40), "is not a deploy of main"),
        ("bob", approved_run(head_branch="feature"), "is not a deploy of main"),
        ("bob", approved_run(triggering_actor={"login": "bob"}), "another approver must approve"),
    ],
)
def test_an_approval_is_refused_unless_it_is_anothers_plan_of_this_commit(
    fakes: Fakes, actor: str, run: dict[str, Any], says: str
) -> None:
    fakes.env = {**APPROVERS, "GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_TRIGGERING_ACTOR": actor}
    fakes.gh = {f"api repos/{REPO}/environments/production": environment(), f"api repos/{REPO}/actions/runs/4700": run}
    result = fakes.run("protection", "--environment", "production", "--sha", SHA, "--approve-run", "4700")
    assert result.code == 1 and says in result.stdout and result.outputs.get("approved") != "true", result.stdout


def test_an_older_run_skips_instead_of_deploying_after_a_newer_commit(fakes: Fakes) -> None:
    fakes.gh = {f"api repos/{REPO}/commits/main": {"stdout": "bbb\n"}}
    current = fakes.run("superseded", "--sha", "bbb", "--branch", "main")
    assert (current.code, current.outputs) == (0, {"current": "true"})
    old = fakes.run("superseded", "--sha", "aaa", "--branch", "main")
    assert (old.code, old.outputs) == (0, {"current": "false"})  # skipped, not red
    assert "::notice::main is at bbb, past this run's commit aaa" in old.stdout


# ---------------------------------------------------------------- OIDC


class FakeIssuers(BaseHTTPRequestHandler):
    """GitHub's ID-token endpoint and Pulumi's token exchange, on 127.0.0.1."""

    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        self.seen.append({"get": query, "auth": self.headers["Authorization"]})
        self.answer({"value": f"jwt-for-{query['audience'][0]}"})

    def do_POST(self) -> None:
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.seen.append({"post": self.path, "form": {k: v[0] for k, v in form.items()}})
        self.answer({"access_token": "pul-short-lived", "token_type": "Bearer", "expires_in": 7200})

    def answer(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def issuers() -> Iterator[str]:
    FakeIssuers.seen = []
    server = HTTPServer(("127.0.0.1", 0), FakeIssuers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_oidc_exchanges_the_jobs_token_for_short_lived_credentials_in_private_files(fakes: Fakes, issuers: str) -> None:
    variables = {"PULUMI_OIDC": "team:deployers", "PULUMI_ORG": "acme", "AWS_ROLE_ARN": "arn:aws:iam::1:role/state",
                 "PULUMI_BACKEND_URL": issuers}  # a self-hosted Pulumi Cloud at this URL
    fakes.env = {"PLATFORM_VARS": json.dumps(variables), "ACTIONS_ID_TOKEN_REQUEST_URL": f"{issuers}/token?api-version=2.0",
                 "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-token"}
    result = fakes.run("oidc")
    assert result.code == 0, result.stdout
    gets = [s for s in FakeIssuers.seen if "get" in s]
    assert [g["get"]["audience"][0] for g in gets] == ["urn:pulumi:org:acme", "sts.amazonaws.com"]
    assert {g["auth"] for g in gets} == {"bearer runner-token"}
    (post,) = [s for s in FakeIssuers.seen if "post" in s]
    assert post["post"] == "/api/oauth/token"
    assert post["form"] == {
        "audience": "urn:pulumi:org:acme", "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "requested_token_type": "urn:pulumi:token-type:access_token:team", "subject_token": "jwt-for-urn:pulumi:org:acme",
        "expiration": "7200", "scope": "team:deployers",
    }
    assert "::add-mask::pul-short-lived" in result.stdout
    exported = fakes.dir / "platform-oidc.env"
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in exported.read_text().splitlines())
    assert values["PULUMI_ACCESS_TOKEN"] == "pul-short-lived" and values["AWS_ROLE_ARN"] == variables["AWS_ROLE_ARN"]  # noqa: S105
    assert Path(values["AWS_WEB_IDENTITY_TOKEN_FILE"]).read_text() == "jwt-for-sts.amazonaws.com"
    # The next step of the composite reads them (GitHub only: a laptop's `make drift` never does).
    fakes.env = {"GITHUB_ACTIONS": "true", "PULUMI_ORG": "acme", "KUBECONFIG_DATA": "x"}
    assert fakes.run("credentials", "--command", "up", "--stack", "dev").outputs == {"ok": "true"}
    fakes.env.pop("GITHUB_ACTIONS")
    assert "secret PULUMI_ACCESS_TOKEN" in fakes.run("credentials", "--command", "up", "--stack", "dev").stdout


def test_oidc_for_google_and_azure_writes_their_sdks_own_settings(fakes: Fakes, issuers: str) -> None:
    provider = "projects/1/locations/global/workloadIdentityPools/gh/providers/gh"
    variables = {"GCP_WORKLOAD_IDENTITY_PROVIDER": provider, "GCP_SERVICE_ACCOUNT": "state@p.iam.gserviceaccount.com",
                 "AZURE_CLIENT_ID": "client", "AZURE_TENANT_ID": "tenant"}
    fakes.env = {"PLATFORM_VARS": json.dumps(variables), "ACTIONS_ID_TOKEN_REQUEST_URL": f"{issuers}/token?x=1",
                 "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}
    result = fakes.run("oidc")
    assert result.code == 0, result.stdout
    values = dict(line.split("=", 1) for line in (fakes.dir / "platform-oidc.env").read_text().splitlines())
    google = json.loads(Path(values["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
    assert google["type"] == "external_account" and google["audience"] == f"//iam.googleapis.com/{provider}"
    assert Path(google["credential_source"]["file"]).read_text() == f"jwt-for-https://iam.googleapis.com/{provider}"
    assert google["service_account_impersonation_url"].endswith("state@p.iam.gserviceaccount.com:generateAccessToken")
    assert (values["AZURE_CLIENT_ID"], values["AZURE_TENANT_ID"]) == ("client", "tenant")
    assert Path(values["AZURE_FEDERATED_TOKEN_FILE"]).read_text() == "jwt-for-api://AzureADTokenExchange"
    assert "PULUMI_ACCESS_TOKEN" not in values


def test_oidc_without_id_token_permission_says_so(fakes: Fakes) -> None:
    fakes.env = {"PLATFORM_VARS": json.dumps({"PULUMI_OIDC": "organization", "PULUMI_ORG": "acme"})}
    result = fakes.run("oidc")
    assert result.code == 1 and "permissions: id-token: write" in result.stdout
