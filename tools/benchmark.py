"""Benchmark the real engine against plain kubectl, side by side, on the local cluster.

    python -m tools.benchmark [--rounds N]

Per round, on one cluster: `pulumi up` of a dev-shaped stack from empty (the provider waits for
readiness), versus `kubectl apply --server-side` of the same rendered manifests in the seed's
`deploy-all.sh` order (environment, Postgres and wait, Redis and wait, API and wait, the rest);
then a no-op `pulumi preview`. Prints the times and their ratios; times are noisy, ratios less so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tools.engine import Registered, run_program
from tools.realengine import LOCAL_OVERRIDES, Workspace, local_cluster, toolchain_env
from tools.render import dump, manifest

# The seed's order: namespace and secrets, Postgres (wait), Redis (wait), API (wait), the rest.
ORDER = ["Environment", "Postgres", "Redis", "ApiService", "Ingress", "Monitoring"]
DEV_SHAPED = {"platform:environment": "dev"}


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _component(resource: Registered, by_urn: dict[str, Registered]) -> str:
    parent = by_urn.get(resource.parent)
    return parent.type.rsplit(":", 1)[-1] if parent else ""


def kubectl_deploy(ws: Workspace, namespace: str) -> None:
    """Apply the rendered objects component by component, waiting like deploy-all.sh does."""
    run = run_program(namespace, {**LOCAL_OVERRIDES, **DEV_SHAPED}, root=ws.dir)
    if run.error:
        raise run.error
    by_urn = {r.urn: r for r in run.resources}
    for component in ORDER:
        objects = [manifest(r) for r in run.kubernetes() if _component(r, by_urn) == component]
        if not objects:
            continue
        ws.kubectl("apply", "--server-side", "-f", "-", stdin="---\n".join(dump(o) for o in objects))
        for obj in objects:
            if obj["kind"] in ("Deployment", "StatefulSet"):
                ws.kubectl(
                    "rollout", "status", f"{obj['kind'].lower()}/{obj['metadata']['name']}", "-n", namespace, "--timeout=300s"
                )


def one_round(ws: Workspace, index: int) -> dict[str, float]:
    pulumi_stack, kubectl_ns = f"bench-pulumi-{index}", f"bench-kubectl-{index}"
    ws.init_stack(pulumi_stack, DEV_SHAPED)
    result = {
        "pulumi up": timed(lambda: ws.pulumi("up", "--yes", "--skip-preview", stack=pulumi_stack, timeout=1200)),
        "kubectl apply": timed(lambda: kubectl_deploy(ws, kubectl_ns)),
        "no-op preview": timed(lambda: ws.pulumi("preview", "--expect-no-changes", stack=pulumi_stack)),
    }
    ws.pulumi("destroy", "--yes", "--remove", "--skip-preview", stack=pulumi_stack, timeout=1200)
    ws.delete_namespaces(kubectl_ns)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per step (median reported)")
    args = parser.parse_args(argv)
    env = local_cluster({**os.environ, **toolchain_env()})
    with tempfile.TemporaryDirectory(prefix="platform-bench-") as tmp:
        ws = Workspace.create(Path(tmp), env)
        rounds = [one_round(ws, i) for i in range(args.rounds)]
    median = {step: statistics.median(r[step] for r in rounds) for step in rounds[0]}
    for step, seconds in median.items():
        print(f"{step:<15} median {seconds:6.1f} s   ({', '.join(f'{r[step]:.1f}' for r in rounds)})")
    print(f"ratio pulumi up / kubectl apply+wait: {median['pulumi up'] / median['kubectl apply']:.2f}")
    print(f"ratio no-op preview / pulumi up:      {median['no-op preview'] / median['pulumi up']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
