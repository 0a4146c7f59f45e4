"""A credential rotation on the real engine and the local cluster (#22): `postgres.rotations.api` 1 -> 2 -> 3.

Each `up` rolls the API to the new binding Secret and deletes the previous one only afterwards; the
server, its claim, the superuser's Secret and password are never touched; two rotations later the
first generation's password is gone. The SQL side is proven on a real server
(tests/realservers/test_postgres_roles_real.py); pods here are simulated, so this is about objects and order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tools.realengine import Workspace
from tools.upgrade import DESTRUCTIVE_OPS

pytestmark = pytest.mark.integration
STACK = "pr-4547"  # ephemeral profile, namespace = stack


@pytest.fixture(scope="module", autouse=True)
def deployed(workspace: Workspace) -> Iterator[None]:
    workspace.delete_namespaces(STACK)
    workspace.init_stack(STACK)
    workspace.pulumi("up", "--yes", "--skip-preview", stack=STACK, timeout=1500)
    yield
    workspace.pulumi("destroy", "--yes", "--remove", "--skip-preview", stack=STACK, check=False, timeout=1500)
    workspace.delete_namespaces(STACK)


def steps(ws: Workspace) -> dict[str, str]:
    """URN name -> op of every step of a preview that is not `same`."""
    out = ws.pulumi("preview", "--json", "--suppress-outputs", stack=STACK).stdout
    found: dict[str, str] = {}
    for step in json.loads(out).get("steps", []):
        if step["op"] != "same":
            name = step["urn"].rsplit("::", 1)[-1]
            found[name] = found.get(name, "") + ("," if name in found else "") + step["op"]
    return found


def state(ws: Workspace) -> dict[str, Any]:
    resources = json.loads(ws.pulumi("stack", "export", stack=STACK).stdout)["deployment"]["resources"]
    return {r["urn"].rsplit("::", 1)[-1]: r for r in resources}


def test_rotations_roll_the_client_and_never_touch_the_server(workspace: Workspace) -> None:
    before = state(workspace)
    for generation in (2, 3):
        workspace.set_config(STACK, "platform:postgres", {"rotations": {"api": generation}})
        planned = steps(workspace)
        for kept in ("postgres-statefulset", "postgres-secret", "postgres-password"):
            assert kept not in planned or not set(planned[kept].split(",")) & DESTRUCTIVE_OPS, planned
        # The provider replaces a ConfigMap or Secret whose data changes (the acknowledgement, the logins).
        assert planned["api-deployment"] == "update" and "api/postgres-ack" in planned, planned
        assert f"postgres-api-g{generation}-password" in planned, planned
        started = time.monotonic()
        workspace.pulumi("up", "--yes", "--skip-preview", stack=STACK, timeout=1500)
        print(f"rotation to generation {generation}: up in {time.monotonic() - started:.0f} s")
        secrets = {i["metadata"]["name"] for i in workspace.kube_json("get", "secrets", "-n", STACK)["items"]}
        assert f"postgres-api-g{generation}" in secrets and f"postgres-api-g{generation - 1}" not in secrets, secrets
        ack = workspace.kube_json("get", "configmap", "postgres-api-ack", "-n", STACK)
        assert ack["data"] == {"generation": str(generation)}
        pod = workspace.kube_json("get", "deployment", "api", "-n", STACK)["spec"]["template"]["spec"]
        assert f"postgres-api-g{generation}" in json.dumps(pod["containers"][0]["env"])
    after = state(workspace)
    # The server's objects are the same objects (ids unchanged); the first generation's password is gone.
    for kept in ("postgres-statefulset", "postgres-secret", "postgres-password"):
        assert after[kept]["id"] == before[kept]["id"], kept
    assert "postgres-api-g1-password" in before and "postgres-api-g1-password" not in after
    assert {"postgres-api-g2-password", "postgres-api-g3-password"} <= set(after)
