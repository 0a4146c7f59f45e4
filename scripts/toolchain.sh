#!/usr/bin/env bash
# Build (or reuse) everything `pulumi up|preview|destroy` needs to run for real on this machine:
#   - Pulumi CLI, Python and YAML language hosts (+ exec shim), resource plugins kubernetes and random,
#     pulumi-sdkgen (a package's TypeScript and Go SDKs, see TOOLCHAIN.md)
#   - a Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler),
#     kubectl, and kwok (simulated nodes) -- used by scripts/local-cluster.sh
# Everything is built from Go modules via the Go module proxy into a cache OUTSIDE the repo:
#   ${PLATFORM_TOOLCHAIN_DIR:-$HOME/.cache/platform-toolchain}/{bin,src,logs,stamps}
# Idempotent: a component whose stamp matches its version/inputs is skipped.
# Afterwards:  source "${PLATFORM_TOOLCHAIN_DIR:-$HOME/.cache/platform-toolchain}/env.sh"
# Usage: bash scripts/toolchain.sh [--with-test-tools] [--only NAME[,NAME...]] [--list]
#   names: etcd kubernetes kwok pulumi shims yaml pulumi-resource-kubernetes plugins sdkgen prometheus-operator cnpg-manager
#   The last three only run tests (`make toolchain` passes --with-test-tools): `make dev` skips them.
# See scripts/TOOLCHAIN.md for versions, timings and why some versions differ from requirements.txt.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
DIR="${PLATFORM_TOOLCHAIN_DIR:-$HOME/.cache/platform-toolchain}"
BIN="$DIR/bin"; SRC="$DIR/src"; LOGS="$DIR/logs"; STAMPS="$DIR/stamps"
# The toolchain's own Pulumi home: its plugins (stand-ins, the Jan-2026 kubernetes provider) must
# never replace the genuine plugins of the same versions in the user's ~/.pulumi.
PULUMI_HOME_DIR="$DIR/pulumi-home"
TIMES="$DIR/build-times.tsv"
mkdir -p "$BIN" "$SRC" "$LOGS" "$STAMPS"

# ---- versions ---------------------------------------------------------------------------
req_version() { # req_version PKG DEFAULT  -> version pinned in requirements.txt (PKG==X) or DEFAULT
  local v=""
  if [ -f "$REPO/requirements.txt" ]; then
    v="$(sed -n -E "s/^[[:space:]]*$1[[:space:]]*==[[:space:]]*([0-9][0-9A-Za-z.+-]*).*/\1/p" "$REPO/requirements.txt" | head -n1)"
  fi
  echo "${v:-$2}"
}
PULUMI_SDK_VERSION="$(req_version pulumi 3.272.0)"
K8S_PROVIDER_VERSION="$(req_version pulumi-kubernetes 4.34.2)"
RANDOM_PROVIDER_VERSION="$(req_version pulumi-random 4.21.4)"
# The CLI is built from github.com/pulumi/pulumi/pkg/v3. If the proxy does not serve the SDK's
# version (3.272.0 is refused here) we use the nearest newer served release; a newer CLI runs
# older SDKs fine.
PULUMI_CLI_FALLBACK="${PULUMI_CLI_FALLBACK:-3.274.1}"
K8S_VERSION="${K8S_VERSION:-v1.35.4}"       # must match scripts/toolchain/kubernetes/go.mod
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"     # must match scripts/toolchain/etcd/go.mod
# kwok: the version pinned with its stages in scripts/upstream.lock (one place for both).
KWOK_VERSION="${KWOK_VERSION:-$(sed -n -E 's/^kwok[[:space:]]+sigs\.k8s\.io\/kwok@(v[^[:space:]]+).*/\1/p' "$HERE/upstream.lock")}"
[ -n "$KWOK_VERSION" ] || { echo "[toolchain] ERROR: no kwok version in scripts/upstream.lock" >&2; exit 1; }
# Prometheus Operator: the version kube-prometheus-stack runs (its appVersion), pinned with the
# chart in scripts/upstream.lock; tests/integration/test_operator.py runs it against the local cluster.
OPERATOR_VERSION="${OPERATOR_VERSION:-$(sed -n -E 's/^[a-z]+[[:space:]]+github\.com\/prometheus-operator\/prometheus-operator@(v[^[:space:]]+).*/\1/p' "$HERE/upstream.lock")}"
[ -n "$OPERATOR_VERSION" ] || { echo "[toolchain] ERROR: no operator version in scripts/upstream.lock" >&2; exit 1; }
# CloudNativePG: the version whose CRDs and release manifest scripts/upstream.lock pins; its manager runs in
# webhook-only mode in tests/integration/test_cloudnativepg.py (never reconciling: it would dial the pods).
CNPG_VERSION="${CNPG_VERSION:-$(sed -n -E 's/^[a-z]+[[:space:]]+github\.com\/cloudnative-pg\/cloudnative-pg@(v[^[:space:]]+).*/\1/p' "$HERE/upstream.lock" | head -n1)}"
[ -n "$CNPG_VERSION" ] || { echo "[toolchain] ERROR: no cloudnative-pg version in scripts/upstream.lock" >&2; exit 1; }
# pulumi-kubernetes provider: the proxy serves only this pseudo-version of provider/v4.
K8S_PROVIDER_MODULE_VERSION="v4.0.0-20260115033456-f47bc2d6f199"
# Pulumi YAML language host: runs YAML programs (examples/yaml/, the package from another language).
PULUMI_YAML_VERSION="${PULUMI_YAML_VERSION:-v1.25.0}"

