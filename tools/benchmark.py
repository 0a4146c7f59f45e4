"""Benchmark the real engine against plain kubectl, side by side, on the local cluster.

    python -m tools.benchmark [--rounds N]

Per round, each Pulumi step next to its kubectl baseline on the same cluster:

* `pulumi up` of a dev-shaped stack from empty, against `kubectl apply --server-side` of the
  same rendered objects in the seed's `deploy-all.sh` order (environment, Postgres and wait,
  Redis and wait, API and wait, the rest);
* a no-op `pulumi preview` (also `up`'s own first phase), against `kubectl diff --server-side`;
* an `up` that changes only the API image, against `kubectl set image` plus `rollout status`;
* `destroy` of an ephemeral stack, against `kubectl delete namespace --wait` of the same objects.

Then the critical path of the last `up` from empty, from the engine's event log (per resource:
start, end, and the wait in the provider), and the fixed costs in the remainder: CLI start,
provider plugin start, program execution, API discovery. Times are noisy; the ratios, measured
side by side in one run, are what to compare. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.engine import ROOT, Registered, run_program
from tools.realengine import LOCAL_OVERRIDES, Workspace, local_cluster, toolchain_env
from tools.render import dump, manifest

# The seed's order: namespace and secrets, Postgres (wait), Redis (wait), API (wait), the rest.
ORDER = ["Environment", "Postgres", "Redis", "ApiService", "Ingress", "Monitoring"]
DEV_SHAPED = {"platform:environment": "dev"}
NEW_TAG = "6.7.0"  # the image-only change (kwok pulls nothing: any tag rolls out)
# (pulumi step, kubectl baseline, goal for the ratio or None)
PAIRS = [
    ("up from empty", "kubectl apply + waits", 2.0),
    ("image-only up", "kubectl set image + rollout", 2.0),
    ("ephemeral destroy", "kubectl delete ns --wait", 1.5),
    ("no-op preview", "kubectl diff", None),
]


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# ---------------------------------------------------------------- kubectl baselines


def _component(resource: Registered, by_urn: dict[str, Registered]) -> str:
    parent = by_urn.get(resource.parent)
    return parent.type.rsplit(":", 1)[-1] if parent else ""


def rendered(ws: Workspace, stack: str, overrides: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(component, object) of everything the program would create for ``stack``, in ORDER."""
    run = run_program(stack, {**LOCAL_OVERRIDES, **overrides}, root=ws.dir)
    if run.error:
        raise run.error
    by_urn = {r.urn: r for r in run.resources}
    objects = [(_component(r, by_urn), manifest(r)) for r in run.kubernetes()]
    return sorted(objects, key=lambda o: ORDER.index(o[0]) if o[0] in ORDER else len(ORDER))


def kubectl_deploy(ws: Workspace, stack: str, overrides: dict[str, Any]) -> None:
    """Apply the rendered objects component by component, waiting like deploy-all.sh does."""
    objects = rendered(ws, stack, overrides)
    for component in dict.fromkeys(c for c, _ in objects):
        batch = [o for c, o in objects if c == component]
        ws.kubectl("apply", "--server-side", "-f", "-", stdin="---\n".join(dump(o) for o in batch))
        for obj in batch:
            if obj["kind"] in ("Deployment", "StatefulSet"):
                ws.kubectl(
                    "rollout", "status", f"{obj['kind'].lower()}/{obj['metadata']['name']}",
                    "-n", obj["metadata"]["namespace"], "--timeout=300s",
                )


def kubectl_diff(ws: Workspace, stack: str, overrides: dict[str, Any]) -> None:
    objects = rendered(ws, stack, overrides)
    # Exit 1 means "differences"; only >1 is an error.
    manifests = "---\n".join(dump(o) for _, o in objects)
    # As the apply's own field manager, so the dry run meets no conflicts of its own making.
    result = ws.kubectl("diff", "--server-side", "--field-manager=kubectl", "-f", "-", check=False, stdin=manifests)
    if result.returncode > 1:
        raise AssertionError(f"kubectl diff failed: {result.stderr}")


def kubectl_set_image(ws: Workspace, namespace: str) -> None:
    deployment = ws.kube_json("get", "deployment/api", "-n", namespace)
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[0]
    ws.kubectl("set", "image", "deployment/api", f"api={image}:{NEW_TAG}", "-n", namespace)
    ws.kubectl("rollout", "status", "deployment/api", "-n", namespace, "--timeout=300s")


# ---------------------------------------------------------------- the engine's event log


@dataclass
class Step:
    urn: str
    op: str
    start: float  # seconds since the CLI started
    end: float = float("nan")

    @property
    def wait(self) -> float:
        return self.end - self.start


