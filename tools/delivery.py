"""The logic of the GitHub workflows (.github/), in one place that tests can run.

Each subcommand is one workflow step; the workflows call it as `python3 -m tools.delivery ...`
and `make drift STACK=...` runs the drift check the scheduled workflow runs. It drives the
`pulumi` and `gh` CLIs by name (the tests put fakes of both on PATH) and needs only the
standard library, so it runs on a bare runner before any venv exists.

It never logs in, selects a stack or edits settings outside the checkout: the backend comes
from the environment (PULUMI_ACCESS_TOKEN for Pulumi Cloud, or PULUMI_BACKEND_URL plus
PULUMI_CONFIG_PASSPHRASE or a KMS secrets provider for a self-managed backend), each command
names its stack with --stack.

  credentials  fail unless the backend's and the cluster's credentials are there (skip on fork PRs)
  run          preview | up | destroy one stack, creating it first where that is safe
  comment      create or update the pull request comment of one stack's preview or up
  sweep        pick the review stacks (pr-<number>) to destroy
  drift        report (and for dev/staging optionally repair) drift between the stack and the cluster
  protection   fail unless the GitHub environment requires reviewers
  superseded   fail when the branch has moved past the commit this run would deploy
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REVIEW_STACK = re.compile(r"^pr-(\d+)$")
REVIEW_LABEL = "review-env"
# Drift is repaired automatically only here, and only when asked; production never.
REMEDIABLE = ("dev", "staging")
DRIFT_LABEL = "drift"
# A PR comment holds 65536 characters; the full output stays in the job log and summary.
COMMENT_LIMIT = 60000
PASSPHRASE = "passphrase"  # noqa: S105 (the provider's name, not a secret)


class Failure(Exception):
    """A clear, expected failure: printed as a GitHub error annotation, exit code 1."""


# ---------------------------------------------------------------- plumbing


def error(message: str) -> None:
    print(f"::error::{message}", flush=True)


def notice(message: str) -> None:
    print(f"::notice::{message}", flush=True)


def summary(markdown: str) -> None:
    """Append to the job summary on GitHub; print elsewhere (make drift)."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(markdown.rstrip("\n") + "\n")
    else:
        print(markdown)


def set_output(name: str, value: str) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{name}={value}\n")


def run_url() -> str:
    env = os.environ
    if not env.get("GITHUB_RUN_ID"):
        return "(local run)"
    return f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `pulumi` or `gh` with captured output."""
    result = subprocess.run(list(args), capture_output=True, text=True, check=False)  # noqa: S603
    if check and result.returncode != 0:
        raise Failure(f"`{' '.join(args[:3])} ...` failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


def pulumi(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return cli("pulumi", *args, "--non-interactive", check=check)


def streamed(args: Sequence[str], log: Path) -> int:
    """Run a long pulumi command, showing its output live and keeping a copy in ``log``."""
    with subprocess.Popen(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc, log.open("w") as out:  # noqa: S603
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            out.write(line)
    return proc.returncode


def self_managed() -> bool:
    return bool(os.environ.get("PULUMI_BACKEND_URL"))


def secrets_provider() -> str:
    return os.environ.get("PULUMI_SECRETS_PROVIDER") or PASSPHRASE


# ---------------------------------------------------------------- credentials


def missing_credentials(command: str) -> list[str]:
    """What the job lacks, each named as the secret or variable to set."""
    env = os.environ
    missing = []
    if not self_managed():
        if not env.get("PULUMI_ACCESS_TOKEN"):
            missing.append(
                "secret PULUMI_ACCESS_TOKEN (Pulumi Cloud; or set variable PULUMI_BACKEND_URL for a self-managed backend)"
            )
    elif secrets_provider() == PASSPHRASE and not env.get("PULUMI_CONFIG_PASSPHRASE"):
        missing.append(
            "secret PULUMI_CONFIG_PASSPHRASE (self-managed backend with the passphrase provider; "
            "or set variable PULUMI_SECRETS_PROVIDER to a KMS URL)"
        )
    if command != "sweep" and not env.get("KUBECONFIG_DATA"):
        missing.append("secret KUBECONFIG (the target cluster)")
    return missing


def credentials(command: str, stack: str, fork: bool) -> int:
    missing = missing_credentials(command)
    if not missing:
        set_output("ok", "true")
        return 0
    set_output("ok", "false")
    what = "; ".join(missing)
    if fork:
        # A fork's pull_request run gets no secrets by design: nothing to deploy or preview with.
        note = f"pulumi {command} {stack} skipped: pull requests from forks get no secrets ({what})."
        summary(note)
        notice(note)
        return 0
    raise Failure(f"pulumi {command} {stack}: missing {what}. See README, CI/CD one-time setup.")


# ---------------------------------------------------------------- stacks


def stacks() -> list[dict[str, Any]]:
    """The project's stacks, each with its short name (a Cloud name is org/project/stack)."""
    listed = json.loads(pulumi("stack", "ls", "--json").stdout or "[]")
    return [{**s, "short": str(s["name"]).split("/")[-1]} for s in listed]


