"""A Redis credential rotation through the real engine and API server (#22): the ``up`` that raises
a client's generation updates the users in place (no restart of the store), makes the new binding
Secret and deletes the previous one, and touches no data-bearing object of the store.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.realengine import Workspace
from tools.upgrade import DATA_BEARING_TYPES, urn_type

pytestmark = pytest.mark.integration
NAMESPACE = "it-redis-rotation"


def secrets(ws: Workspace) -> dict[str, dict]:
    return {s["metadata"]["name"]: s for s in ws.kube_json("get", "secrets", "-n", NAMESPACE)["items"]}


def test_a_rotation_updates_users_in_place_and_keeps_the_store_running(workspace: Workspace, tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path, workspace.env)
    ws.init_stack("dev", {"platform:namespace": {"name": NAMESPACE}})
    try:
        ws.pulumi("up", "--yes", "--skip-preview", stack="dev", timeout=1200)
        before = secrets(ws)
        assert before["redis-api-g1"]["immutable"] is True
        assert set(before["redis-api-g1"]["data"]) >= {"username", "password", "uri"}
        statefulset = ws.kube_json("get", "statefulset", "redis", "-n", NAMESPACE)

        ws.set_config("dev", "platform:redis", {"rotations": {"api": 2}})
        preview = ws.pulumi("preview", "--json", stack="dev")
        steps = {s["urn"]: s["op"] for s in json.loads(preview.stdout)["steps"] if s["op"] != "same"}
        deleted = {urn.rsplit("::", 1)[1]: op for urn, op in steps.items() if op in ("delete", "delete-replaced", "replace")}
        # The users' Secret is replaced (its name is fixed: delete, then create); the password of
        # generation 1 stays (the previous generation, until acknowledged), nothing of the store goes. The
        # ApiService's acknowledgement (a ConfigMap, written after its rollout) gets the new generation.
        assert deleted == {"redis-api-g1": "delete", "redis-acl": "replace", "api/redis-ack": "replace"}, steps
        touched = {urn.rsplit("::", 1)[1] for urn in steps if urn_type(urn) in DATA_BEARING_TYPES}
        assert touched == {"redis-api-g1", "redis-api-g2", "redis-acl", "redis-api-password-3"}, steps

        ws.pulumi("up", "--yes", "--skip-preview", stack="dev", timeout=1200)
        after = secrets(ws)
        assert "redis-api-g1" not in after and after["redis-api-g2"]["immutable"] is True
        assert after["redis-acl"]["data"] != before["redis-acl"]["data"]
        # The store's pod template is untouched: no restart; the sidecar reloads the users.
        rotated = ws.kube_json("get", "statefulset", "redis", "-n", NAMESPACE)
        assert rotated["metadata"]["generation"] == statefulset["metadata"]["generation"]
    finally:
        ws.pulumi("destroy", "--yes", "--remove", "--skip-preview", stack="dev", timeout=1200, check=False)
        ws.delete_namespaces(NAMESPACE)
