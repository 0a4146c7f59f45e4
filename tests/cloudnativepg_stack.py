"""The production-shaped stack in mode cloudnativepg that tests render, gate and deploy: the stack-file
change README's "Production Postgres with CloudNativePG" shows, over production's own file."""

from __future__ import annotations

from typing import Any

# The local control plane's API server listens on 127.0.0.1:6443 (scripts/local-cluster.sh).
API_SERVER = {"kubernetesApiEndpoints": ["127.0.0.1/32"], "kubernetesApiPort": 6443}
# The operator is expected (its CRDs applied, its webhooks served by the integration test), in every environment.
CLOUDNATIVEPG: dict[str, Any] = {
    "postgres": {"mode": "cloudnativepg", "cloudnativepg": {**API_SERVER, "operator": {"mode": "existing"}}}
}