def stack_exists(stack: str) -> bool:
    return any(s["short"] == stack for s in stacks())


def setup_hint(stack: str) -> str:
    return (
        f"stack {stack!r} does not exist in the self-managed backend. One-time setup (README, CI/CD): "
        f"with PULUMI_BACKEND_URL set, `pulumi stack init {stack} --secrets-provider <passphrase|KMS URL>`, "
        f"then commit Pulumi.{stack}.yaml (it holds the stack's encryption salt or key)."
    )


def ensure_stack(stack: str, upsert: bool) -> None:
    """Create a missing stack where that is safe: on Pulumi Cloud (the service holds the secrets
    key) or when asked (review stacks). On a self-managed backend the secrets salt/key is written
    into Pulumi.<stack>.yaml, which a CI checkout throws away, so long-lived stacks are set up once
    by hand and committed."""
    if stack_exists(stack):
        return
    if self_managed() and not upsert:
        raise Failure(setup_hint(stack))
    args = ["stack", "init", stack]
    if self_managed():
        args += ["--secrets-provider", secrets_provider()]
    pulumi(*args)
    notice(f"created stack {stack}")


def policy_args(policy_pack: str) -> list[str]:
    return ["--policy-pack", policy_pack] if policy_pack else []


def run(command: str, stack: str, upsert: bool, log: Path, policy_pack: str) -> int:
    if command == "destroy":
        if not stack_exists(stack):
            note = f"stack {stack} does not exist (already removed, or never created): nothing to destroy."
            summary(note)
            notice(note)
            return 0
        args = ["destroy", "--yes", "--remove", "--skip-preview"]
    elif command in ("preview", "up"):
        ensure_stack(stack, upsert)
        args = [command, "--diff", "--suppress-outputs", *policy_args(policy_pack)]
        if command == "up":
            args += ["--yes", "--skip-preview"]
    else:
        raise Failure(f"unknown command {command!r}: preview, up or destroy")
    code = streamed(["pulumi", *args, "--stack", stack, "--non-interactive"], log)
    status = "succeeded" if code == 0 else f"FAILED (exit {code})"
    details = f"<details><summary>output</summary>\n\n```\n{tail(log)}\n```\n</details>"
    commit = os.environ.get("GITHUB_SHA", "the working tree")  # what an approver is about to deploy
    summary(f"### pulumi {command} {stack}: {status}\n\nCommit: `{commit}`\n\n{details}\n")
    return code


def tail(log: Path, limit: int = COMMENT_LIMIT) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return text if len(text) <= limit else "... (cut; the full output is in the job log)\n" + text[-limit:]


# ---------------------------------------------------------------- pull request comment


def comment_marker(command: str, stack: str) -> str:
    return f"<!-- platform-pulumi-{command}-{stack} -->"


def comment_body(command: str, stack: str, outcome: str, sha: str, log: Path) -> str:
    head = comment_marker(command, stack)
    if outcome == "success":
        return f"{head}\n#### pulumi {command} `{stack}` at {sha}: succeeded\n\n```\n{tail(log)}\n```\n"
    # A failed run replaces the last good output, which would otherwise look current.
    return (
        f"{head}\n#### pulumi {command} `{stack}` at {sha}: FAILED ({outcome})\n\n"
        f"The {command} of this commit did not complete; an earlier result no longer applies. "
        f"Details: {run_url()}\n"
    )


