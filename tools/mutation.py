"""`make mutation`: how many small bugs the fast tests catch, and which ones they miss.

mutmut (pinned in requirements-mutation.txt, configured in pyproject's [tool.mutmut]) makes one
small edit at a time (a flipped comparison, another number, a dropped argument) in components/,
policy/validators.py and tools/delivery.py, and runs the fast tests that reach the edited function.
This prints the score per file and overall and the surviving mutants (`mutmut show <name>` prints
one's diff). It is a benchmark, not a CI gate: a full run takes hours on one core.

  python -m tools.mutation                 every mutant (results are cached in mutants/: a re-run
                                           tests only the mutants of functions that changed)
  python -m tools.mutation --sample 30     a fixed sample: the mutants whose name hashes to 0 mod 30,
                                           the same names on every run, so two runs compare
  python -m tools.mutation --fresh ...     forget the cache first (after a failed first run)

One test process at a time (--max-children 1): the machine is shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
STATS = MUTANTS / "mutmut-stats.json"
NO_MATCH = "no.such.module.x_nothing__mutmut_0"  # generates mutants and test stats, runs none
KILLED = {"killed", "timeout", "caught by type check"}
UNRUN = {"not checked", "skipped"}


def readable(output: str) -> str:
    """mutmut's output without its spinner frames (one per \\r), the last lines that say something."""
    lines = [line for line in output.replace("\r", "\n").splitlines() if line.strip() and line[:1] not in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"]
    return "\n".join(lines[-40:])


def mutmut(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "HYPOTHESIS_PROFILE": "deterministic"}  # the same examples every mutant
    if (ROOT / ".venv-gates" / "bin").is_dir():  # tests/test_gates.py would look for it in mutants/
        env.setdefault("PLATFORM_GATES_BIN", str(ROOT / ".venv-gates" / "bin"))
    result = subprocess.run([str(tool), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        sys.exit(f"mutmut {args[0]} failed ({result.returncode}):\n{readable(result.stdout + result.stderr)}")
    return result


def statuses() -> dict[str, str]:
    lines = mutmut("results", "--all", "true").stdout.splitlines()
    return dict(line.strip().rsplit(": ", 1) for line in lines if "__mutmut_" in line)


def prepare() -> None:
    """Generate the mutants and learn which tests reach which function (mutmut's stats pass)."""
    said = ""
    if not STATS.exists():
        said = readable(mutmut("run", "--max-children", "1", NO_MATCH, check=False).stdout)  # exits 1: nothing matches
    reached = json.loads(STATS.read_text()).get("tests_by_mangled_function_name") if STATS.exists() else None
    if not reached:
        shutil.rmtree(MUTANTS, ignore_errors=True)  # a half-made cache would be taken for a good one next time
        sys.exit(f"{said}\nmutmut's pass over the tests failed (a failing fast test? `make unit` shows which)")


def in_sample(name: str, every: int) -> bool:
    return int(hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest(), 16) % every == 0


def report(results: dict[str, str], seconds: float, sample: int) -> None:
    by_file: dict[str, Counter[str]] = defaultdict(Counter)
    for name, status in results.items():
        by_file[name.split(".x", 1)[0]][status] += 1
    counted = {n: s for n, s in results.items() if s not in UNRUN}
    killed = sum(s in KILLED for s in counted.values())
    scope = "every mutant" if sample == 1 else f"the sample 1/{sample} ({len(results)} mutants)"
    print(f"mutation score over {scope}: {killed}/{len(counted)} = {killed / max(len(counted), 1):.1%} "
          f"killed, in {seconds / 60:.1f} min")
    print(f"{'file':28} {'mutants':>8} {'killed':>7} {'survived':>9} {'no tests':>9} {'other':>6}")
    for module, counts in sorted(by_file.items()):
        killed_here = sum(counts[s] for s in KILLED)
        other = sum(counts.values()) - killed_here - counts["survived"] - counts["no tests"]
        total, survived, untested = sum(counts.values()), counts["survived"], counts["no tests"]
        print(f"{module:28} {total:>8} {killed_here:>7} {survived:>9} {untested:>9} {other:>6}")
    survivors = sorted(n for n, s in counted.items() if s not in KILLED)
    print(f"\nnot killed ({len(survivors)}; `mutmut show NAME` prints the edit):")
    for name in survivors:
        print(f"  {name}: {results[name]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=1, help="test only the mutants whose name hashes to 0 mod N")
    parser.add_argument("--fresh", action="store_true", help="delete mutants/ (the cache) first")
    args = parser.parse_args(argv)
    if args.fresh:
        shutil.rmtree(MUTANTS, ignore_errors=True)
    start = time.monotonic()
    prepare()
    names = sorted(statuses())
    chosen = [n for n in names if in_sample(n, args.sample)] if args.sample > 1 else []
    chosen_set = set(chosen)
    if args.sample > 1 and not chosen:
        sys.exit(f"no mutant in the sample 1/{args.sample}")
    run = mutmut("run", "--max-children", "1", *chosen, check=False)  # a survivor is a result, not an error
    results = {n: s for n, s in statuses().items() if not chosen_set or n in chosen_set}
    if all(s in UNRUN for s in results.values()):
        sys.exit(f"mutmut ran no mutant:\n{readable(run.stdout + run.stderr)}")
    report(results, time.monotonic() - start, args.sample)
    return 0


if __name__ == "__main__":
    sys.exit(main())