export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED="${CGO_ENABLED:-0}"

log() { printf '[toolchain] %s\n' "$*" >&2; }
die() { printf '[toolchain] ERROR: %s\n' "$*" >&2; exit 1; }
command -v go >/dev/null || die "go is required (Go >= 1.26)"
command -v python3 >/dev/null || die "python3 is required"

ONLY=""; TEST_TOOLS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY=",$2,"; shift 2 ;;
    --with-test-tools) TEST_TOOLS=1; shift ;;
    --list) echo "etcd kubernetes kwok pulumi shims yaml pulumi-resource-kubernetes plugins sdkgen prometheus-operator cnpg-manager"; exit 0 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
want() { [ -z "$ONLY" ] || [[ "$ONLY" == *",$1,"* ]]; }
want_test_tool() { [[ "$ONLY" == *",$1,"* ]] || { [ -z "$ONLY" ] && [ -n "$TEST_TOOLS" ]; }; }

# stamp helpers: a component is up to date if its stamp file holds the same key and binaries exist
stamp_ok() { # stamp_ok NAME KEY BIN...
  local name="$1" key="$2"; shift 2
  [ -f "$STAMPS/$name" ] && [ "$(cat "$STAMPS/$name")" = "$key" ] || return 1
  local b; for b in "$@"; do [ -x "$BIN/$b" ] || return 1; done
}
stamp_set() { echo "$2" > "$STAMPS/$1"; }
record_time() { # record_time NAME SECONDS
  printf '%s\t%s\t%s\n' "$1" "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$TIMES"
  log "$1 built in ${2}s"
}
# hash of the committed wrapper module, so edits to it trigger a rebuild
tree_hash() { (cd "$HERE/toolchain/$1" && find . -type f ! -name go.sum -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-16); }
# copy a committed wrapper module to the build dir (go.sum is generated there, never in the repo)
prep_src() { # prep_src NAME -> echoes build dir
  local d="$SRC/$1"
  rm -rf "$d"; mkdir -p "$d"
  cp -r "$HERE/toolchain/$1/." "$d/"
  echo "$d"
}
mod_dir() { go mod download -json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or ""); sys.exit(1 if d.get("Error") else 0)'; }
served() { go mod download -json "$1" >/dev/null 2>&1; }

LDFLAGS_BASE="-s -w"