def comment(command: str, stack: str, outcome: str, pr: int, sha: str, log: Path) -> int:
    repo = os.environ["GITHUB_REPOSITORY"]
    marker = comment_marker(command, stack)
    listed = cli("gh", "api", "--paginate", f"repos/{repo}/issues/{pr}/comments", "--jq", '.[] | {id, body, type: .user.type}')
    mine = [c for c in map(json.loads, listed.stdout.splitlines()) if c["type"] == "Bot" and c["body"].startswith(marker)]
    body = log.with_suffix(".comment.md")
    body.write_text(comment_body(command, stack, outcome, sha, log))
    if mine:
        cli("gh", "api", "--method", "PATCH", f"repos/{repo}/issues/comments/{mine[0]['id']}", "-F", f"body=@{body}")
    else:
        cli("gh", "api", "--method", "POST", f"repos/{repo}/issues/{pr}/comments", "-F", f"body=@{body}")
    return 0


# ---------------------------------------------------------------- review environment sweep


@dataclass(frozen=True)
class Verdict:
    stack: str
    destroy: bool
    reason: str


def pull_request(repo: str, number: int) -> dict[str, Any] | None:
    """The PR, or None when GitHub has no such PR. Any other error stops the sweep."""
    result = cli("gh", "api", f"repos/{repo}/pulls/{number}", check=False)
    if result.returncode != 0:
        if "HTTP 404" in result.stderr:
            return None
        raise Failure(f"could not read PR #{number}; destroying nothing: {result.stderr.strip()}")
    return dict(json.loads(result.stdout))


def judge(stack: dict[str, Any], pr: dict[str, Any] | None, ttl: timedelta, now: datetime) -> Verdict:
    name = stack["short"]
    if pr is None:
        return Verdict(name, True, "no such pull request")
    if pr["state"] != "open":
        return Verdict(name, True, f"pull request {pr['state']}")
    if REVIEW_LABEL in {label["name"] for label in pr.get("labels", [])}:
        return Verdict(name, False, f"pull request open and labelled {REVIEW_LABEL}")
    # `stack ls` leaves lastUpdate out while an update runs and for a stack never updated:
    # an unknown age is young, never "idle since 1970".
    updated = stack.get("lastUpdate")
    if stack.get("updateInProgress") or not updated:
        return Verdict(name, False, "age unknown (update running or never updated): kept")
    age = now - datetime.fromisoformat(str(updated).replace("Z", "+00:00"))
    if age > ttl:
        return Verdict(name, True, f"unlabelled, idle {age.days} days (limit {ttl.days})")
    return Verdict(name, False, f"unlabelled, idle {age.days} days (limit {ttl.days})")


def sweep(ttl_days: int) -> int:
    repo = os.environ["GITHUB_REPOSITORY"]
    now = datetime.now(UTC)
    verdicts = []
    for stack in stacks():
        match = REVIEW_STACK.match(stack["short"])
        if match:
            verdicts.append(judge(stack, pull_request(repo, int(match.group(1))), timedelta(days=ttl_days), now))
    rows = "\n".join(f"| {v.stack} | {'destroy' if v.destroy else 'keep'} | {v.reason} |" for v in verdicts)
    summary(f"### Review stacks\n\n| stack | action | why |\n|---|---|---|\n{rows}\n")
    set_output("stacks", json.dumps([v.stack for v in verdicts if v.destroy]))
    return 0


# ---------------------------------------------------------------- drift


def resource_of(urn: str) -> dict[str, str]:
    """``urn:pulumi:dev::platform::a:b:Parent$kubernetes:core/v1:Service::api`` -> its type and name."""
    parts = urn.split("::")
    return {"type": parts[-2].split("$")[-1] if len(parts) >= 2 else "?", "name": parts[-1]}


def drifted(preview: dict[str, Any]) -> list[dict[str, str]]:
    """The resources `up` would change after a refresh, from `pulumi preview --refresh --json`: its
    steps are one `refresh` per resource, then the preview against the refreshed state."""
    out = []
    for step in preview.get("steps", []):
        if step.get("op", "same") in ("refresh", "same", "read"):
            continue
        resource = resource_of(str(step.get("urn", "")))
        out.append({"op": str(step["op"]), **resource, "diff": ", ".join(step.get("diffKeys") or [])})
    return out


# A field that someone changed with kubectl (another field manager) makes the server-side dry run
# of `preview --refresh` fail with a conflict: that is drift too, not a broken check.
SSA_CONFLICT = re.compile(r'conflict with "(?P<manager>[^"]+)"[^:]*: (?P<fields>.+?)\s*$', re.M)


