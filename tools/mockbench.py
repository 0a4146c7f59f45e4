"""How long the program takes under the mock engine, against the floor of importing `pulumi` and
`pulumi_kubernetes`, for this working tree and a base revision, measured side by side.

    python -m tools.mockbench [--base REF] [--rounds N] [--stack dev]

Each measurement is a fresh interpreter (imports included, as `pulumi up` pays them); rounds
alternate floor, base, head so machine noise hits all three alike. Prints the medians and the
ratios to the floor; the budget is 1.5x.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.diff import merge_base, worktree
from tools.engine import ROOT

FLOORS = {
    "import floor": "import pulumi, pulumi_kubernetes",
    # pulumi_kubernetes loads its API modules lazily: the ones the program registers objects from.
    "import floor with API modules": "import pulumi, pulumi_kubernetes, pulumi_random\n"
    + "\n".join(f"import pulumi_kubernetes.{m}" for m in (
        "core.v1", "apps.v1", "batch.v1", "networking.v1", "policy.v1", "rbac.v1", "autoscaling.v2", "apiextensions", "helm.v3"
    )),
}
# This checkout's harness, the program (and its components) of ``root``.
PROGRAM = """
import os, sys
from pathlib import Path
from tools.engine import run_program
root = Path(sys.argv[1]); sys.path.insert(0, str(root)); os.chdir(root)
run = run_program(sys.argv[2], root=root)
assert run.error is None and run.resources, run.error
"""


def timed(code: str, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, check=True, capture_output=True)  # noqa: S603
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mockbench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="git ref to compare with (default: the merge base with main)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    base_ref = args.base or merge_base("main")
    with tempfile.TemporaryDirectory(prefix="platform-mockbench-") as tmp, worktree(base_ref, Path(tmp) / "base") as tree:
        timed(PROGRAM, str(tree), args.stack)  # warm the file cache once for each side
        timed(PROGRAM, str(ROOT), args.stack)
        samples: dict[str, list[float]] = {**{name: [] for name in FLOORS}, "base": [], "head": []}
        for _ in range(args.rounds):
            for name, code in FLOORS.items():
                samples[name].append(timed(code))
            samples["base"].append(timed(PROGRAM, str(tree), args.stack))
            samples["head"].append(timed(PROGRAM, str(ROOT), args.stack))
    median = {name: statistics.median(values) for name, values in samples.items()}
    print(f"rounds {args.rounds}, stack {args.stack}, base {base_ref[:12]}")
    for floor in FLOORS:
        for name in ("base", "head"):
            print(f"{name}: program under mocks / {floor} = {median[name] / median[floor]:.2f}")
    print(f"head / base = {median['head'] / median['base']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
