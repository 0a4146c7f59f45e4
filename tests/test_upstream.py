"""Upstream files (CRDs, kwok stages) are fetched pinned and verified, never kept in git.

The fetch runs `go mod download` (the module cache makes repeats offline); skipped without Go.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness import ROOT
from tools import upstream

needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="go is needed to fetch the pinned upstream modules")


def fetch(scripts: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLATFORM_UPSTREAM_DIR": str(cache)}
    return subprocess.run(["bash", str(scripts / "fetch-upstream.sh")], capture_output=True, text=True, env=env)


def lock_entries() -> list[list[str]]:
    lines = upstream.LOCK.read_text().splitlines()
    return [line.split() for line in lines if line.strip() and not line.startswith("#")]


def scripts_copy(tmp_path: Path, lock: str) -> Path:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    shutil.copy(ROOT / "scripts" / "fetch-upstream.sh", scripts)
    (scripts / "upstream.lock").write_text(lock)
    return scripts


@needs_go
def test_the_fetch_fills_the_cache_with_every_pinned_path_and_then_reuses_it(tmp_path: Path):
    cache = tmp_path / "cache"
    first = fetch(ROOT / "scripts", cache)
    assert first.returncode == 0, first.stderr
    for dest, module, _sum, *patterns in lock_entries():
        for pattern in patterns:
            assert list((cache / dest).glob(Path(pattern).name)), f"{module}: {pattern} missing from {cache / dest}"
    assert (cache / "upstream.lock").read_bytes() == upstream.LOCK.read_bytes()
    again = fetch(ROOT / "scripts", cache)
    assert again.returncode == 0 and "up to date" in again.stderr, again.stderr


@needs_go
def test_a_module_whose_hash_differs_from_the_lock_is_refused(tmp_path: Path):
    dest, module, pinned, *patterns = lock_entries()[0]
    tampered = "h1:" + "A" * 43 + "="
    scripts = scripts_copy(tmp_path, f"{dest} {module} {tampered} {' '.join(patterns)}\n")
    result = fetch(scripts, tmp_path / "cache")
    assert result.returncode != 0, result.stderr
    assert f"{module}: module hash {pinned} differs from {tampered}" in result.stderr, result.stderr
    assert not (tmp_path / "cache").exists()


@needs_go
def test_a_path_the_module_does_not_have_is_refused(tmp_path: Path):
    dest, module, pinned, *_ = lock_entries()[0]
    scripts = scripts_copy(tmp_path, f"{dest} {module} {pinned} no/such/file.yaml\n")
    result = fetch(scripts, tmp_path / "cache")
    assert result.returncode != 0 and "no file matching no/such/file.yaml" in result.stderr, result.stderr


def test_readers_refuse_a_cache_filled_from_another_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PLATFORM_UPSTREAM_DIR", str(tmp_path))
    (tmp_path / "crds").mkdir()
    (tmp_path / "upstream.lock").write_text(upstream.LOCK.read_text().replace("v0.93.1", "v0.93.0"))
    with pytest.raises(upstream.NotFetched, match="make upstream"):
        upstream.fetched("crds")
    (tmp_path / "upstream.lock").write_bytes(upstream.LOCK.read_bytes())
    assert upstream.fetched("crds") == tmp_path / "crds"


def test_git_tracks_no_upstream_file():
    """No tracked file has the content of a fetched upstream file (the copies are gone for good)."""
    try:
        cache = upstream.fetched("crds").parent
    except upstream.NotFetched:
        pytest.skip("upstream files not fetched (make upstream)")
    fetched = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in cache.rglob("*.yaml")}
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    copies = [
        f"{name} = {fetched[digest].relative_to(cache)}"
        for name in filter(None, tracked.split("\0"))
        if (ROOT / name).is_file() and (digest := hashlib.sha256((ROOT / name).read_bytes()).hexdigest()) in fetched
    ]
    assert not copies, f"upstream files copied into git: {copies}"
