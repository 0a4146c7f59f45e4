"""Build the components' wheel (``platform-components``) and install it somewhere throwaway.

Used by the tests and the real-engine example test: what they import is what a user's
``pip install`` gets, from site-packages, not the repository's ``components/`` directory.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tools.engine import ROOT

# What the distribution is built from (pyproject.toml maps the two directories into the package).
SOURCES = ["pyproject.toml", "components", "monitoring"]
IMPORT_NAME = "platform_components"


def build_wheel(workdir: Path) -> Path:
    """A wheel built from a copy of the sources, so no build directory lands in the checkout."""
    source = workdir / "source"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = workdir / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
         "-w", str(out), str(source)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = out.glob("platform_components-*.whl")
    return wheel


def install(workdir: Path) -> Path:
    """Build the wheel and install it (not its pinned dependencies, already in this venv) into a
    ``--target`` directory; returns that directory, for ``sys.path`` or ``PYTHONPATH``."""
    wheel = build_wheel(workdir)
    target = workdir / "site-packages"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--target", str(target), str(wheel)],
        check=True, capture_output=True, text=True,
    )
    return target