def conflicts(preview: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for diagnostic in preview.get("diagnostics", []):
        message = str(diagnostic.get("message", ""))
        if diagnostic.get("severity") != "error" or "Server-Side Apply field conflict" not in message:
            continue
        resource = resource_of(str(diagnostic.get("urn", "")))
        for match in SSA_CONFLICT.finditer(message):
            out.append({"op": f"conflict: changed by {match['manager']}", **resource, "diff": match["fields"]})
    return out


def merged(steps: list[dict[str, str]], clashes: list[dict[str, str]]) -> list[dict[str, str]]:
    """One row per resource: a conflict adds who changed which field to the resource's step."""
    rows = {(row["type"], row["name"]): dict(row) for row in steps}
    for clash in clashes:
        row = rows.setdefault((clash["type"], clash["name"]), {**clash, "op": "", "diff": ""})
        row["op"] = "; ".join(filter(None, [row["op"], clash["op"]]))
        row["diff"] = ", ".join(filter(None, [row["diff"], clash["diff"]]))
    return list(rows.values())


def drift_report(stack: str, found: list[dict[str, str]]) -> str:
    rows = "\n".join(f"| `{d['type']}` | `{d['name']}` | {d['op']} | {d['diff']} |" for d in found)
    return (
        f"### Drift in stack `{stack}`: {len(found)} resource(s)\n\n"
        f"The live cluster differs from the last deployment; `pulumi up` would do this to put it back:\n\n"
        f"| type | name | to do | fields |\n|---|---|---|---|\n{rows}\n\nDetected by {run_url()}. "
        f"Reproduce: `make drift STACK={stack}`.\n"
    )


def drift_issue(stack: str, report: str | None) -> None:
    """One open issue per stack: opened or updated while it drifts, closed when it no longer does."""
    repo = os.environ["GITHUB_REPOSITORY"]
    title = f"Drift detected in stack {stack}"
    listed = cli("gh", "issue", "list", "--repo", repo, "--state", "open", "--label", DRIFT_LABEL, "--json", "number,title")
    numbers = [i["number"] for i in json.loads(listed.stdout or "[]") if i["title"] == title]
    if report is None:
        for number in numbers:
            cli("gh", "issue", "close", str(number), "--repo", repo, "--comment", f"No drift any more: {run_url()}")
        return
    body = Path(os.environ.get("RUNNER_TEMP", "/tmp")) / f"drift-{stack}.md"  # noqa: S108
    body.write_text(report)
    if numbers:
        cli("gh", "issue", "edit", str(numbers[0]), "--repo", repo, "--body-file", str(body))
    else:
        label = ["--color", "d93f0b", "--description", "The live cluster differs from the Pulumi stack"]
        cli("gh", "label", "create", DRIFT_LABEL, "--repo", repo, "--force", *label)
        cli("gh", "issue", "create", "--repo", repo, "--title", title, "--label", DRIFT_LABEL, "--body-file", str(body))


def drift(stack: str, issue: bool, remediate: bool, policy_pack: str) -> int:
    """0: no drift (or drift repaired); 2: drift found; 1: the check itself failed."""
    if remediate and stack not in REMEDIABLE:
        raise Failure(f"drift remediation runs only for {', '.join(REMEDIABLE)}, never for {stack!r}")
    if not stack_exists(stack):
        notice(f"stack {stack} does not exist yet: no drift to check")
        return 0
    result = pulumi("preview", "--refresh", "--json", "--stack", stack, check=False)
    try:
        preview = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise Failure(f"pulumi preview --refresh {stack} failed ({result.returncode}): {result.stderr[-2000:]}") from None
    found = merged(drifted(preview), conflicts(preview))
    if result.returncode != 0 and not conflicts(preview):
        messages = [d.get("message", "") for d in preview.get("diagnostics", []) if d.get("severity") == "error"]
        raise Failure(f"pulumi preview --refresh {stack} failed: {' '.join(messages)[-2000:] or result.stderr[-2000:]}")
    report = drift_report(stack, found) if found else None
    summary(report or f"### Stack `{stack}`: no drift\n")
    if issue:
        drift_issue(stack, report)
    if not found:
        return 0
    if remediate:
        up = ["pulumi", "up", "--refresh", "--yes", "--skip-preview", *policy_args(policy_pack), "--suppress-outputs"]
        log = Path(os.environ.get("RUNNER_TEMP", "/tmp")) / f"remediate-{stack}.log"  # noqa: S108
        code = streamed([*up, "--stack", stack, "--non-interactive"], log)
        summary(f"Remediation `pulumi up --refresh` of `{stack}`: {'done' if code == 0 else 'FAILED'}\n")
        if code != 0:
            return 1
        if issue:
            drift_issue(stack, None)
        return 0
    return 2


# ---------------------------------------------------------------- deployment guards


def protection(environment: str) -> int:
    """A workflow naming a missing environment creates it unprotected: check before using it."""
    repo = os.environ["GITHUB_REPOSITORY"]
    result = cli("gh", "api", f"repos/{repo}/environments/{environment}", check=False)
    if result.returncode != 0:
        if "HTTP 404" in result.stderr:
            raise Failure(f"GitHub environment {environment!r} does not exist: create it with required reviewers (README)")
        raise Failure(f"could not read GitHub environment {environment!r}: {result.stderr.strip()}")
    rules = json.loads(result.stdout).get("protection_rules", [])
    reviewers = [r for rule in rules if rule.get("type") == "required_reviewers" for r in rule.get("reviewers", [])]
    if not reviewers:
        raise Failure(f"GitHub environment {environment!r} has no required reviewers: add them (README, CI/CD)")
    summary(f"Environment `{environment}`: {len(reviewers)} required reviewer(s).\n")
    return 0


def superseded(sha: str, branch: str) -> int:
    """An approval can come late: never deploy a commit the branch has already moved past."""
    repo = os.environ["GITHUB_REPOSITORY"]
    head = cli("gh", "api", f"repos/{repo}/commits/{branch}", "--jq", ".sha").stdout.strip()
    if head != sha:
        raise Failure(f"{branch} is at {head}, past this run's commit {sha}: not deploying an older commit (the newer run will)")
    return 0


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m tools.delivery", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("credentials")
    p.add_argument("--command", required=True)
    p.add_argument("--stack", required=True)
    p.add_argument("--fork", default="false", help="'true' on a pull request from a fork")
    p = sub.add_parser("run")
    p.add_argument("--command", required=True, choices=["preview", "up", "destroy"])
    p.add_argument("--stack", required=True)
    p.add_argument("--upsert", default="false")
    p.add_argument("--log", type=Path, required=True)
    p.add_argument("--policy-pack", default="policy", help="the CrossGuard pack's directory; empty: none")
    p = sub.add_parser("comment")
    p.add_argument("--command", required=True)
    p.add_argument("--stack", required=True)
    p.add_argument("--outcome", required=True, help="the run step's outcome: success, failure, cancelled")
    p.add_argument("--pr", type=int, required=True)
    p.add_argument("--sha", required=True)
    p.add_argument("--log", type=Path, required=True)
    p = sub.add_parser("sweep")
    p.add_argument("--ttl-days", type=int, default=7)
    p = sub.add_parser("drift")
    p.add_argument("--stack", required=True)
    p.add_argument("--issue", action="store_true", help="open, update or close the stack's drift issue")
    p.add_argument("--remediate", default="false", help="'true': pulumi up when drift is found (dev, staging only)")
    p.add_argument("--policy-pack", default="policy", help="the CrossGuard pack's directory (remediation); empty: none")
    p = sub.add_parser("protection")
    p.add_argument("--environment", required=True)
    p = sub.add_parser("superseded")
    p.add_argument("--sha", required=True)
    p.add_argument("--branch", required=True)
    args = parser.parse_args(argv)
    try:
        if args.action == "credentials":
            return credentials(args.command, args.stack, args.fork == "true")
        if args.action == "run":
            return run(args.command, args.stack, args.upsert == "true", args.log, args.policy_pack)
        if args.action == "comment":
            return comment(args.command, args.stack, args.outcome, args.pr, args.sha, args.log)
        if args.action == "sweep":
            return sweep(args.ttl_days)
        if args.action == "drift":
            return drift(args.stack, args.issue, args.remediate == "true", args.policy_pack)
        if args.action == "protection":
            return protection(args.environment)
        return superseded(args.sha, args.branch)
    except Failure as failure:
        error(str(failure))
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
