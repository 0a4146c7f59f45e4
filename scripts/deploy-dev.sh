#!/usr/bin/env bash
# Quick start: `make dev` deploys the dev stack. Its first line says which path it took:
#   - your cluster: the kubeconfig reaches a cluster and a `pulumi` CLI of your own is on PATH.
#     Then it runs `pulumi up --stack dev` with that CLI, its normal plugin acquisition and your
#     backend login: no toolchain build, no stand-in plugins, no PULUMI_* setting changed.
#   - the local default: no reachable cluster. Then it builds the toolchain
#     (scripts/toolchain.sh), starts the local control plane (scripts/local-cluster.sh) and
#     deploys a copy of the project to it, monitoring in install mode: kube-prometheus-stack
#     from the chart scripts/fetch-upstream.sh assembled from pinned modules (no internet),
#     without admission webhooks (the local API server cannot call a Service); kwok runs its pods.
# A reachable cluster without a pulumi CLI stops with what to do: the toolchain's stand-in
# plugins never deploy to a cluster of yours. PLATFORM_DEV_LOCAL=1 forces the local default.
# The repository's files are never modified (stack init writes a salt into stack files).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${PLATFORM_DEV_DIR:-$HOME/.cache/platform-dev}"
TOOLCHAIN_DIR="${PLATFORM_TOOLCHAIN_DIR:-$HOME/.cache/platform-toolchain}"
cd "$REPO"

# A pulumi CLI of the user's: on PATH and not the one this project's toolchain built.
user_pulumi() {
  local p; p="$(command -v pulumi 2>/dev/null)" || return 1
  [ "$(cd "$(dirname "$p")" && pwd -P)" != "$(cd "$TOOLCHAIN_DIR/bin" 2>/dev/null && pwd -P)" ] && echo "$p"
}
cluster_reachable() { command -v kubectl >/dev/null && kubectl version --request-timeout=5s >/dev/null 2>&1; }

if [ -z "${PLATFORM_DEV_LOCAL:-}" ] && cluster_reachable; then
  context="$(kubectl config current-context 2>/dev/null || echo '?')"
  if ! cli="$(user_pulumi)"; then
    echo "!! make dev: your kubeconfig reaches a cluster (context $context) but no pulumi CLI is on PATH." >&2
    echo "!! Install Pulumi (https://www.pulumi.com/docs/install/) to deploy there, or run" >&2
    echo "!! 'PLATFORM_DEV_LOCAL=1 make dev' for the local control plane." >&2
    exit 2
  fi
  echo "== make dev: your cluster (context $context) with your pulumi CLI ($cli, $(pulumi version)): no toolchain build, normal plugin acquisition"
  if ! pulumi whoami >/dev/null 2>&1; then
    echo "!! pulumi is not logged in to a backend: run 'pulumi login' (or 'pulumi login --local'), then make dev" >&2
    exit 2
  fi
  pulumi stack select --create dev --non-interactive
  pulumi up --stack dev --yes --non-interactive
  pulumi stack output --stack dev
  exit 0
fi

if [ -n "${PLATFORM_DEV_LOCAL:-}" ]; then why="PLATFORM_DEV_LOCAL is set"; else why="no reachable cluster in your kubeconfig"; fi
echo "== make dev: the local default ($why): building the toolchain into $TOOLCHAIN_DIR and starting a local control plane"
bash scripts/toolchain.sh
# shellcheck disable=SC1091
. "$TOOLCHAIN_DIR/env.sh"

echo "== starting the local control plane (scripts/local-cluster.sh)"
bash scripts/local-cluster.sh start >/dev/null
eval "$(bash scripts/local-cluster.sh env)"
echo "== monitoring: kube-prometheus-stack from the pinned chart in ${PLATFORM_UPSTREAM_DIR:-$HOME/.cache/platform-upstream}/charts"
# A cluster started by an older local-cluster.sh has an empty `monitoring` namespace of its own;
# the stack creates (and owns) that namespace now.
if kubectl get namespace monitoring >/dev/null 2>&1 &&
   [ -z "$(kubectl get namespace monitoring -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}')" ]; then
  kubectl delete namespace monitoring --wait=true --timeout=180s
fi

mkdir -p "$STATE/state"
# The same project copy and local config as the real-engine tests (tools/realengine.py).
engine() { PYTHONPATH="$REPO" "$REPO/venv/bin/python" -m tools.realengine "$@"; }
engine copy-project "$STATE/project"
export PULUMI_BACKEND_URL="file://$STATE/state"
# A local, throwaway backend: an empty passphrase unless you set one.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
cd "$STATE/project"
pulumi stack select --create dev --secrets-provider passphrase --non-interactive
engine local-config Pulumi.dev.yaml dev --install-monitoring
pulumi up --stack dev --yes --non-interactive
pulumi stack output --stack dev
echo "== monitoring: $(pulumi stack output monitoring --stack dev --json | "$REPO/venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin).get("grafanaPortForward",""))')"
echo "== KUBECONFIG=$KUBECONFIG; try: $(pulumi stack output kubectl --stack dev --json | "$REPO/venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin).get("portForward",""))')"
