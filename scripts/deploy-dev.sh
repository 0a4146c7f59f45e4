#!/usr/bin/env bash
# Quick start: `make dev` deploys the dev stack.
#   - With a reachable cluster in your kubeconfig, it runs `pulumi up --stack dev` here, on the
#     backend you are logged in to (or a local file backend if none).
#   - Without one, it builds the toolchain (scripts/toolchain.sh), starts the local control plane
#     (scripts/local-cluster.sh) and deploys a copy of the project to it, with monitoring in
#     `existing` mode: Helm charts cannot be downloaded on a machine without internet.
# The repository's files are never modified (stack init writes a salt into stack files).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${PLATFORM_DEV_DIR:-$HOME/.cache/platform-dev}"
cd "$REPO"

bash scripts/toolchain.sh
# shellcheck disable=SC1091
. "${PLATFORM_TOOLCHAIN_DIR:-$HOME/.cache/platform-toolchain}/env.sh"

if kubectl version --request-timeout=5s >/dev/null 2>&1; then
  echo "== deploying dev to the cluster of your kubeconfig ($(kubectl config current-context))"
  if [ -z "${PULUMI_BACKEND_URL:-}" ] && ! pulumi whoami >/dev/null 2>&1; then
    mkdir -p "$STATE/state"; export PULUMI_BACKEND_URL="file://$STATE/state"
  fi
  pulumi stack select --create dev --non-interactive
  pulumi up --stack dev --yes --non-interactive
  pulumi stack output --stack dev
  exit 0
fi

echo "== no reachable cluster: starting the local control plane (scripts/local-cluster.sh)"
bash scripts/local-cluster.sh start >/dev/null
eval "$(bash scripts/local-cluster.sh env)"
echo "== monitoring runs in 'existing' mode here: kube-prometheus-stack cannot be downloaded offline"

mkdir -p "$STATE/state"
# The same project copy and local config as the real-engine tests (tools/realengine.py).
engine() { PYTHONPATH="$REPO" "$REPO/venv/bin/python" -m tools.realengine "$@"; }
engine copy-project "$STATE/project"
export PULUMI_BACKEND_URL="file://$STATE/state"
# A local, throwaway backend: an empty passphrase unless you set one.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
cd "$STATE/project"
pulumi stack select --create dev --secrets-provider passphrase --non-interactive
engine local-config Pulumi.dev.yaml dev
pulumi up --stack dev --yes --non-interactive
pulumi stack output --stack dev
echo "== KUBECONFIG=$KUBECONFIG; try: $(pulumi stack output kubectl --stack dev --json | "$REPO/venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin).get("portForward",""))')"