# ---- etcd ---------------------------------------------------------------------------------
build_etcd() {
  local key="etcd $ETCD_VERSION $(tree_hash etcd)"
  if stamp_ok etcd "$key" etcd; then log "etcd $ETCD_VERSION: up to date"; return; fi
  if command -v etcd >/dev/null 2>&1 && [ "$(command -v etcd)" != "$BIN/etcd" ] && \
     etcd --version 2>/dev/null | grep -q "etcd Version: ${ETCD_VERSION#v}"; then
    ln -sf "$(command -v etcd)" "$BIN/etcd"; stamp_set etcd "$key"; log "etcd: using $(command -v etcd)"; return
  fi
  log "building etcd $ETCD_VERSION ..."
  local d s; d="$(prep_src etcd)"; s=$(date +%s)
  ( cd "$d" && go mod tidy >"$LOGS/etcd.log" 2>&1 &&
    go build -trimpath -ldflags "$LDFLAGS_BASE" -o "$BIN/etcd" . >>"$LOGS/etcd.log" 2>&1 ) ||
    { tail -n 30 "$LOGS/etcd.log" >&2; die "etcd build failed (log: $LOGS/etcd.log)"; }
  record_time etcd $(( $(date +%s) - s )); stamp_set etcd "$key"
}

# ---- kubernetes control plane + kubectl -------------------------------------------------
build_kubernetes() {
  local key="kubernetes $K8S_VERSION $(tree_hash kubernetes)"
  local cmds="kube-apiserver kube-controller-manager kube-scheduler kubectl"
  # shellcheck disable=SC2086
  if stamp_ok kubernetes "$key" $cmds; then log "kubernetes $K8S_VERSION: up to date"; return; fi
  local d c s t minor ld=""; d="$(prep_src kubernetes)"
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  ( cd "$d" && go mod tidy >"$LOGS/kubernetes.log" 2>&1 ) || { tail -n 30 "$LOGS/kubernetes.log" >&2; die "kubernetes: go mod tidy failed"; }
  for c in $cmds; do
    local vcmd="--version"; [ "$c" = kubectl ] && vcmd="version --client"
    # shellcheck disable=SC2086
    if [ -x "$BIN/$c" ] && "$BIN/$c" $vcmd 2>/dev/null | grep -q "$K8S_VERSION"; then
      log "$c $K8S_VERSION: already built"; continue
    fi
    if [ "$c" = kubectl ] && command -v kubectl >/dev/null && [ "$(command -v kubectl)" != "$BIN/kubectl" ] && \
       kubectl version --client 2>/dev/null | grep -q "Client Version: $K8S_VERSION\$"; then
      ln -sf "$(command -v kubectl)" "$BIN/kubectl"; log "kubectl: using $(command -v kubectl)"; continue
    fi
    log "building $c $K8S_VERSION ..."; s=$(date +%s)
    ( cd "$d" && go build -trimpath -ldflags "$LDFLAGS_BASE$ld" -o "$BIN/$c" "k8s.io/kubernetes/cmd/$c" >>"$LOGS/kubernetes.log" 2>&1 ) ||
      { tail -n 30 "$LOGS/kubernetes.log" >&2; die "$c build failed (log: $LOGS/kubernetes.log)"; }
    t=$(( $(date +%s) - s )); record_time "$c" "$t"
  done
  stamp_set kubernetes "$key"
}

# ---- kwok ----------------------------------------------------------------------------------
build_kwok() {
  local key="kwok $KWOK_VERSION"
  if stamp_ok kwok "$key" kwok; then log "kwok $KWOK_VERSION: up to date"; return; fi
  log "building kwok $KWOK_VERSION ..."; local s; s=$(date +%s)
  # kwok's go.mod has no replace directives, so plain `go install module@version` works.
  GOBIN="$BIN" go install -trimpath \
    -ldflags "$LDFLAGS_BASE -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >"$LOGS/kwok.log" 2>&1 ||
    { tail -n 30 "$LOGS/kwok.log" >&2; die "kwok build failed (log: $LOGS/kwok.log)"; }
  record_time kwok $(( $(date +%s) - s )); stamp_set kwok "$key"
}