class EventLog:
    """Tails `--event-log FILE` while the CLI runs and stamps each event as it arrives: the
    events' own timestamps have a resolution of one second."""

    def __init__(self, path: Path, started: float):
        self.path, self.started = path, started
        self.events: list[tuple[float, dict[str, Any]]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tail, daemon=True)
        self._thread.start()

    def _tail(self) -> None:
        buffer, handle = "", None
        while True:
            finished = self._done.is_set()
            if handle is None and self.path.exists():
                handle = self.path.open()
            if handle is not None:
                buffer += handle.read()
                *lines, buffer = buffer.split("\n")
                now = time.perf_counter() - self.started
                self.events += [(now, json.loads(line)) for line in lines if line.strip()]
            if finished:
                break
            time.sleep(0.01)
        if handle is not None:
            handle.close()

    def close(self) -> None:
        self._done.set()
        self._thread.join()

    def steps(self) -> dict[str, Step]:
        """Custom resources only (components finish when the program does)."""
        steps: dict[str, Step] = {}
        for at, event in self.events:
            if "resourcePreEvent" in event:
                meta = event["resourcePreEvent"]["metadata"]
                state = meta.get("new") or meta.get("old") or {}
                if state.get("custom"):
                    steps[meta["urn"]] = Step(meta["urn"], meta["op"], at)
            elif "resOutputsEvent" in event:
                urn = event["resOutputsEvent"]["metadata"]["urn"]
                if urn in steps:
                    steps[urn].end = at
        return {urn: step for urn, step in steps.items() if step.end == step.end}  # drop unfinished (NaN)


