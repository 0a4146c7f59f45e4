"""The logic of the GitHub workflows (.github/), in one place that tests can run.

Each subcommand is one workflow step; the workflows call it as `python3 -m tools.delivery ...`
and `make drift STACK=...` runs the drift check the scheduled workflow runs. It drives the
`pulumi`, `gh` and `git` CLIs by name (the tests put fakes of the first two on PATH) and needs
only the standard library, so it runs on a bare runner before any venv exists.

It never logs in, selects a stack or edits settings outside the checkout: the backend comes
from the environment (PULUMI_ACCESS_TOKEN, or an OIDC token exchange, for Pulumi Cloud, also
self-hosted at an https:// PULUMI_BACKEND_URL; or an s3://, gs://, azblob://, file://
PULUMI_BACKEND_URL plus PULUMI_CONFIG_PASSPHRASE or a KMS secrets provider for a self-managed
backend), and each command names its stack with --stack, qualified by PULUMI_ORG on Pulumi Cloud.
On GitHub the repository's and environment's variables arrive as one JSON object
(PLATFORM_VARS, `toJSON(vars)`), so a setting is one variable, not an edit of every workflow.

  credentials  fail unless the backend's and the cluster's credentials are there (skip on fork PRs)
  oidc         exchange the job's GitHub OIDC token for Pulumi and cloud credentials (files, 0600)
  run          preview | up | destroy one stack; only `up` creates a missing stack
  comment      create or update the pull request comment of one stack's preview or up
  sweep        pick the review stacks (pr-<number>) to destroy
  drift        report (and for dev/staging optionally repair) drift of the DEPLOYED commit
  protection   the production gate: required reviewers, or an approval by a listed approver
  superseded   skip (output current=false) when the branch has moved past this run's commit
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tools import datasafety

REVIEW_STACK = re.compile(r"^pr-(\d+)$")
REVIEW_LABEL = "review-env"
# Drift is repaired automatically only here, only from main, and only when asked; production never.
REMEDIABLE = ("dev", "staging")
MAIN_REF = "refs/heads/main"
DRIFT_LABEL = "drift"
# Written by every successful `up`: the commit the stack's state came from. Drift is measured against it.
DEPLOYED_TAG = "deployed-commit"
PLAN_ARTIFACT = "production-plan-"  # + the plan's sha256: the name binds the artifact to its content
# A PR comment holds 65536 characters; the full output stays in the job log and summary.
COMMENT_LIMIT = 60000
PASSPHRASE = "passphrase"  # noqa: S105 (the provider's name, not a secret)
# The repository/environment variables the logic reads from PLATFORM_VARS (README, CI/CD).
VARIABLES = (
    "PULUMI_BACKEND_URL", "PULUMI_SECRETS_PROVIDER", "PULUMI_ORG", "PULUMI_OIDC", "AWS_ROLE_ARN",
    "GCP_WORKLOAD_IDENTITY_PROVIDER", "GCP_SERVICE_ACCOUNT", "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
    "PRODUCTION_APPROVERS", "REVIEW_ENV_TTL_DAYS",
)
OIDC_FILE = "platform-oidc.env"  # in RUNNER_TEMP: what `oidc` obtained, read by the later steps


class Failure(Exception):
    """A clear, expected failure: printed as a GitHub error annotation, exit code 1."""


# ---------------------------------------------------------------- plumbing


def error(message: str) -> None:
    print(f"::error::{message}", flush=True)


def notice(message: str) -> None:
    print(f"::notice::{message}", flush=True)


def warning(message: str) -> None:
    print(f"::warning::{message}", flush=True)


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


def temp_dir() -> Path:
    return Path(os.environ.get("RUNNER_TEMP") or tempfile.gettempdir())


def run_url() -> str:
    env = os.environ
    if not env.get("GITHUB_RUN_ID"):
        return "(local run)"
    return f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"


def load_settings() -> None:
    """The variables of PLATFORM_VARS (the job's `vars`), then what `oidc` obtained; an empty
    variable counts as unset, and a variable already in the environment wins (make drift)."""
    found = json.loads(os.environ.get("PLATFORM_VARS") or "{}")
    for name in VARIABLES:
        if found.get(name) and not os.environ.get(name):
            os.environ[name] = str(found[name])
    obtained = temp_dir() / OIDC_FILE
    if os.environ.get("GITHUB_ACTIONS") == "true" and obtained.exists():
        for line in obtained.read_text().splitlines():
            key, _, value = line.partition("=")
            os.environ[key] = value
    if not os.environ.get("PULUMI_BACKEND_URL"):
        os.environ.pop("PULUMI_BACKEND_URL", None)  # an empty URL would not mean Pulumi Cloud to the CLI


def cli(*args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `pulumi`, `gh` or `git` with captured output."""
    result = subprocess.run(list(args), capture_output=True, text=True, check=False, cwd=cwd)  # noqa: S603
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


# ---------------------------------------------------------------- backend


def backend_url() -> str:
    return os.environ.get("PULUMI_BACKEND_URL", "")


def self_managed() -> bool:
    """A bucket or file backend; an http(s):// URL is a self-hosted Pulumi Cloud, not a DIY backend."""
    return bool(backend_url()) and not backend_url().startswith(("https://", "http://"))


def secrets_provider() -> str:
    return os.environ.get("PULUMI_SECRETS_PROVIDER") or PASSPHRASE


def organization() -> str:
    return os.environ.get("PULUMI_ORG", "")


def qualified(stack: str) -> str:
    """On Pulumi Cloud a bare name means "in whichever organisation the token defaults to": never
    use one. A self-managed backend has no organisations."""
    return f"{organization()}/{stack}" if organization() and not self_managed() else stack


def check_organization() -> None:
    if self_managed() and organization():
        raise Failure(
            "variable PULUMI_ORG is set, but PULUMI_BACKEND_URL is a self-managed backend, which has no organisations: unset one"
        )


# ---------------------------------------------------------------- credentials


def kubeconfig_secret(command: str, remediate: bool = False) -> str:
    """Previews and drift checks read with PREVIEW_KUBECONFIG of the stack's preview-<stack>
    environment; everything that changes a cluster uses KUBECONFIG of the stack's environment."""
    return "PREVIEW_KUBECONFIG" if command == "preview" or (command == "drift" and not remediate) else "KUBECONFIG"


def environment_of(command: str, stack: str, remediate: bool = False) -> str:
    """The GitHub environment that holds a job's credentials (the workflow test holds every job to it)."""
    if REVIEW_STACK.match(stack) or stack == "pr-*":
        return "review"
    return f"preview-{stack}" if kubeconfig_secret(command, remediate) == "PREVIEW_KUBECONFIG" else stack


def missing_credentials(command: str, stack: str, remediate: bool = False) -> list[str]:
    """What the job lacks, each named as the secret or variable to set, and where."""
    env = os.environ
    where = f"in GitHub environment {environment_of(command, stack, remediate)}"
    missing = []
    if not self_managed():
        if not env.get("PULUMI_ACCESS_TOKEN") and not env.get("PULUMI_OIDC"):
            missing.append(
                f"secret PULUMI_ACCESS_TOKEN {where} (Pulumi Cloud), or variable PULUMI_OIDC for a token exchange, "
                "or variable PULUMI_BACKEND_URL for a self-managed backend"
            )
        if not organization():
            missing.append("variable PULUMI_ORG (the Pulumi Cloud organisation that owns the stacks)")
    elif secrets_provider() == PASSPHRASE and not env.get("PULUMI_CONFIG_PASSPHRASE"):
        missing.append(
            f"secret PULUMI_CONFIG_PASSPHRASE {where} (self-managed backend with the passphrase provider; "
            "or set variable PULUMI_SECRETS_PROVIDER to a KMS URL)"
        )
    if command != "sweep" and not env.get("KUBECONFIG_DATA"):
        missing.append(f"secret {kubeconfig_secret(command, remediate)} {where} (the target cluster)")
    return missing


def credentials(command: str, stack: str, fork: bool, remediate: bool) -> int:
    check_organization()
    missing = missing_credentials(command, stack, remediate)
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


# ---------------------------------------------------------------- OIDC: short-lived credentials


def github_id_token(audience: str) -> str:
    url, token = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"), os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not token:
        raise Failure("OIDC is configured, but the job cannot request an ID token: give it `permissions: id-token: write`")
    request = urllib.request.Request(f"{url}&audience={urllib.parse.quote(audience, safe='')}")  # noqa: S310 (GitHub's URL)
    request.add_header("Authorization", f"bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return str(json.load(answer)["value"])


def pulumi_api() -> str:
    return backend_url().rstrip("/") if backend_url().startswith(("https://", "http://")) else "https://api.pulumi.com"


def pulumi_token_exchange(org: str, scope: str) -> str:
    """Pulumi Cloud's OAuth token exchange (RFC 8693): the GitHub ID token for a short-lived
    Pulumi token. ``scope``: ``organization``, ``team:<name>`` or ``user:<login>``; the
    organisation's OIDC issuer policy decides what this repository, branch and environment get."""
    kinds = {"organization": "organization", "team": "team", "user": "personal"}
    kind = scope.split(":", 1)[0]
    if kind not in kinds or (kind != "organization" and ":" not in scope):
        raise Failure(f"variable PULUMI_OIDC={scope!r}: use organization, team:<name> or user:<login>")
    audience = f"urn:pulumi:org:{org}"
    form = {
        "audience": audience,
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "requested_token_type": f"urn:pulumi:token-type:access_token:{kinds[kind]}",
        "subject_token": github_id_token(audience),
        "expiration": "7200",
    }
    if kind != "organization":
        form["scope"] = scope
    request = urllib.request.Request(f"{pulumi_api()}/api/oauth/token", data=urllib.parse.urlencode(form).encode())  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return str(json.load(answer)["access_token"])
    except urllib.error.HTTPError as failed:
        why = f"HTTP {failed.code} {failed.read()[:500]!r}"
        raise Failure(f"Pulumi OIDC token exchange for {org} ({scope}) refused: {why}") from None


def oidc() -> int:
    """Short-lived credentials for the steps after this one, in files only they read (0600 in
    RUNNER_TEMP), never in the job's environment: Pulumi (token exchange) and the cloud of a
    bucket/KMS backend (the SDKs' own web-identity settings: AWS, Google, Azure)."""
    env, out = os.environ, temp_dir()
    exported: dict[str, str] = {}
    if env.get("PULUMI_OIDC"):
        token = pulumi_token_exchange(organization(), env["PULUMI_OIDC"])
        print(f"::add-mask::{token}", flush=True)
        exported["PULUMI_ACCESS_TOKEN"] = token
    clouds = []
    if env.get("AWS_ROLE_ARN"):
        token_file = private(out / "aws-web-identity-token", github_id_token("sts.amazonaws.com"))
        exported |= {"AWS_ROLE_ARN": env["AWS_ROLE_ARN"], "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
                     "AWS_ROLE_SESSION_NAME": f"github-{env.get('GITHUB_RUN_ID', 'local')}"}
        clouds.append("AWS")
    if env.get("GCP_WORKLOAD_IDENTITY_PROVIDER"):
        provider = env["GCP_WORKLOAD_IDENTITY_PROVIDER"]
        token_file = private(out / "gcp-id-token", github_id_token(f"https://iam.googleapis.com/{provider}"))
        config: dict[str, Any] = {
            "type": "external_account", "audience": f"//iam.googleapis.com/{provider}",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": "https://sts.googleapis.com/v1/token",
            "credential_source": {"file": str(token_file)},
        }
        if env.get("GCP_SERVICE_ACCOUNT"):
            config["service_account_impersonation_url"] = (
                f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{env['GCP_SERVICE_ACCOUNT']}:generateAccessToken"
            )
        exported["GOOGLE_APPLICATION_CREDENTIALS"] = str(private(out / "gcp-credentials.json", json.dumps(config)))
        clouds.append("Google Cloud")
    if env.get("AZURE_CLIENT_ID") or env.get("AZURE_TENANT_ID"):
        if not (env.get("AZURE_CLIENT_ID") and env.get("AZURE_TENANT_ID")):
            raise Failure("Azure OIDC needs both variables AZURE_CLIENT_ID and AZURE_TENANT_ID")
        token_file = private(out / "azure-federated-token", github_id_token("api://AzureADTokenExchange"))
        exported |= {"AZURE_CLIENT_ID": env["AZURE_CLIENT_ID"], "AZURE_TENANT_ID": env["AZURE_TENANT_ID"],
                     "AZURE_FEDERATED_TOKEN_FILE": str(token_file)}
        clouds.append("Azure")
    private(out / OIDC_FILE, "".join(f"{k}={v}\n" for k, v in exported.items()))
    got = (["Pulumi"] if "PULUMI_ACCESS_TOKEN" in exported else []) + clouds
    notice(f"OIDC: short-lived credentials for {', '.join(got) or 'nothing (no OIDC variable set)'}")
    return 0


def private(path: Path, text: str) -> Path:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return path


# ---------------------------------------------------------------- stacks


def stacks() -> list[dict[str, Any]]:
    """The project's stacks in the configured organisation, each with its short name (a Cloud
    name may be org/project/stack). Without the filter `stack ls` lists every organisation the
    token can see, and two `pr-12` of two organisations would look like one."""
    args = ["stack", "ls", "--json"]
    if organization() and not self_managed():
        args += ["--organization", organization(), "--fully-qualify-stack-names"]
    listed = json.loads(pulumi(*args).stdout or "[]")
    out = []
    for s in listed:
        parts = str(s["name"]).split("/")
        if len(parts) == 3 and organization() and parts[0] != organization():
            continue
        out.append({**s, "short": parts[-1]})
    return out


def stack_exists(stack: str) -> bool:
    return any(s["short"] == stack for s in stacks())


def setup_hint(stack: str) -> str:
    return (
        f"stack {stack!r} does not exist in the self-managed backend. One-time setup (README, CI/CD): "
        f"with PULUMI_BACKEND_URL set, `pulumi stack init {stack} --secrets-provider <passphrase|KMS URL>`, "
        f"then commit Pulumi.{stack}.yaml (it holds the stack's encryption salt or key)."
    )


def ensure_stack(stack: str, upsert: bool) -> None:
    """Create a missing stack for `up` where that is safe: on Pulumi Cloud (the service holds the
    secrets key) or when asked (review stacks). Only deploy jobs get here, inside their GitHub
    environments: previews and drift checks never create or change a stack. On a self-managed
    backend the secrets salt/key is written into Pulumi.<stack>.yaml, which a CI checkout throws
    away, so long-lived stacks are set up once by hand and committed."""
    if stack_exists(stack):
        return
    if self_managed() and not upsert:
        raise Failure(setup_hint(stack))
    args = ["stack", "init", qualified(stack)]
    if self_managed():
        args += ["--secrets-provider", secrets_provider()]
    pulumi(*args)
    notice(f"created stack {qualified(stack)}")


def policy_args(policy_pack: str) -> list[str]:
    return ["--policy-pack", str(Path(policy_pack).resolve())] if policy_pack else []


def checkout_commit(cwd: Path | None = None) -> str | None:
    """The commit being run: GitHub's, else the checkout's HEAD, else unknown (a copied tree)."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    head = cli("git", "rev-parse", "HEAD", check=False, cwd=cwd)
    return head.stdout.strip() if head.returncode == 0 else None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- run


def run(command: str, stack: str, upsert: bool, log: Path, policy_pack: str, save_plan: Path | None = None,
        plan: Path | None = None, plan_digest: str = "") -> int:
    check_organization()
    target = ["--stack", qualified(stack), "--non-interactive"]
    if command == "destroy":
        if not stack_exists(stack):
            return absent(stack, log, f"stack {stack} does not exist (already removed, or never created): nothing to destroy.")
        args = ["destroy", "--yes", "--remove", "--skip-preview"]
    elif command == "preview":
        if not stack_exists(stack):
            # Never created here: a preview runs the PR's code with read-only credentials.
            return absent(stack, log, f"stack {stack} does not exist yet: nothing to preview. Its first deploy creates it.")
        args = ["preview", "--diff", "--suppress-outputs", *policy_args(policy_pack)]
        if save_plan:
            save_plan.parent.mkdir(parents=True, exist_ok=True)
            args += ["--save-plan", str(save_plan)]
    elif command == "up":
        if plan and not plan.is_file() and not stack_exists(stack):
            # Its first deploy: a preview needs the stack, so there was no plan to save. A plan
            # missing for a stack that exists fails below (check_plan): never an unplanned change.
            notice(f"stack {stack} does not exist yet: its first deploy creates it, without a plan")
            plan = None
        if plan:
            check_plan(plan, plan_digest)
        ensure_stack(stack, upsert)
        args = ["up", "--diff", "--suppress-outputs", *policy_args(policy_pack), "--yes", "--skip-preview"]
        args += ["--plan", str(plan)] if plan else []
    else:
        raise Failure(f"unknown command {command!r}: preview, up or destroy")
    code = streamed(["pulumi", *args, *target], log)
    status = "succeeded" if code == 0 else f"FAILED (exit {code})"
    commit = checkout_commit()
    sections = [f"### pulumi {command} {stack}: {status}", f"Commit: `{commit or 'the working tree'}`"]
    if command == "preview":
        safety = safety_summary(stack)
        log.with_suffix(".safety.md").write_text(safety)
        sections.insert(1, safety)
        if code == 0 and ("unknown" in safety.splitlines()[0] or "INCOMPLETE" in safety.splitlines()[0]):
            code = 1  # no preview comment may look safe without its data-safety summary
        if code == 0 and save_plan:
            digest = sha256(save_plan)
            set_output("plan-digest", digest)
            sections.append(f"Update plan saved, sha256 `{digest}`: the approved `up` applies exactly this plan.")
    if command == "up" and code == 0 and commit:
        pulumi("stack", "tag", "set", DEPLOYED_TAG, commit, "--stack", qualified(stack))
        sections.append(f"Recorded stack tag `{DEPLOYED_TAG}={commit}` (what drift checks compare against).")
    sections.append(f"<details><summary>output</summary>\n\n```\n{tail(log)}\n```\n</details>")
    summary("\n\n".join(sections) + "\n")
    return code


def absent(stack: str, log: Path, note: str) -> int:
    log.write_text(note + "\n")
    log.with_suffix(".safety.md").write_text(datasafety.markdown(stack, [], "no stack"))
    summary(note)
    notice(note)
    return 0


def check_plan(plan: Path, digest: str) -> None:
    """The plan an approver approved, unaltered: a missing or different file fails before any change."""
    if not plan.is_file():
        raise Failure(f"update plan {plan} is missing: production applies only the plan its preview saved")
    if digest and sha256(plan) != digest:
        raise Failure(f"update plan {plan} has sha256 {sha256(plan)}, not the approved {digest}: not applying it")


def safety_summary(stack: str) -> str:
    """The data-safety summary from `pulumi preview --json --show-secrets`. The JSON (with secret
    values) is parsed here and dropped: only names and keyed fingerprints are ever written out.
    A failed preview still lists the steps it planned before failing (the API server refuses,
    for one, the server-side dry run of a StatefulSet's replacement): those findings are shown,
    marked incomplete, because a failure is exactly when a replacement must not go unseen."""
    result = pulumi("preview", "--json", "--show-secrets", "--suppress-outputs", "--stack", qualified(stack), check=False)
    try:
        found = datasafety.from_preview(json.loads(result.stdout))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        found = None
    if result.returncode == 0 and found is not None:
        return datasafety.markdown(stack, found, "from `pulumi preview --json`")
    note = f"`pulumi preview --json` failed ({result.returncode}); see the job log of {run_url()}."
    if found:
        return datasafety.markdown(stack, found, "INCOMPLETE: the preview failed; from the steps it planned first", note)
    return datasafety.markdown(stack, None, "", note)


def tail(log: Path, limit: int = COMMENT_LIMIT) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return text if len(text) <= limit else "... (cut; the full output is in the job log)\n" + text[-limit:]


# ---------------------------------------------------------------- pull request comment


def comment_marker(command: str, stack: str) -> str:
    return f"<!-- platform-pulumi-{command}-{stack} -->"


def comment_body(command: str, stack: str, outcome: str, sha: str, log: Path) -> str:
    head = comment_marker(command, stack)
    safety_file = log.with_suffix(".safety.md")
    if outcome == "success":
        safety = safety_file.read_text() + "\n" if command == "preview" and safety_file.exists() else ""
        return f"{head}\n{safety}#### pulumi {command} `{stack}` at {sha}: succeeded\n\n```\n{tail(log)}\n```\n"
    # A failed run replaces the last good output, which would otherwise look current; its own
    # data-safety summary (of what the failed preview planned) is kept, never an older one.
    # (RUNNER_TEMP is the job's own: a summary there is this run's.)
    known = safety_file.read_text() if safety_file.exists() else datasafety.markdown(stack, None, "")
    safety = known + "\n" if command == "preview" else ""
    return (
        f"{head}\n{safety}#### pulumi {command} `{stack}` at {sha}: FAILED ({outcome})\n\n"
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
    check_organization()
    repo = os.environ["GITHUB_REPOSITORY"]
    now = datetime.now(UTC)
    verdicts: dict[str, Verdict] = {}
    for stack in stacks():
        match = REVIEW_STACK.match(stack["short"])
        if match and stack["short"] not in verdicts:
            verdicts[stack["short"]] = judge(stack, pull_request(repo, int(match.group(1))), timedelta(days=ttl_days), now)
    rows = "\n".join(f"| {qualified(v.stack)} | {'destroy' if v.destroy else 'keep'} | {v.reason} |" for v in verdicts.values())
    summary(f"### Review stacks\n\n| stack | action | why |\n|---|---|---|\n{rows}\n")
    set_output("stacks", json.dumps([v.stack for v in verdicts.values() if v.destroy]))
    return 0


# ---------------------------------------------------------------- drift


def resource_of(urn: str) -> dict[str, str]:
    """``urn:pulumi:dev::platform::a:b:Parent$kubernetes:core/v1:Service::api`` -> its type and name."""
    parts = urn.split("::")
    return {"type": parts[-2].split("$")[-1] if len(parts) >= 2 else "?", "name": parts[-1]}


def changed_fields(step: dict[str, Any]) -> str:
    """The fields of one step, as the CLI's JSON names them: the paths of ``detailedDiff``
    (``spec.template.spec.containers[0].image``), else the top-level ``diffReasons``."""
    detailed = step.get("detailedDiff") or {}
    if detailed:
        return ", ".join(f"{path} ({diff.get('kind', '?')})" for path, diff in sorted(detailed.items()))
    return ", ".join(map(str, step.get("diffReasons") or step.get("replaceReasons") or []))


def drifted(preview: dict[str, Any]) -> list[dict[str, str]]:
    """The resources `up` would change after a refresh, from `pulumi preview --refresh --json`: its
    steps are one `refresh` per resource, then the preview against the refreshed state."""
    out = []
    for step in preview.get("steps", []):
        if step.get("op", "same") in ("refresh", "same", "read"):
            continue
        resource = resource_of(str(step.get("urn", "")))
        out.append({"op": str(step["op"]), **resource, "diff": changed_fields(step)})
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


def drift_report(stack: str, commit: str, found: list[dict[str, str]]) -> str:
    rows = "\n".join(f"| `{d['type']}` | `{d['name']}` | {d['op']} | {d['diff']} |" for d in found)
    return (
        f"### Drift in stack `{stack}`: {len(found)} resource(s)\n\n"
        f"The live cluster differs from the deployment of `{commit}`; `pulumi up` of that commit would "
        f"do this to put it back:\n\n"
        f"| type | name | to do | fields |\n|---|---|---|---|\n{rows}\n\nDetected by {run_url()}. "
        f"Reproduce: `git checkout {commit} && make drift STACK={stack}`.\n"
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
    body = temp_dir() / f"drift-{stack}.md"
    body.write_text(report)
    if numbers:
        cli("gh", "issue", "edit", str(numbers[0]), "--repo", repo, "--body-file", str(body))
    else:
        label = ["--color", "d93f0b", "--description", "The live cluster differs from the Pulumi stack"]
        cli("gh", "label", "create", DRIFT_LABEL, "--repo", repo, "--force", *label)
        cli("gh", "issue", "create", "--repo", repo, "--title", title, "--label", DRIFT_LABEL, "--body-file", str(body))


def deployed_commit(stack: str) -> str | None:
    result = pulumi("stack", "tag", "get", DEPLOYED_TAG, "--stack", qualified(stack), check=False)
    value = result.stdout.strip()
    return value if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{7,64}", value) else None


@contextlib.contextmanager
def program_at(commit: str) -> Iterator[Path]:
    """The program as it was at ``commit``: this checkout when it is that commit, else a temporary
    git worktree with the venv of that commit's requirements.txt (this checkout's when equal).
    Needs the commit in the local history (drift.yml checks out with fetch-depth: 0)."""
    here = Path.cwd()
    if checkout_commit() == commit:
        yield here
        return
    with tempfile.TemporaryDirectory(prefix="platform-deployed-") as scratch:
        tree = Path(scratch) / "program"
        add = cli("git", "worktree", "add", "--detach", str(tree), commit, check=False)
        if add.returncode != 0:
            raise Failure(f"the deployed commit {commit} is not in this checkout's history: {add.stderr.strip()[-500:]}")
        try:
            if (here / "venv").exists() and filecmp.cmp(here / "requirements.txt", tree / "requirements.txt", shallow=False):
                (tree / "venv").symlink_to((here / "venv").resolve())
            else:
                cli(sys.executable, "-m", "venv", str(tree / "venv"))
                cli(str(tree / "venv" / "bin" / "pip"), "install", "--quiet", "-r", str(tree / "requirements.txt"))
            yield tree
        finally:
            cli("git", "worktree", "remove", "--force", str(tree), check=False)


def drift(stack: str, issue: bool, remediate: bool, policy_pack: str) -> int:
    """0: no drift (or drift repaired); 2: drift found; 1: the check itself failed."""
    check_organization()
    if remediate and stack not in REMEDIABLE:
        raise Failure(f"drift remediation runs only for {', '.join(REMEDIABLE)}, never for {stack!r}")
    if remediate and os.environ.get("GITHUB_ACTIONS") == "true" and os.environ.get("GITHUB_REF") != MAIN_REF:
        raise Failure(f"drift remediation runs only from main, not from {os.environ.get('GITHUB_REF')!r}")
    if not stack_exists(stack):
        notice(f"stack {stack} does not exist yet: no drift to check")
        return 0
    commit = deployed_commit(stack)
    if commit is None:
        note = (f"stack {stack} has no `{DEPLOYED_TAG}` tag (never deployed by deploy.yml since drift checks began): "
                "what it runs is unknown, so nothing is compared. The next deploy records it.")
        warning(note)
        summary(f"### Stack `{stack}`: drift not checked\n\n{note}\n")
        return 0
    policy = policy_args(policy_pack)  # resolved here: the program may run from another directory
    with program_at(commit) as program:
        target = ["--stack", qualified(stack), "--cwd", str(program)]
        result = pulumi("preview", "--refresh", "--json", *target, check=False)
        try:
            preview = json.loads(result.stdout)
        except json.JSONDecodeError:
            raise Failure(f"pulumi preview --refresh {stack} failed ({result.returncode}): {result.stderr[-2000:]}") from None
        found = merged(drifted(preview), conflicts(preview))
        if result.returncode != 0 and not conflicts(preview):
            messages = [d.get("message", "") for d in preview.get("diagnostics", []) if d.get("severity") == "error"]
            raise Failure(f"pulumi preview --refresh {stack} failed: {' '.join(messages)[-2000:] or result.stderr[-2000:]}")
        report = drift_report(stack, commit, found) if found else None
        summary(report or f"### Stack `{stack}`: no drift from the deployment of `{commit}`\n")
        if issue:
            drift_issue(stack, report)
        if not found:
            return 0
        if not remediate:
            return 2
        # The deployed commit again, never a newer one: remediation restores, it does not deploy.
        up = ["pulumi", "up", "--refresh", "--yes", "--skip-preview", *policy, "--suppress-outputs", *target]
        code = streamed([*up, "--non-interactive"], temp_dir() / f"remediate-{stack}.log")
    summary(f"Remediation `pulumi up --refresh` of `{stack}` at `{commit}`: {'done' if code == 0 else 'FAILED'}\n")
    if code != 0:
        return 1
    if issue:
        drift_issue(stack, None)
    return 0


# ---------------------------------------------------------------- deployment guards


def environment_rules(repo: str, environment: str) -> list[dict[str, Any]]:
    result = cli("gh", "api", f"repos/{repo}/environments/{environment}", check=False)
    if result.returncode != 0:
        if "HTTP 404" in result.stderr:
            raise Failure(f"GitHub environment {environment!r} does not exist: create it with its secrets and a gate (README)")
        raise Failure(f"could not read GitHub environment {environment!r}: {result.stderr.strip()}")
    return list(json.loads(result.stdout).get("protection_rules", []))


def protection(environment: str, sha: str, approve_run: str) -> int:
    """The gate before production, failing closed. Either the environment requires reviewers
    (GitHub pauses the job for them), or, where GitHub offers no required reviewers (private
    repositories without Enterprise), an approver named in PRODUCTION_APPROVERS approves a run
    by starting deploy.yml with approve-run=<that run's id>: its saved plan is then applied.
    Outputs approved, plan-run (the run whose plan to apply) and, for an approval, plan-digest."""
    repo, env = os.environ["GITHUB_REPOSITORY"], os.environ
    rules = environment_rules(repo, environment)
    reviewers = [r for rule in rules if rule.get("type") == "required_reviewers" for r in rule.get("reviewers", [])]
    if reviewers:
        set_output("approved", "true")
        set_output("plan-run", env.get("GITHUB_RUN_ID", ""))
        summary(f"Environment `{environment}`: {len(reviewers)} required reviewer(s) approve the plan below.\n")
        return 0
    approvers = [a.strip() for a in env.get("PRODUCTION_APPROVERS", "").split(",") if a.strip()]
    if not approvers:
        raise Failure(
            f"GitHub environment {environment!r} has no required reviewers and variable PRODUCTION_APPROVERS names no "
            "approver: nothing gates production. Add required reviewers (public repositories; private ones need "
            "GitHub Enterprise) or set PRODUCTION_APPROVERS (README, CI/CD)"
        )
    if not approve_run:
        set_output("approved", "false")
        set_output("plan-run", env.get("GITHUB_RUN_ID", ""))
        how = f"gh workflow run deploy.yml --ref main -f approve-run={env.get('GITHUB_RUN_ID', '<run id>')}"
        note = f"Production waits for an approval by one of {', '.join(approvers)}: read the plan below, then `{how}`."
        summary(note + "\n")
        notice(note)
        return 0
    actor = env.get("GITHUB_TRIGGERING_ACTOR") or env.get("GITHUB_ACTOR", "")
    if env.get("GITHUB_EVENT_NAME") != "workflow_dispatch" or actor not in approvers:
        raise Failure(f"{actor!r} may not approve production: PRODUCTION_APPROVERS is {', '.join(approvers)}")
    approved = json.loads(cli("gh", "api", f"repos/{repo}/actions/runs/{approve_run}").stdout)
    wanted = {"head_sha": sha, "head_branch": "main", "event": "push", "path": ".github/workflows/deploy.yml"}
    wrong = {k: approved.get(k) for k, v in wanted.items() if approved.get(k) != v}
    if wrong:
        raise Failure(f"run {approve_run} is not a deploy of main at {sha}: {wrong}")
    if (approved.get("triggering_actor") or {}).get("login") == actor:
        raise Failure(f"{actor} pushed the commit of run {approve_run}: another approver must approve it")
    artifacts = json.loads(cli("gh", "api", f"repos/{repo}/actions/runs/{approve_run}/artifacts").stdout).get("artifacts", [])
    plans = [a for a in artifacts if a["name"].startswith(PLAN_ARTIFACT)]
    if len(plans) > 1 or any(a.get("expired") for a in plans):
        raise Failure(f"run {approve_run} has no unexpired production plan to apply: approve a newer run")
    set_output("approved", "true")
    set_output("plan-run", approve_run)
    # No plan at all: production did not exist when that run previewed it (its first deploy).
    set_output("plan-digest", plans[0]["name"].removeprefix(PLAN_ARTIFACT) if plans else "")
    summary(f"Production approved by {actor}: the plan of run {approve_run} at `{sha}`.\n")
    return 0


def superseded(sha: str, branch: str) -> int:
    """An approval can come late: never deploy a commit the branch has already moved past. Not an
    error (the newer run deploys): the step outputs current=false and the deploy steps skip."""
    repo = os.environ["GITHUB_REPOSITORY"]
    head = cli("gh", "api", f"repos/{repo}/commits/{branch}", "--jq", ".sha").stdout.strip()
    if head != sha:
        set_output("current", "false")
        note = f"{branch} is at {head}, past this run's commit {sha}: skipped (the newer run deploys)"
        notice(note)
        summary(note + "\n")
        return 0
    set_output("current", "true")
    return 0


# ---------------------------------------------------------------- entry point


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python3 -m tools.delivery", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = root.add_subparsers(dest="action", required=True)
    p = sub.add_parser("credentials")
    p.add_argument("--command", required=True)
    p.add_argument("--stack", required=True)
    p.add_argument("--fork", default="false", help="'true' on a pull request from a fork")
    p.add_argument("--remediate", default="false", help="'true': a drift repair, which needs the deploy credentials")
    sub.add_parser("oidc")
    p = sub.add_parser("run")
    p.add_argument("--command", required=True, choices=["preview", "up", "destroy"])
    p.add_argument("--stack", required=True)
    p.add_argument("--upsert", default="false")
    p.add_argument("--log", type=Path, required=True)
    p.add_argument("--policy-pack", default="policy", help="the CrossGuard pack's directory; empty: none")
    p.add_argument("--save-plan", type=Path, help="preview: save the update plan here")
    p.add_argument("--plan", type=Path, help="up: apply exactly this update plan")
    p.add_argument("--plan-digest", default="", help="up: the plan's approved sha256")
    p = sub.add_parser("comment")
    p.add_argument("--command", required=True)
    p.add_argument("--stack", required=True)
    p.add_argument("--outcome", required=True, help="the run step's outcome: success, failure, cancelled")
    p.add_argument("--pr", type=int, required=True)
    p.add_argument("--sha", required=True)
    p.add_argument("--log", type=Path, required=True)
    p = sub.add_parser("sweep")
    p.add_argument("--ttl-days", type=int, help="default: variable REVIEW_ENV_TTL_DAYS, else 7")
    p = sub.add_parser("drift")
    p.add_argument("--stack", required=True)
    p.add_argument("--issue", action="store_true", help="open, update or close the stack's drift issue")
    p.add_argument("--remediate", default="false", help="'true': pulumi up of the deployed commit on drift (dev, staging)")
    p.add_argument("--policy-pack", default="policy", help="the CrossGuard pack's directory (remediation); empty: none")
    p = sub.add_parser("protection")
    p.add_argument("--environment", required=True)
    p.add_argument("--sha", default="")
    p.add_argument("--approve-run", default="", help="the run whose production plan an approver approves")
    p = sub.add_parser("superseded")
    p.add_argument("--sha", required=True)
    p.add_argument("--branch", required=True)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        load_settings()
        if args.action == "credentials":
            return credentials(args.command, args.stack, args.fork == "true", args.remediate == "true")
        if args.action == "oidc":
            return oidc()
        if args.action == "run":
            return run(args.command, args.stack, args.upsert == "true", args.log, args.policy_pack, args.save_plan,
                       args.plan, args.plan_digest)
        if args.action == "comment":
            return comment(args.command, args.stack, args.outcome, args.pr, args.sha, args.log)
        if args.action == "sweep":
            return sweep(args.ttl_days or int(os.environ.get("REVIEW_ENV_TTL_DAYS") or 7))
        if args.action == "drift":
            return drift(args.stack, args.issue, args.remediate == "true", args.policy_pack)
        if args.action == "protection":
            return protection(args.environment, args.sha or os.environ.get("GITHUB_SHA", ""), args.approve_run)
        return superseded(args.sha, args.branch)
    except Failure as failure:
        error(str(failure))
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
