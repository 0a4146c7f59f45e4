"""The data-safety summary of a preview comment, on the real engine and the local cluster: a
deployed review stack (with Postgres backups on), then through tools/delivery.py's own preview
path (`run --command preview`, which writes the summary the PR comment starts with):
- a change that replaces a data-bearing object (Redis gains a volume: its StatefulSet's
  volumeClaimTemplates are immutable, so the StatefulSet is replaced);
- a change that lowers the backups' `keep`, previewed together with a replaced password.
Each asserts the summary, and the JSON is what tests/test_datasafety.py and tests/test_delivery.py
use offline (PLATFORM_WRITE_FIXTURES=1 rewrites those fixtures, with every secret value replaced).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools import datasafety
from tools.engine import ROOT
from tools.realengine import Workspace

pytestmark = pytest.mark.integration
STACK = "pr-4545"  # ephemeral profile, namespace = stack
FIXTURES = ROOT / "tests" / "fixtures" / "delivery"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"  # noqa: S105 (a type token)
BACKUPS = {"platform:postgres": {"backup": {"enabled": True, "keep": 7}}}


@pytest.fixture(scope="module", autouse=True)
def deployed(workspace: Workspace) -> Iterator[None]:
    workspace.delete_namespaces(STACK)
    workspace.init_stack(STACK, BACKUPS)
    workspace.pulumi("up", "--yes", "--skip-preview", stack=STACK, timeout=1500)
    yield
    workspace.pulumi("destroy", "--yes", "--remove", "--skip-preview", stack=STACK, check=False, timeout=1500)
    workspace.delete_namespaces(STACK)


def preview_summary(ws: Workspace, tmp_path: Path) -> tuple[int, str]:
    """tools/delivery.py's own preview: its exit code and the summary the PR comment starts with."""
    log = tmp_path / "preview.log"
    env = {k: v for k, v in ws.env.items() if not k.startswith("GITHUB_")}
    env.update(PYTHONPATH=str(ROOT))
    args = ["run", "--command", "preview", "--stack", STACK, "--log", str(log), "--policy-pack", ""]
    command = [sys.executable, "-m", "tools.delivery", *args]
    run = subprocess.run(command, cwd=ws.dir, env=env, capture_output=True, text=True, timeout=1500)
    safety = log.with_suffix(".safety.md")
    assert safety.exists(), run.stdout[-4000:] + run.stderr[-2000:]
    return run.returncode, safety.read_text()


def preview_json(ws: Workspace, *extra: str) -> dict[str, Any]:
    out = ws.pulumi("preview", "--json", "--show-secrets", "--suppress-outputs", *extra, stack=STACK, check=False).stdout
    return dict(json.loads(out))


def redacted(preview: dict[str, Any]) -> dict[str, Any]:
    """The JSON with every generated password (also inside the files that embed it) replaced."""
    text = json.dumps(preview, indent=1, sort_keys=True)
    passwords = {
        str(state["outputs"]["result"])
        for step in preview.get("steps", [])
        for state in (step.get("oldState"), step.get("newState"))
        if state and state.get("type") == RANDOM_PASSWORD and (state.get("outputs") or {}).get("result")
    }
    for n, value in enumerate(sorted(p for p in passwords if p not in (datasafety.UNKNOWN, datasafety.MASKED))):
        text = text.replace(value, f"fixture-password-{n}")
    return dict(json.loads(text))


def keep(preview: dict[str, Any], name: str) -> None:
    if os.environ.get("PLATFORM_WRITE_FIXTURES") == "1":
        FIXTURES.mkdir(parents=True, exist_ok=True)
        (FIXTURES / name).write_text(json.dumps(redacted(preview), indent=1, sort_keys=True) + "\n")


def set_config(ws: Workspace, key: str, value: dict[str, Any]) -> None:
    ws.set_config(STACK, key, value)


def test_a_change_that_replaces_a_statefulset_is_flagged(workspace: Workspace, tmp_path: Path) -> None:
    """Found on this engine: the API server refuses the server-side dry run of the StatefulSet's
    replacement (same name, immutable spec), so the preview itself fails after planning the
    replace. The summary still names it, marked incomplete, and the preview step fails."""
    set_config(workspace, "platform:redis", {"persistence": {"enabled": True}})
    try:
        real = preview_json(workspace)
        keep(real, "preview-replace-statefulset.json")
        code, summary = preview_summary(workspace, tmp_path)
        replaced = "- **StatefulSet** `redis-statefulset`: REPLACED (deleted and recreated; data may be lost)"
        assert summary.startswith("#### :warning: Data safety of `pr-4545`") and replaced in summary, summary
        if code != 0:  # the refused dry run: an incomplete summary, never a "safe" one
            assert "INCOMPLETE" in summary.splitlines()[0], summary
    finally:
        set_config(workspace, "platform:redis", {})


def test_lowering_keep_and_replacing_a_password_are_flagged(workspace: Workspace, tmp_path: Path) -> None:
    set_config(workspace, "platform:postgres", {"backup": {"enabled": True, "keep": 2}})
    try:
        urns = json.loads(workspace.pulumi("stack", "export", stack=STACK).stdout)["deployment"]["resources"]
        # The superuser's password (a client login's is replaced by design when it is rotated).
        password = next(r["urn"] for r in urns if r["type"] == RANDOM_PASSWORD and r["urn"].endswith("::postgres-password"))
        real = preview_json(workspace, "--replace", password)
        keep(real, "preview-lower-keep.json")
        code, summary = preview_summary(workspace, tmp_path)
        assert code == 0, summary
        assert "**CronJob** `postgres-backup`: KEEP lowered" in summary and "7 → 2" in summary, summary
        assert "REPLACED" not in summary and "DELETED" not in summary, summary
        found = [f.line() for f in datasafety.from_preview(real)]
        assert any("**RandomPassword** `postgres-password`: REPLACED" in line for line in found), found
        # The CLI's JSON masks the Secret's maps ("[secret]"): the change is named, never guessed.
        secret = [line for line in found if line.startswith("- **Secret** `postgres-secret`")]
        assert any("REPLACED" in line for line in secret) and any("masked by the CLI" in line for line in secret), found
        values = [p for p in password_values(real) if p != datasafety.MASKED]
        assert not any(p in "\n".join(found) for p in values), "a secret value reached the summary"
    finally:
        set_config(workspace, "platform:postgres", BACKUPS["platform:postgres"])


def password_values(preview: dict[str, Any]) -> list[str]:
    return [
        str(s["oldState"]["outputs"]["result"])
        for s in preview.get("steps", [])
        if (s.get("oldState") or {}).get("type") == RANDOM_PASSWORD
    ]