# ---- prometheus-operator ---------------------------------------------------------------------
build_operator() {
  local key="prometheus-operator $OPERATOR_VERSION"
  if stamp_ok prometheus-operator "$key" prometheus-operator; then log "prometheus-operator $OPERATOR_VERSION: up to date"; return; fi
  log "building prometheus-operator $OPERATOR_VERSION ..."; local s d pm; s=$(date +%s)
  # Its go.mod replaces its two API modules with ./pkg/... directories, which are modules of
  # their own and not in the zip (so `go install module@version` refuses): build a copy of the
  # module against the published API modules of the same version instead.
  pm="$(mod_dir "github.com/prometheus-operator/prometheus-operator@$OPERATOR_VERSION")" || die "prometheus-operator module not served"
  d="$SRC/prometheus-operator"; rm -rf "$d"; mkdir -p "$d"; cp -r "$pm/." "$d/"; chmod -R u+w "$d"
  local api=github.com/prometheus-operator/prometheus-operator/pkg
  ( cd "$d" && go mod edit -dropreplace="$api/apis/monitoring" -dropreplace="$api/client" \
      -require="$api/apis/monitoring@$OPERATOR_VERSION" -require="$api/client@$OPERATOR_VERSION" &&
    go mod tidy >"$LOGS/prometheus-operator.log" 2>&1 &&
    go build -trimpath -ldflags "$LDFLAGS_BASE -X github.com/prometheus/common/version.Version=${OPERATOR_VERSION#v}" \
      -o "$BIN/prometheus-operator" ./cmd/operator >>"$LOGS/prometheus-operator.log" 2>&1 ) ||
    { tail -n 30 "$LOGS/prometheus-operator.log" >&2; die "prometheus-operator build failed (log: $LOGS/prometheus-operator.log)"; }
  record_time prometheus-operator $(( $(date +%s) - s )); stamp_set prometheus-operator "$key"
}

# ---- cloudnative-pg manager (test tool) ----------------------------------------------------
# Two of its dependencies are refused by the proxy at the versions its go.mod names (machinery v0.6.0,
# barman-cloud v0.6.0): build against the newest served ones (v0.5.0, v0.5.1) and adapt the three call
# sites that use what they lack. All three are in the instance manager (log FIFO, data restore arguments,
# per-command log sampling), which the webhook-only test never runs; each edit is checked to have applied.
cnpg_edit() { # cnpg_edit FILE SED-EXPRESSION MUST-NOW-CONTAIN
  sed -i -e "$2" "$1" && grep -q -- "$3" "$1" || die "cloudnative-pg $CNPG_VERSION: $1 no longer matches the toolchain's edit"
}
build_cnpg_manager() {
  local key="cnpg-manager $CNPG_VERSION machinery-v0.5.0 barman-cloud-v0.5.1"
  if stamp_ok cnpg-manager "$key" cnpg-manager; then log "cnpg-manager $CNPG_VERSION: up to date"; return; fi
  log "building cloudnative-pg manager $CNPG_VERSION ..."; local s d m; s=$(date +%s)
  m="$(mod_dir "github.com/cloudnative-pg/cloudnative-pg@$CNPG_VERSION")" || die "cloudnative-pg module not served"
  d="$SRC/cloudnative-pg"; rm -rf "$d"; mkdir -p "$d"; cp -r "$m/." "$d/"; chmod -R u+w "$d"
  ( cd "$d" &&
    go mod edit -replace=github.com/cloudnative-pg/machinery=github.com/cloudnative-pg/machinery@v0.5.0 \
      -replace=github.com/cloudnative-pg/barman-cloud=github.com/cloudnative-pg/barman-cloud@v0.5.1 ) ||
    die "cloudnative-pg: go mod edit failed"
  cnpg_edit "$d/pkg/management/postgres/logpipe/fifo.go" 's/compatibility\.ErrExistsNotFifo/errExistsNotFifo/' errExistsNotFifo
  printf 'package logpipe\n\nimport "errors"\n\n// machinery v0.5.0 has no such error: its CreateFifo never reports one.\nvar errExistsNotFifo = errors.New("not a FIFO")\n' \
    > "$d/pkg/management/postgres/logpipe/toolchain_compat.go"
  cnpg_edit "$d/pkg/management/postgres/restore.go" \
    's/options = barmanConfiguration\.Data\.AppendRestoreAdditionalCommandArgs(options)/_ = barmanConfiguration/' '_ = barmanConfiguration'
  cnpg_edit "$d/cmd/manager/main.go" 's/logFlags\.ConfigureLogging(loggingOptions(cmd)\.\.\.)/logFlags.ConfigureLogging()/;/^func loggingOptions(/,/^}/d' \
    'logFlags.ConfigureLogging()'
  ( cd "$d" && go build -mod=mod -trimpath -ldflags "$LDFLAGS_BASE" -o "$BIN/cnpg-manager" ./cmd/manager \
      >"$LOGS/cnpg-manager.log" 2>&1 ) ||
    { tail -n 30 "$LOGS/cnpg-manager.log" >&2; die "cloudnative-pg manager build failed (log: $LOGS/cnpg-manager.log)"; }
  record_time cnpg-manager $(( $(date +%s) - s )); stamp_set cnpg-manager "$key"
}

