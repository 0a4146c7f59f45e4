"""tools/delivery.py, the workflows' logic, run as the workflows run it (`python3 -m tools.delivery`)
with fake `pulumi` and `gh` executables (tests/fakes) first on PATH: each test sets up what the
fakes answer, then checks the exit code, the step outputs, the summary and the exact calls made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAKES = ROOT / "tests" / "fakes"
REPO = "acme/platform"
RUN_URL = f"https://github.com/{REPO}/actions/runs/4711"
KMS = "awskms://alias/platform?region=eu-west-1"


@dataclass
class Result:
    code: int
    stdout: str
    outputs: dict[str, str]
    summary: str
    calls: list[list[str]]

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
        for name in ("calls.jsonl", "output", "summary"):
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
            timeout=60,
            check=False,
        )
        outputs = dict(line.split("=", 1) for line in (self.dir / "output").read_text().splitlines())
        calls = [json.loads(line) for line in (self.dir / "calls.jsonl").read_text().splitlines()]
        return Result(proc.returncode, proc.stdout + proc.stderr, outputs, (self.dir / "summary").read_text(), calls)


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    return Fakes(tmp_path)


CLOUD = {"PULUMI_ACCESS_TOKEN": "pul-token", "KUBECONFIG_DATA": "apiVersion: v1"}
SELF_MANAGED = {"PULUMI_BACKEND_URL": "s3://state-bucket", "PULUMI_CONFIG_PASSPHRASE": "pw", "KUBECONFIG_DATA": "apiVersion: v1"}


# ---------------------------------------------------------------- credentials


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        (CLOUD, None),
        (SELF_MANAGED, None),  # a self-managed backend needs no Pulumi token
        ({"PULUMI_BACKEND_URL": "file:///state", "PULUMI_SECRETS_PROVIDER": KMS, "KUBECONFIG_DATA": "x"}, None),
        ({"KUBECONFIG_DATA": "x"}, "PULUMI_ACCESS_TOKEN"),
        ({"PULUMI_BACKEND_URL": "gs://state", "PULUMI_ACCESS_TOKEN": "t", "KUBECONFIG_DATA": "x"}, "PULUMI_CONFIG_PASSPHRASE"),
        ({"PULUMI_ACCESS_TOKEN": "t"}, "KUBECONFIG"),
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
    assert same_repo.code == 1 and same_repo.outputs == {"ok": "false"}
    assert f"::error::pulumi up pr-7: missing secret {missing}" in same_repo.stdout
    assert (fork.code, fork.outputs) == (0, {"ok": "false"})
    assert "forks get no secrets" in fork.summary and missing in fork.summary
    assert not same_repo.calls and not fork.calls


# ---------------------------------------------------------------- stacks: create where safe


def test_pulumi_cloud_creates_a_missing_stack_then_previews_with_the_policy_pack(fakes: Fakes, tmp_path: Path) -> None:
    fakes.env = {**CLOUD, "GITHUB_SHA": "0123abc"}
    result = fakes.run("run", "--command", "preview", "--stack", "dev", "--log", str(tmp_path / "dev.log"))
    assert result.code == 0, result.stdout
    assert result.ran("pulumi", "stack", "init") == [["pulumi", "stack", "init", "dev", "--non-interactive"]]
    (preview,) = result.ran("pulumi", "preview")
    assert preview[preview.index("--policy-pack") + 1] == "policy" and preview[preview.index("--stack") + 1] == "dev"
    assert "--diff" in preview and "--suppress-outputs" in preview
    assert "fake pulumi preview dev" in (tmp_path / "dev.log").read_text()
    assert "pulumi preview dev: succeeded" in result.summary and "Commit: `0123abc`" in result.summary


def test_an_existing_stack_is_used_as_it_is(fakes: Fakes, tmp_path: Path) -> None:
    fakes.env = SELF_MANAGED
    fakes.stacks("production")
    result = fakes.run("run", "--command", "up", "--stack", "production", "--log", str(tmp_path / "p.log"))
    assert result.code == 0 and not result.ran("pulumi", "stack", "init")
    (up,) = result.ran("pulumi", "up")
    assert "--yes" in up and up[up.index("--policy-pack") + 1] == "policy"


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


def test_a_failed_operation_fails_the_step(fakes: Fakes, tmp_path: Path) -> None:
    fakes.env = CLOUD
    fakes.stacks("dev")
    fakes.pulumi["exit"] = {"preview": 255}
    result = fakes.run("run", "--command", "preview", "--stack", "dev", "--log", str(tmp_path / "l"))
    assert result.code == 255 and "pulumi preview dev: FAILED (exit 255)" in result.summary


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
    assert {"--yes", "--remove"} <= set(destroy) and destroy[destroy.index("--stack") + 1] == "pr-7"
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


def test_a_successful_preview_posts_its_output(fakes: Fakes, tmp_path: Path) -> None:
    log = tmp_path / "dev.log"
    log.write_text("+ 3 to create")
    result = fakes.run(*comment_args(log, "success"))
    assert result.code == 0, result.stdout
    (post,) = result.ran("gh", "api", "--method", "POST")
    assert post[4] == f"repos/{REPO}/issues/12/comments"
    assert post[-1].startswith("<!-- platform-pulumi-preview-dev -->") and "+ 3 to create" in post[-1] and "abc123" in post[-1]


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


# ---------------------------------------------------------------- review environment sweep


def iso(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def pr(state: str, *labels: str) -> dict[str, Any]:
    return {"stdout": json.dumps({"state": state, "labels": [{"name": n} for n in labels]})}


def test_the_sweep_keeps_active_review_stacks_and_destroys_the_rest(fakes: Fakes) -> None:
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
    assert "| pr-2 | keep | pull request open and labelled review-env |" in result.summary
    assert "| pr-3 | keep | age unknown" in result.summary
    assert not result.ran("pulumi", "destroy")


def test_the_sweep_destroys_nothing_when_github_cannot_answer(fakes: Fakes) -> None:
    fakes.stacks("pr-1", "pr-2", lastUpdate=iso(30))
    fakes.gh = {f"api repos/{REPO}/pulls/1": pr("closed"), f"api repos/{REPO}/pulls/2": {"code": 1, "stderr": "HTTP 502"}}
    result = fakes.run("sweep", "--ttl-days", "7")
    assert result.code == 1 and "stacks" not in result.outputs and "destroying nothing" in result.stdout


# ---------------------------------------------------------------- drift

# As the real engine prints it: a `refresh` step per resource, then the preview's steps.
DRIFT = {
    "steps": [
        {"op": "refresh", "urn": "urn:pulumi:dev::platform::kubernetes:core/v1:Namespace::ns"},
        {"op": "refresh", "urn": "urn:pulumi:dev::platform::kubernetes:core/v1:Service::redis"},
        {"op": "same", "urn": "urn:pulumi:dev::platform::kubernetes:core/v1:Namespace::ns"},
        {
            "op": "create",
            "urn": "urn:pulumi:dev::platform::platform:index:Redis$kubernetes:networking.k8s.io/v1:NetworkPolicy::redis-policy",
        },
        {
            "op": "update",
            "urn": "urn:pulumi:dev::platform::platform:index:ApiService$kubernetes:apps/v1:Deployment::api-deployment",
            "diffKeys": ["spec"],
        },
    ]
}
TITLE = "Drift detected in stack {}"


def issues(*open_titles: str) -> dict[str, Any]:
    return {"stdout": json.dumps([{"number": 40 + i, "title": t} for i, t in enumerate(open_titles)])}


def test_drift_is_reported_and_opens_one_issue(fakes: Fakes) -> None:
    fakes.stacks("dev")
    fakes.pulumi["preview_json"] = DRIFT
    fakes.gh = {"issue list": issues(TITLE.format("staging"))}
    result = fakes.run("drift", "--stack", "dev", "--issue")
    assert result.code == 2, result.stdout
    (preview,) = result.ran("pulumi", "preview")
    assert "--refresh" in preview and "--json" in preview and preview[preview.index("--stack") + 1] == "dev"
    for text in (result.summary, result.ran("gh", "issue", "create")[0][-1]):
        assert "2 resource(s)" in text
        assert "| `kubernetes:networking.k8s.io/v1:NetworkPolicy` | `redis-policy` | create |" in text
        assert "`api-deployment` | update | spec |" in text
    (create,) = result.ran("gh", "issue", "create")
    assert create[create.index("--title") + 1] == TITLE.format("dev") and create[create.index("--label") + 1] == "drift"
    assert not result.ran("gh", "issue", "edit") and not result.ran("pulumi", "up")


def test_drift_updates_the_open_issue_and_closes_it_when_gone(fakes: Fakes) -> None:
    fakes.stacks("dev")
    fakes.pulumi["preview_json"] = DRIFT
    fakes.gh = {"issue list": issues(TITLE.format("staging"), TITLE.format("dev"))}
    still = fakes.run("drift", "--stack", "dev", "--issue")
    assert still.code == 2 and not still.ran("gh", "issue", "create")
    assert [c[:4] for c in still.ran("gh", "issue", "edit")] == [["gh", "issue", "edit", "41"]]
    fakes.pulumi["preview_json"] = {"steps": DRIFT["steps"][:3]}  # refreshed, nothing to do
    gone = fakes.run("drift", "--stack", "dev", "--issue")
    assert gone.code == 0 and "no drift" in gone.summary
    assert [c[:4] for c in gone.ran("gh", "issue", "close")] == [["gh", "issue", "close", "41"]]


def test_drift_without_an_issue_is_the_make_target(fakes: Fakes) -> None:
    fakes.stacks("dev")
    fakes.pulumi["preview_json"] = DRIFT
    result = fakes.run("drift", "--stack", "dev")
    assert result.code == 2 and not result.ran("gh")


def test_drift_remediation_repairs_dev_and_never_touches_production(fakes: Fakes) -> None:
    fakes.stacks("dev", "production")
    fakes.pulumi["preview_json"] = DRIFT
    fakes.gh = {"issue list": issues(TITLE.format("dev"))}
    dev = fakes.run("drift", "--stack", "dev", "--remediate", "true", "--issue")
    assert dev.code == 0, dev.stdout
    (up,) = dev.ran("pulumi", "up")
    assert "--refresh" in up and up[up.index("--stack") + 1] == "dev"
    assert [c[:4] for c in dev.ran("gh", "issue", "close")] == [["gh", "issue", "close", "40"]]  # repaired
    production = fakes.run("drift", "--stack", "production", "--remediate", "true")
    assert production.code == 1 and "never for 'production'" in production.stdout
    assert not production.ran("pulumi", "up") and not production.ran("pulumi", "preview")


def test_a_field_changed_with_kubectl_is_drift_not_an_error(fakes: Fakes) -> None:
    """The server-side dry run of `preview --refresh` fails on a field another manager took over."""
    fakes.stacks("dev")
    service = "urn:pulumi:dev::platform::platform:index:ApiService$kubernetes:core/v1:Service::api-service"
    message = (
        'the Kubernetes API server reported that "dev/api" failed to fully initialize or become live: '
        "Server-Side Apply field conflict detected. See https://www.pulumi.com/registry/...\n"
        'The resource managed by field manager "pulumi-kubernetes-383e65ce" had an apply conflict: '
        'Apply failed with 1 conflict: conflict with "kubectl-label" using v1: .metadata.labels.app.kubernetes.io/part-of\n'
    )
    fakes.pulumi["preview_json"] = {
        "steps": [{"op": "update", "urn": service}],
        "diagnostics": [{"urn": service, "severity": "error", "message": message}],
    }
    fakes.pulumi["exit"] = {"preview": 255}
    result = fakes.run("drift", "--stack", "dev")
    assert result.code == 2, result.stdout
    assert "1 resource(s)" in result.summary
    row = "| `kubernetes:core/v1:Service` | `api-service` | update; conflict: changed by kubectl-label |"
    assert f"{row} .metadata.labels.app.kubernetes.io/part-of |" in result.summary


def test_a_failing_drift_check_is_an_error_not_drift(fakes: Fakes) -> None:
    fakes.stacks("dev")
    fakes.pulumi["preview_json"] = {"steps": [], "diagnostics": [{"severity": "error", "message": "cluster unreachable"}]}
    fakes.pulumi["exit"] = {"preview": 255}
    result = fakes.run("drift", "--stack", "dev", "--issue")
    assert result.code == 1 and "cluster unreachable" in result.stdout and not result.ran("gh")


# ---------------------------------------------------------------- deployment guards


@pytest.mark.parametrize(
    ("answer", "ok", "says"),
    [
        ({"code": 1, "stderr": "gh: Not Found (HTTP 404)"}, False, "does not exist"),
        ({"stdout": json.dumps({"protection_rules": [{"type": "wait_timer", "wait_timer": 5}]})}, False, "no required reviewers"),
        ({"stdout": json.dumps({"protection_rules": [{"type": "required_reviewers", "reviewers": []}]})}, False, "no required"),
        ({"stdout": json.dumps({"protection_rules": [{"type": "required_reviewers", "reviewers": [{"id": 1}]}]})}, True, "1 req"),
    ],
)
def test_production_must_require_reviewers(fakes: Fakes, answer: dict[str, Any], ok: bool, says: str) -> None:
    fakes.gh = {f"api repos/{REPO}/environments/production": answer}
    result = fakes.run("protection", "--environment", "production")
    assert (result.code == 0) is ok and says in result.stdout + result.summary


def test_an_older_run_never_deploys_after_a_newer_commit(fakes: Fakes) -> None:
    fakes.gh = {f"api repos/{REPO}/commits/main": {"stdout": "bbb\n"}}
    assert fakes.run("superseded", "--sha", "bbb", "--branch", "main").code == 0
    old = fakes.run("superseded", "--sha", "aaa", "--branch", "main")
    assert old.code == 1 and "main is at bbb, past this run's commit aaa" in old.stdout
