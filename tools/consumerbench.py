"""Destroy of a consumer's composition against `kubectl delete namespace`, side by side, on the local cluster.

    python -m tools.consumerbench [--rounds N]

examples/two-services (two services, one Postgres, two Redis: another team's program on the
installed wheel, passing no resource option of its own) is deployed as a review stack; per round,
`pulumi destroy` of it is timed, then the same stack is deployed again and `kubectl delete namespace
--wait` of its namespace is timed. The Environment hands its components `deletedWith` the
namespace in review environments, so the two should be close. Times are noisy; the ratio of the
medians, measured in one run, is what to compare. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from tools.benchmark import timed
from tools.engine import ROOT
from tools.library import install
from tools.realengine import Workspace, local_cluster, toolchain_env

EXAMPLE = ROOT / "examples" / "two-services"
STACK = "pr-9001"  # any stack but dev, staging, production: a review environment
NAMESPACE = "bench-consumer"


def one_round(ws: Workspace) -> tuple[float, float]:
    ws.pulumi("up", "--yes", "--skip-preview", stack=STACK, timeout=1200)
    destroy = timed(lambda: ws.pulumi("destroy", "--yes", "--skip-preview", stack=STACK, timeout=1200))
    ws.pulumi("up", "--yes", "--skip-preview", stack=STACK, timeout=1200)
    delete = timed(lambda: ws.delete_namespaces(NAMESPACE))
    ws.pulumi("refresh", "--yes", "--skip-preview", stack=STACK, timeout=600)  # forget what kubectl deleted
    return destroy, delete


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per step (median reported)")
    args = parser.parse_args(argv)
    env = local_cluster({**os.environ, **toolchain_env()})
    with tempfile.TemporaryDirectory(prefix="platform-consumerbench-") as tmp:
        env = {**env, "PYTHONPATH": str(install(Path(tmp) / "library"))}
        ws = Workspace.create(Path(tmp) / "example", env, root=EXAMPLE, files=["Pulumi.yaml", "__main__.py", "requirements.txt"])
        ws.pulumi("stack", "init", "--secrets-provider", "passphrase", stack=STACK)
        ws.pulumi("config", "set", "namespace", NAMESPACE, stack=STACK)
        ws.pulumi("config", "set", "monitoringMode", "off", stack=STACK)
        try:
            rounds = [one_round(ws) for _ in range(args.rounds)]
        finally:
            ws.pulumi("destroy", "--yes", "--remove", "--skip-preview", stack=STACK, timeout=1200, check=False)
            ws.delete_namespaces(NAMESPACE)
    destroys, deletes = [r[0] for r in rounds], [r[1] for r in rounds]
    print(f"pulumi destroy of examples/two-services ({STACK}): median {statistics.median(destroys):.2f} s "
          f"({', '.join(f'{s:.2f}' for s in destroys)})")
    print(f"kubectl delete namespace --wait:                  median {statistics.median(deletes):.2f} s "
          f"({', '.join(f'{s:.2f}' for s in deletes)})")
    print(f"ratio (pulumi / kubectl, medians of this run): {statistics.median(destroys) / statistics.median(deletes):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