# ---- pulumi CLI --------------------------------------------------------------------------
pulumi_cli_version() {
  if served "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_SDK_VERSION"; then echo "$PULUMI_SDK_VERSION"; else echo "$PULUMI_CLI_FALLBACK"; fi
}
build_pulumi() {
  local v; v="$(pulumi_cli_version)"
  local key="pulumi $v $(tree_hash pulumi)"
  if stamp_ok pulumi "$key" pulumi; then log "pulumi CLI v$v: up to date"; return; fi
  if command -v pulumi >/dev/null 2>&1 && [ "$(command -v pulumi)" != "$BIN/pulumi" ] && \
     [ "$(pulumi version 2>/dev/null)" = "v$v" ]; then
    ln -sf "$(command -v pulumi)" "$BIN/pulumi"; stamp_set pulumi "$key"; log "pulumi: using $(command -v pulumi)"; return
  fi
  [ "$v" = "$PULUMI_SDK_VERSION" ] || log "pulumi pkg/v3@v$PULUMI_SDK_VERSION is not served by the Go proxy; building CLI v$v"
  log "building pulumi CLI v$v ..."
  local d s; d="$(prep_src pulumi)"; s=$(date +%s)
  ( cd "$d" &&
    go mod edit -require="github.com/pulumi/pulumi/pkg/v3@v$v" -require="github.com/pulumi/pulumi/sdk/v3@v$v" &&
    go mod tidy >"$LOGS/pulumi.log" 2>&1 &&
    go build -trimpath -ldflags "$LDFLAGS_BASE -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$v" \
      -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >>"$LOGS/pulumi.log" 2>&1 ) ||
    { tail -n 30 "$LOGS/pulumi.log" >&2; die "pulumi build failed (log: $LOGS/pulumi.log)"; }
  record_time pulumi $(( $(date +%s) - s )); stamp_set pulumi "$key"
}

# ---- language host + random provider (local stand-ins, see TOOLCHAIN.md) ---------------
build_shims() {
  local key="shims $RANDOM_PROVIDER_VERSION $(tree_hash pulumi-shims)"
  if stamp_ok shims "$key" pulumi-language-python pulumi-language-python-exec pulumi-resource-random; then
    log "pulumi-language-python / pulumi-resource-random: up to date"; return
  fi
  log "building pulumi-language-python and pulumi-resource-random $RANDOM_PROVIDER_VERSION ..."
  local d s sdkdir; d="$(prep_src pulumi-shims)"; s=$(date +%s)
  ( cd "$d" && go mod tidy >"$LOGS/shims.log" 2>&1 &&
    go build -trimpath -ldflags "$LDFLAGS_BASE -X main.Version=$(pulumi_cli_version)" \
      -o "$BIN/pulumi-language-python" ./cmd/pulumi-language-python >>"$LOGS/shims.log" 2>&1 &&
    go build -trimpath -ldflags "$LDFLAGS_BASE -X main.Version=$RANDOM_PROVIDER_VERSION" \
      -o "$BIN/pulumi-resource-random" ./cmd/pulumi-resource-random >>"$LOGS/shims.log" 2>&1 ) ||
    { tail -n 30 "$LOGS/shims.log" >&2; die "shim build failed (log: $LOGS/shims.log)"; }
  # The exec shim that runs the user's program ships in the published sdk/v3 module.
  sdkdir="$(cd "$d" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
  install -m 0755 "$sdkdir/python/cmd/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
  record_time pulumi-language-python+pulumi-resource-random $(( $(date +%s) - s )); stamp_set shims "$key"
}

