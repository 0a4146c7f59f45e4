"""Where the pinned upstream files (CRDs, kwok stages) are: a cache filled by scripts/fetch-upstream.sh.

The versions are pinned in scripts/upstream.lock, the one place; the repository holds no copy.
Readers get the directory only when the cache was filled from the current lock, so a stale or
missing cache is an error that says how to fix it, never a silent check against old schemas.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "scripts" / "upstream.lock"


class NotFetched(RuntimeError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("PLATFORM_UPSTREAM_DIR") or Path.home() / ".cache" / "platform-upstream")


def fetched(dest: str) -> Path:
    """The cache directory ``dest`` of scripts/upstream.lock (``crds``, ``kwok``), checked fresh."""
    stamp = cache_dir() / "upstream.lock"
    if not stamp.is_file() or stamp.read_bytes() != LOCK.read_bytes():
        raise NotFetched(
            f"the upstream files pinned in {LOCK.relative_to(ROOT)} are not in {cache_dir()} (or are from "
            "another lock): run `make upstream` (bash scripts/fetch-upstream.sh)"
        )
    return cache_dir() / dest
