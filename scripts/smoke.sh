#!/usr/bin/env bash
# End-to-end smoke test of the real Pulumi engine against the local cluster:
#   toolchain (pulumi CLI, python language host, kubernetes + random plugins) -> local-cluster.sh
#   -> a tiny Pulumi Python program in a temp dir OUTSIDE the repo, file:// backend, passphrase
#   secrets -> pulumi up / preview --expect-no-changes / refresh / destroy / stack rm.
# Usage: bash scripts/smoke.sh        (set KEEP_SMOKE_DIR=1 to keep the temp dir)
# Prereqs: bash scripts/toolchain.sh; starts the cluster itself if it isn't running.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
TOOLCHAIN_DIR="${PLATFORM_TOOLCHAIN_DIR:-$HOME/.cache/platform-toolchain}"
[ -f "$TOOLCHAIN_DIR/env.sh" ] || { echo "run: bash scripts/toolchain.sh" >&2; exit 1; }
# shellcheck disable=SC1091
. "$TOOLCHAIN_DIR/env.sh"

req_version() {
  local v=""
  [ -f "$REPO/requirements.txt" ] && v="$(sed -n -E "s/^[[:space:]]*$1[[:space:]]*==[[:space:]]*([0-9][0-9A-Za-z.+-]*).*/\1/p" "$REPO/requirements.txt" | head -n1)"
  echo "${v:-$2}"
}
PULUMI_V="$(req_version pulumi 3.272.0)"
K8S_V="$(req_version pulumi-kubernetes 4.34.2)"
RANDOM_V="$(req_version pulumi-random 4.21.4)"

declare -a TIMINGS=()
step() { # step NAME CMD...
  local name="$1"; shift
  local s ms; s=$(date +%s%N)
  echo "=== $name: $*" >&2
  "$@"
  ms=$(( ($(date +%s%N) - s) / 1000000 ))
  TIMINGS+=("$(printf '%-30s %4d.%01ds' "$name" $((ms / 1000)) $(( (ms % 1000) / 100 )))")
}
report() { echo; echo "smoke timings:"; printf '  %s\n' "${TIMINGS[@]}"; }

# 1. cluster
step "cluster start" bash "$HERE/local-cluster.sh" start >/dev/null
eval "$(bash "$HERE/local-cluster.sh" env)"
export KUBECONFIG

# 2. venv (cached outside the repo, keyed by the pinned versions)
VENV="${PLATFORM_SMOKE_VENV:-$HOME/.cache/platform-smoke-venv}-$PULUMI_V-$K8S_V-$RANDOM_V"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import pulumi, pulumi_kubernetes, pulumi_random" 2>/dev/null; then
  step "venv + pip install" bash -c "python3 -m venv '$VENV' && '$VENV/bin/pip' install -q 'pulumi==$PULUMI_V' 'pulumi-kubernetes==$K8S_V' 'pulumi-random==$RANDOM_V'"
fi

# 3. project in a temp dir outside the repo
WORK="$(mktemp -d /tmp/platform-smoke.XXXXXX)"
cleanup() { local rc=$?; report; [ -n "${KEEP_SMOKE_DIR:-}" ] || rm -rf "$WORK"; exit $rc; }
trap cleanup EXIT
mkdir -p "$WORK/state" "$WORK/project"
export PULUMI_BACKEND_URL="file://$WORK/state"
export PULUMI_CONFIG_PASSPHRASE="smoke-test-passphrase"
export PULUMI_HOME="${PULUMI_HOME:-$HOME/.pulumi}"
cd "$WORK/project"
cat > Pulumi.yaml <<EOF
name: platform-smoke
runtime:
  name: python
  options:
    virtualenv: $VENV
EOF
cat > __main__.py <<'EOF'
import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

ns = k8s.core.v1.Namespace(
    "smoke",
    metadata={"labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
)
namespace = ns.metadata.apply(lambda m: m.name)

password = random.RandomPassword("db-password", length=24, special=False)

secret = k8s.core.v1.Secret(
    "db-credentials",
    metadata={"namespace": namespace},
    string_data={"password": password.result},
)

restricted = {
    "runAsNonRoot": True,
    "runAsUser": 101,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
web_labels = {"app": "web"}
web = k8s.apps.v1.Deployment(
    "web",
    metadata={"namespace": namespace},
    spec={
        "replicas": 1,
        "selector": {"matchLabels": web_labels},
        "template": {
            "metadata": {"labels": web_labels},
            "spec": {
                "containers": [{
                    "name": "web",
                    "image": "nginxinc/nginx-unprivileged:1.27-alpine",
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "securityContext": restricted,
                    "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {
                        "name": secret.metadata.apply(lambda m: m.name), "key": "password"}}}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
                }],
            },
        },
    },
)

svc = k8s.core.v1.Service(
    "web",
    metadata={"namespace": namespace},
    spec={"selector": web_labels, "ports": [{"port": 80, "targetPort": 8080, "name": "http"}]},
)

db_labels = {"app": "db"}
db = k8s.apps.v1.StatefulSet(
    "db",
    metadata={"namespace": namespace},
    spec={
        "serviceName": "db",
        "replicas": 1,
        "selector": {"matchLabels": db_labels},
        "template": {
            "metadata": {"labels": db_labels},
            "spec": {
                "securityContext": {"fsGroup": 999},
                "containers": [{
                    "name": "postgres",
                    "image": "postgres:16-alpine",
                    "securityContext": {**restricted, "runAsUser": 999},
                    "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
                }],
            },
        },
        "volumeClaimTemplates": [{
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }],
    },
)

pulumi.export("namespace", namespace)
pulumi.export("service", svc.metadata.apply(lambda m: m.name))
pulumi.export("web_ready", web.status.apply(lambda s: s.ready_replicas if s else None))
pulumi.export("db_ready", db.status.apply(lambda s: s.ready_replicas if s else None))
pulumi.export("password_length", password.result.apply(len))
EOF

pulumi version
step "pulumi login" pulumi login "file://$WORK/state"
step "pulumi stack init" pulumi stack init smoke --non-interactive
step "pulumi up" pulumi up --yes --non-interactive --skip-preview
pulumi stack output --json
test "$(pulumi stack output web_ready)" = 1
test "$(pulumi stack output db_ready)" = 1
kubectl get pods,pvc -n "$(pulumi stack output namespace)"
step "pulumi preview (no changes)" pulumi preview --expect-no-changes --non-interactive
step "pulumi refresh" pulumi refresh --yes --non-interactive
step "pulumi preview after refresh" pulumi preview --expect-no-changes --non-interactive
step "pulumi destroy" pulumi destroy --yes --non-interactive
step "pulumi stack rm" pulumi stack rm --yes --non-interactive smoke
echo "SMOKE OK"