# ---- pulumi-language-yaml ----------------------------------------------------------------
build_yaml() {
  local key="yaml $PULUMI_YAML_VERSION"
  if stamp_ok yaml "$key" pulumi-language-yaml; then log "pulumi-language-yaml $PULUMI_YAML_VERSION: up to date"; return; fi
  log "building pulumi-language-yaml $PULUMI_YAML_VERSION ..."; local s; s=$(date +%s)
  # pulumi-yaml's go.mod has no replace directives, so plain `go install module@version` works.
  GOBIN="$BIN" go install -trimpath \
    -ldflags "$LDFLAGS_BASE -X github.com/pulumi/pulumi-yaml/pkg/version.Version=$PULUMI_YAML_VERSION" \
    "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml@$PULUMI_YAML_VERSION" >"$LOGS/yaml.log" 2>&1 ||
    { tail -n 30 "$LOGS/yaml.log" >&2; die "pulumi-language-yaml build failed (log: $LOGS/yaml.log)"; }
  record_time pulumi-language-yaml $(( $(date +%s) - s )); stamp_set yaml "$key"
}

# ---- pulumi-sdkgen: TypeScript and Go SDKs of a package (our wrapper of Pulumi's codegen) -------
build_sdkgen() {
  local v; v="$(pulumi_cli_version)"
  local key="sdkgen $v $(tree_hash pulumi-sdkgen)"
  if stamp_ok sdkgen "$key" pulumi-sdkgen; then log "pulumi-sdkgen (codegen v$v): up to date"; return; fi
  log "building pulumi-sdkgen (pkg/v3 codegen v$v) ..."
  local d s; d="$(prep_src pulumi-sdkgen)"; s=$(date +%s)
  ( cd "$d" && go mod edit -require="github.com/pulumi/pulumi/pkg/v3@v$v" &&
    go mod tidy >"$LOGS/sdkgen.log" 2>&1 &&
    go build -trimpath -ldflags "$LDFLAGS_BASE" -o "$BIN/pulumi-sdkgen" . >>"$LOGS/sdkgen.log" 2>&1 ) ||
    { tail -n 30 "$LOGS/sdkgen.log" >&2; die "pulumi-sdkgen build failed (log: $LOGS/sdkgen.log)"; }
  record_time pulumi-sdkgen $(( $(date +%s) - s )); stamp_set sdkgen "$key"
}

# ---- pulumi-resource-kubernetes ----------------------------------------------------------
build_prk() {
  local key="prk $K8S_PROVIDER_VERSION $K8S_PROVIDER_MODULE_VERSION $(tree_hash pulumi-resource-kubernetes)"
  if stamp_ok prk "$key" pulumi-resource-kubernetes; then log "pulumi-resource-kubernetes $K8S_PROVIDER_VERSION: up to date"; return; fi
  log "building pulumi-resource-kubernetes (reports $K8S_PROVIDER_VERSION; source $K8S_PROVIDER_MODULE_VERSION) ..."
  local d s pm; d="$(prep_src pulumi-resource-kubernetes)"; s=$(date +%s)
  pm="$(mod_dir "github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_MODULE_VERSION")" || die "provider module not served"
  # main.go and the schema are taken from the module; the *-embed.json files are generated
  # (upstream does this with `go generate` / generate.go, which is not in the module zip's build).
  install -m 0644 "$pm/cmd/pulumi-resource-kubernetes/main.go" "$d/main.go"
  python3 - "$pm/cmd/pulumi-resource-kubernetes" "$d" "$K8S_PROVIDER_VERSION" <<'PY'
import json, sys, os
src, dst, ver = sys.argv[1:4]
s = json.load(open(os.path.join(src, "schema.json"))); s["version"] = ver
json.dump(s, open(os.path.join(dst, "schema-embed.json"), "w"), separators=(",", ":"))
m = json.load(open(os.path.join(src, "terraform-mapping.json")))
json.dump(m, open(os.path.join(dst, "terraform-mapping-embed.json"), "w"), separators=(",", ":"))
PY
  ( cd "$d" && go mod tidy >"$LOGS/pulumi-resource-kubernetes.log" 2>&1 &&
    go build -trimpath \
      -ldflags "$LDFLAGS_BASE -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_PROVIDER_VERSION" \
      -o "$BIN/pulumi-resource-kubernetes" . >>"$LOGS/pulumi-resource-kubernetes.log" 2>&1 ) ||
    { tail -n 30 "$LOGS/pulumi-resource-kubernetes.log" >&2; die "pulumi-resource-kubernetes build failed"; }
  record_time pulumi-resource-kubernetes $(( $(date +%s) - s )); stamp_set prk "$key"
}