def pulumi_with_events(ws: Workspace, *args: str, stack: str) -> tuple[float, EventLog]:
    with tempfile.TemporaryDirectory(prefix="platform-events-") as tmp:
        path = Path(tmp) / "events.jsonl"
        env = {**ws.env, "PULUMI_DEBUG_COMMANDS": "true"}
        started = time.perf_counter()
        log = EventLog(path, started)
        result = subprocess.run(
            ["pulumi", *args, "--stack", stack, "--non-interactive", "--event-log", str(path)],
            cwd=ws.dir, env=env, capture_output=True, text=True, timeout=1200,
        )
        seconds = time.perf_counter() - started
        log.close()
    if result.returncode != 0:
        raise AssertionError(f"pulumi {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, log


def dependencies(ws: Workspace, stack: str) -> dict[str, set[str]]:
    """Each resource's dependencies in the state: explicit, through inputs, and its provider."""
    state = json.loads(ws.pulumi("stack", "export", stack=stack).stdout)
    found = {}
    for resource in state["deployment"].get("resources", []):
        deps = set(resource.get("dependencies") or [])
        for urns in (resource.get("propertyDependencies") or {}).values():
            deps |= set(urns)
        if resource.get("provider"):
            deps.add(resource["provider"].rsplit("::", 1)[0])
        found[resource["urn"]] = deps
    return found


def critical_path(steps: dict[str, Step], deps: dict[str, set[str]]) -> list[Step]:
    """From the step that ended last, back through the dependency that ended last before it began."""
    if not steps:
        return []
    path = [max(steps.values(), key=lambda s: s.end)]
    while True:
        before = [steps[d] for d in deps.get(path[-1].urn, ()) if d in steps and steps[d].end <= path[-1].start + 0.05]
        if not before:
            return path[::-1]
        path.append(max(before, key=lambda s: s.end))


def short(urn: str) -> str:
    """``urn:pulumi:s::p::a$b$kubernetes:core/v1:Service::api-service`` -> ``Service api-service``."""
    kind, name = urn.rsplit("::", 2)[-2:]
    return f"{kind.rsplit('$', 1)[-1].rsplit(':', 1)[-1]} {name}"


# ---------------------------------------------------------------- fixed costs in the remainder


def startup_seconds(command: list[str], env: dict[str, str]) -> float:
    """Until a plugin prints its gRPC port (the handshake), then stop it."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        process.stdout.readline()
        return time.perf_counter() - started
    finally:
        process.kill()
        process.wait()


def fixed_costs(ws: Workspace) -> dict[str, float]:
    env = ws.env
    provider = shutil.which("pulumi-resource-kubernetes", path=env.get("PATH"))
    costs = {
        "CLI start (pulumi version)": timed(lambda: subprocess.run(["pulumi", "version"], env=env, capture_output=True)),
        "program under mocks (python start, imports, registrations)": timed(
            lambda: subprocess.run(
                [str(ROOT / "venv" / "bin" / "python"), "-c",
                 "from tools.engine import run_program; r = run_program('bench', {'platform:environment': 'dev'}); "
                 "assert r.error is None, r.error"],
                cwd=ROOT, env=env, capture_output=True, check=True,
            )
        ),
        "kubectl start (kubectl version --client)": timed(lambda: ws.kubectl("version", "--client")),
    }
    if provider:
        costs["kubernetes provider plugin start"] = startup_seconds([provider], env)
    with tempfile.TemporaryDirectory(prefix="platform-discovery-") as cache:
        costs["API discovery, cold (kubectl api-resources)"] = timed(lambda: ws.kubectl("api-resources", "--cache-dir", cache))
    return costs


# ---------------------------------------------------------------- one round


def one_round(ws: Workspace, index: int) -> tuple[dict[str, float], list[Step], float]:
    stack, kubectl_ns = f"bench-pulumi-{index}", f"bench-kubectl-{index}"
    ephemeral, ephemeral_ns = f"bench-eph-{index}", f"bench-ephk-{index}"
    ws.init_stack(stack, DEV_SHAPED)
    result: dict[str, float] = {}

    result["up from empty"], log = pulumi_with_events(ws, "up", "--yes", "--skip-preview", stack=stack)
    path = critical_path(log.steps(), dependencies(ws, stack))
    result["kubectl apply + waits"] = timed(lambda: kubectl_deploy(ws, kubectl_ns, DEV_SHAPED))

    result["no-op preview"] = timed(lambda: ws.pulumi("preview", "--expect-no-changes", stack=stack))
    result["kubectl diff"] = timed(lambda: kubectl_diff(ws, kubectl_ns, DEV_SHAPED))

    ws.set_config(stack, "platform:api", {"image": {"tag": NEW_TAG}})
    result["image-only up"] = timed(lambda: ws.pulumi("up", "--yes", "--skip-preview", stack=stack))
    result["kubectl set image + rollout"] = timed(lambda: kubectl_set_image(ws, kubectl_ns))

    ws.init_stack(ephemeral)
    ws.pulumi("up", "--yes", "--skip-preview", stack=ephemeral, timeout=1200)
    result["ephemeral destroy"] = timed(lambda: ws.pulumi("destroy", "--yes", "--skip-preview", stack=ephemeral))
    kubectl_deploy(ws, ephemeral_ns, {})
    result["kubectl delete ns --wait"] = timed(lambda: ws.delete_namespaces(ephemeral_ns))

    ws.pulumi("stack", "rm", "--yes", stack=ephemeral)
    ws.pulumi("destroy", "--yes", "--remove", "--skip-preview", stack=stack, timeout=1200)
    ws.delete_namespaces(kubectl_ns)
    return result, path, result["up from empty"]


def report(rounds: list[dict[str, float]], path: list[Step], up_seconds: float, costs: dict[str, float]) -> None:
    median = {step: statistics.median(r[step] for r in rounds) for step in rounds[0]}
    print(f"{'step':<30} {'median s':>8}   rounds")
    for step, seconds in median.items():
        print(f"{step:<30} {seconds:8.2f}   {', '.join(f'{r[step]:.2f}' for r in rounds)}")
    print("\nratios (pulumi / kubectl, medians of this run):")
    for pulumi_step, kubectl_step, goal in PAIRS:
        ratio = median[pulumi_step] / median[kubectl_step]
        verdict = "" if goal is None else f"   goal <= {goal:.1f}: {'met' if ratio <= goal else 'NOT met'}"
        print(f"  {pulumi_step:<18} / {kubectl_step:<28} {ratio:5.2f}{verdict}")

    print(f"\ncritical path of the last `up` from empty ({up_seconds:.2f} s), seconds since the CLI started:")
    print(f"  {'start':>6} {'end':>6} {'wait':>6} {'gap':>6}  resource (wait: in the provider; gap: since the step before ended)")
    previous_end = 0.0
    for s in path:
        print(f"  {s.start:6.2f} {s.end:6.2f} {s.wait:6.2f} {s.start - previous_end:6.2f}  {short(s.urn)}")
        previous_end = s.end
    if path:
        waited = sum(p.wait for p in path)
        gaps = path[-1].end - path[0].start - waited
        print(f"  in providers on the path: {waited:.2f} s; before the first step: {path[0].start:.2f} s; "
              f"gaps between steps: {gaps:.2f} s; after the last: {up_seconds - path[-1].end:.2f} s")
    print("\nfixed costs in the remainder (measured in this run, once):")
    for name, seconds in costs.items():
        print(f"  {name:<60} {seconds:6.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per step (median reported)")
    args = parser.parse_args(argv)
    env = local_cluster({**os.environ, **toolchain_env()})
    with tempfile.TemporaryDirectory(prefix="platform-bench-") as tmp:
        ws = Workspace.create(Path(tmp), env)
        rounds: list[dict[str, float]] = []
        path: list[Step] = []
        up_seconds = 0.0
        for i in range(args.rounds):
            measured, path, up_seconds = one_round(ws, i)
            rounds.append(measured)
        costs = fixed_costs(ws)
    report(rounds, path, up_seconds, costs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