# ---- install plugins into the toolchain's own Pulumi home (never ~/.pulumi, never downloads) --
install_plugins() {
  export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_HOME="$PULUMI_HOME_DIR"
  mkdir -p "$PULUMI_HOME"
  local name ver have
  for spec in "kubernetes $K8S_PROVIDER_VERSION" "random $RANDOM_PROVIDER_VERSION"; do
    set -- $spec; name="$1"; ver="$2"
    have="$("$BIN/pulumi" plugin ls --json 2>/dev/null | python3 -c "
import json,sys
try: l=json.load(sys.stdin) or []
except Exception: l=[]
print(any(p.get('name')=='$name' and p.get('kind')=='resource' and p.get('version')=='$ver' for p in l))")"
    local sum; sum="$(sha256sum "$BIN/pulumi-resource-$name" | cut -c1-16)"
    if [ "$have" = True ] && [ -f "$STAMPS/plugin-$name" ] && [ "$(cat "$STAMPS/plugin-$name")" = "$ver $sum" ]; then
      log "plugin resource $name $ver: installed"; continue
    fi
    log "installing plugin resource $name $ver from $BIN/pulumi-resource-$name"
    "$BIN/pulumi" plugin install resource "$name" "$ver" --file "$BIN/pulumi-resource-$name" --reinstall >"$LOGS/plugin-$name.log" 2>&1 ||
      { cat "$LOGS/plugin-$name.log" >&2; die "pulumi plugin install $name failed"; }
    echo "$ver $sum" > "$STAMPS/plugin-$name"
  done
}

write_env() {
  cat > "$DIR/env.sh" <<EOF
# generated by scripts/toolchain.sh -- source me
export PLATFORM_TOOLCHAIN_DIR="$DIR"
# Plugins, credentials and workspaces of this toolchain's CLI stay here, not in ~/.pulumi.
export PULUMI_HOME="$PULUMI_HOME_DIR"
case ":\$PATH:" in *":$BIN:"*) ;; *) export PATH="$BIN:\$PATH" ;; esac
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
export PULUMI_SKIP_CONFIRMATIONS=true
export PULUMI_IGNORE_AMBIENT_PLUGINS=true
export PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS=\${PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS:-false}
EOF
}

T0=$(date +%s)
want etcd && build_etcd
want kubernetes && build_kubernetes
want kwok && build_kwok
want pulumi && build_pulumi
want shims && build_shims
want yaml && build_yaml
want pulumi-resource-kubernetes && build_prk
want plugins && install_plugins
want_test_tool sdkgen && build_sdkgen
want_test_tool prometheus-operator && build_operator
want_test_tool cnpg-manager && build_cnpg_manager
write_env
log "done in $(( $(date +%s) - T0 ))s; cache $(du -sh "$DIR" 2>/dev/null | cut -f1) in $DIR"
echo "export PATH=\"$BIN:\$PATH\"  # or: source $DIR/env.sh"
