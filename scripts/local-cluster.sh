#!/usr/bin/env bash
# A local Kubernetes control plane on 127.0.0.1 with simulated nodes (kwok), for running
# `pulumi up|preview|destroy` of this program for real without containers.
#
#   bash scripts/local-cluster.sh start     # idempotent; waits until ready
#   bash scripts/local-cluster.sh status    # exit 0 when running and ready
#   bash scripts/local-cluster.sh env       # prints: export KUBECONFIG=...
#   bash scripts/local-cluster.sh stop [--purge]
#
# Binaries come from scripts/toolchain.sh (PLATFORM_TOOLCHAIN_DIR/bin). State, certificates,
# logs, pid files and the kubeconfig live OUTSIDE the repo in
#   ${PLATFORM_CLUSTER_DIR:-$HOME/.cache/platform-cluster}
# What start provides: etcd, kube-apiserver (RBAC+Node authz, PodSecurity admission, service
# account issuer), kube-controller-manager, kube-scheduler, kwok with 3 nodes in zones
# zone-a/b/c (pods become Running+Ready, Job pods Succeeded), default StorageClass "standard"
# with static 20Gi PVs (released PVs are recycled), Ingress/LoadBalancer status set to
# 127.0.0.1, kube-dns Service (+ fake coredns pods), namespace ingress-nginx, and the CRDs
# pinned in scripts/upstream.lock (the Prometheus Operator's, Gateway API), fetched with kwok's
# stages into a cache by scripts/fetch-upstream.sh. No `monitoring` namespace: install mode
# (`make dev`) creates its own.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLCHAIN_DIR="${PLATFORM_TOOLCHAIN_DIR:-$HOME/.cache/platform-toolchain}"
BIN="${PLATFORM_CLUSTER_BIN:-$TOOLCHAIN_DIR/bin}"
C="${PLATFORM_CLUSTER_DIR:-$HOME/.cache/platform-cluster}"
PKI="$C/pki"; RUN="$C/run"; LOGS="$C/logs"
KUBECONFIG_FILE="$C/kubeconfig"
NODE_COUNT="${PLATFORM_CLUSTER_NODES:-3}"
PV_COUNT="${PLATFORM_CLUSTER_PVS:-24}"
PV_SIZE="${PLATFORM_CLUSTER_PV_SIZE:-20Gi}"
SERVICE_CIDR="10.96.0.0/16"
READY_TIMEOUT="${PLATFORM_CLUSTER_TIMEOUT:-180}"

log() { printf '[local-cluster %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[local-cluster] ERROR: %s\n' "$*" >&2; exit 1; }

need_bins() {
  local b; for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
    [ -x "$BIN/$b" ] || die "missing $BIN/$b -- run: bash scripts/toolchain.sh"
  done
  command -v openssl >/dev/null || die "openssl is required"
}

kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

UPSTREAM="${PLATFORM_UPSTREAM_DIR:-$HOME/.cache/platform-upstream}"
# kwok's own "fast" stages (fetched, pinned), with one local change made here: pod-ready also
# matches Running pods that are not Ready, so pods whose Ready condition the node-lifecycle
# controller cleared (node lease expired while the cluster was stopped) become Ready again.
kwok_stages() {
  local f out="$C/kwok-stages.yaml" k="$UPSTREAM/kwok"
  : > "$out"
  for f in node-initialize node-heartbeat-with-lease pod-ready pod-complete pod-delete; do
    [ -f "$k/$f.yaml" ] || die "missing $k/$f.yaml -- run: bash scripts/fetch-upstream.sh"
    printf -- '---\n' >> "$out"
    if [ "$f" = pod-ready ]; then
      [ "$(grep -c "^      - 'Pending'\$" "$k/$f.yaml")" = 1 ] || die "kwok pod-ready stage changed upstream: review the local change"
      sed "s/^      - 'Pending'\$/&\n      - 'Running'/" "$k/$f.yaml" >> "$out"
    else
      cat "$k/$f.yaml" >> "$out"
    fi
  done
  echo "$out"
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}
port_free() { python3 -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', int(sys.argv[1]))); s.close()" "$1" 2>/dev/null; }

# ---- ports (kept stable across restarts while free) -------------------------------------
load_ports() {
  if [ -f "$C/ports.env" ]; then . "$C/ports.env"; fi
  local changed=0 var
  for var in ETCD_CLIENT_PORT ETCD_PEER_PORT APISERVER_PORT; do
    if [ -z "${!var:-}" ] || ! port_free "${!var}"; then printf -v "$var" '%s' "$(free_port)"; changed=1; fi
  done
  if [ "$changed" = 1 ]; then
    printf 'ETCD_CLIENT_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\n' "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" > "$C/ports.env"
  fi
}

# ---- PKI ----------------------------------------------------------------------------------
gen_client_cert() { # NAME CN [O]
  local name="$1" cn="$2" o="${3:-}" subj="/CN=$2"
  [ -n "$o" ] && subj="/O=$o/CN=$cn"
  [ -f "$PKI/$name.crt" ] && return
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > "$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
}

gen_pki() {
  mkdir -p "$PKI"; chmod 700 "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    log "generating certificates in $PKI"
    openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -nodes -key "$PKI/ca.key" -sha256 -days 3650 -subj "/CN=platform-local-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  if [ ! -f "$PKI/apiserver.crt" ]; then
    openssl genrsa -out "$PKI/apiserver.key" 2048 2>/dev/null
    openssl req -new -key "$PKI/apiserver.key" -subj "/CN=kube-apiserver" -out "$PKI/apiserver.csr" 2>/dev/null
    cat > "$PKI/apiserver.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
    openssl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
      -days 3650 -sha256 -extfile "$PKI/apiserver.ext" -out "$PKI/apiserver.crt" 2>/dev/null
  fi
  gen_client_cert admin admin system:masters
  gen_client_cert controller-manager system:kube-controller-manager
  gen_client_cert scheduler system:kube-scheduler
  gen_client_cert kwok kwok-controller system:masters
  gen_client_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  if [ ! -f "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  chmod 600 "$PKI"/*.key
}

write_kubeconfig() { # FILE CERTNAME
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: platform-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: platform-local
  context:
    cluster: platform-local
    user: $2
    namespace: default
current-context: platform-local
EOF
  chmod 600 "$1"
}

# ---- process management -------------------------------------------------------------------
is_running() { local p; [ -f "$RUN/$1.pid" ] && p="$(cat "$RUN/$1.pid")" && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# Every descriptor but stdin/out/err closed: a daemon must not keep what the caller holds open,
# such as the lock of `flock /tmp/platform-cluster.lock bash scripts/local-cluster.sh start`
# (held by the cluster for as long as it runs, every other flock would wait forever).
close_inherited_fds() {
  local fd n
  for fd in /proc/self/fd/*; do
    n="${fd##*/}"
    [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-" 2>/dev/null
  done
  return 0
}

start_proc() { # NAME CMD...
  local name="$1"; shift
  if is_running "$name"; then return; fi
  # setsid: own session, so the process survives the caller and `stop` can end its group.
  ( close_inherited_fds; exec setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 ) &
  echo $! > "$RUN/$name.pid"
}

stop_proc() {
  local name="$1" p i
  [ -f "$RUN/$name.pid" ] || return 0
  p="$(cat "$RUN/$name.pid")"
  if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
  fi
  rm -f "$RUN/$name.pid"
}

wait_for() { # DESCRIPTION TIMEOUT CMD...
  local what="$1" t="$2"; shift 2
  local end=$(( $(date +%s) + t ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.5
  done
}

# ---- cluster contents -----------------------------------------------------------------------
nodes_yaml() {
  local i zones=(a b c d e f)
  for i in $(seq 0 $(( NODE_COUNT - 1 ))); do
    local z="zone-${zones[$(( i % 6 ))]}" n="kwok-node-$i"
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $n
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: $n
    node.kubernetes.io/instance-type: kwok.standard
    topology.kubernetes.io/region: local
    topology.kubernetes.io/zone: $z
spec: {}
status:
  allocatable: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 500Gi}
  capacity: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 500Gi}
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    kubeletVersion: fake
    kubeProxyVersion: fake
EOF
  done
}

storage_yaml() {
  cat <<EOF
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
reclaimPolicy: Retain
volumeBindingMode: Immediate
allowVolumeExpansion: true
EOF
  local i
  for i in $(seq -w 1 "$PV_COUNT"); do
    cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: local-pv-$i
  labels: {platform.local/pool: static}
spec:
  capacity: {storage: $PV_SIZE}
  accessModes: [ReadWriteOnce, ReadOnlyMany, ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: standard
  volumeMode: Filesystem
  hostPath: {path: /tmp/platform-local-pv/$i, type: DirectoryOrCreate}
EOF
  done
}

system_yaml() {
  cat <<'EOF'
---
apiVersion: v1
kind: Namespace
metadata: {name: ingress-nginx}
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: 10.96.0.10
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      containers:
      - name: coredns
        image: registry.k8s.io/coredns/coredns:v1.12.0
        ports:
        - {containerPort: 53, name: dns, protocol: UDP}
        - {containerPort: 53, name: dns-tcp, protocol: TCP}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec:
  controller: k8s.io/ingress-nginx
EOF
}

# janitor: stands in for an ingress controller, a cloud LB and a volume provisioner.
#  - Ingress / Service type=LoadBalancer without status get status.loadBalancer.ingress[0].ip=127.0.0.1
#  - Released PVs (claim deleted; reclaimPolicy Retain, no real provisioner) are made Available again
janitor_loop() {
  local interval="${PLATFORM_CLUSTER_JANITOR_INTERVAL:-2}"
  while true; do
    kc get ingress -A -o json 2>/dev/null | python3 -c '
import json, sys
for i in json.load(sys.stdin).get("items", []):
    if not ((i.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
        print(i["metadata"]["namespace"], i["metadata"]["name"])' 2>/dev/null |
    while read -r ns name; do
      kc -n "$ns" patch ingress "$name" --subresource=status --type=merge \
        -p '{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.1"}]}}}' >/dev/null 2>&1 || true
    done
    kc get svc -A -o json 2>/dev/null | python3 -c '
import json, sys
for i in json.load(sys.stdin).get("items", []):
    if i["spec"].get("type") == "LoadBalancer" and not ((i.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
        print(i["metadata"]["namespace"], i["metadata"]["name"])' 2>/dev/null |
    while read -r ns name; do
      kc -n "$ns" patch svc "$name" --subresource=status --type=merge \
        -p '{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.1"}]}}}' >/dev/null 2>&1 || true
    done
    kc get pv -l platform.local/pool=static -o json 2>/dev/null | python3 -c '
import json, sys
for i in json.load(sys.stdin).get("items", []):
    if (i.get("status") or {}).get("phase") in ("Released", "Failed"):
        print(i["metadata"]["name"])' 2>/dev/null |
    while read -r pv; do
      kc patch pv "$pv" --type=json -p '[{"op":"remove","path":"/spec/claimRef"}]' >/dev/null 2>&1 || true
    done
    sleep "$interval"
  done
}

apply_dir() { # apply all YAML in a dir, server-side (some CRDs exceed the client-side annotation limit)
  local f
  for f in "$1"/*.yaml; do
    [ -e "$f" ] || continue
    kc apply --server-side --force-conflicts --field-manager=local-cluster -f "$f" >/dev/null
  done
}

# ---- commands -----------------------------------------------------------------------------
cmd_start() {
  need_bins
  bash "$HERE/fetch-upstream.sh"
  mkdir -p "$C" "$RUN" "$LOGS" "$C/etcd"
  if cmd_status >/dev/null 2>&1; then log "already running"; cmd_env; return 0; fi
  load_ports
  gen_pki
  write_kubeconfig "$KUBECONFIG_FILE" admin
  write_kubeconfig "$C/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$C/scheduler.kubeconfig" scheduler
  write_kubeconfig "$C/kwok.kubeconfig" kwok

  log "starting etcd on 127.0.0.1:$ETCD_CLIENT_PORT"
  start_proc etcd "$BIN/etcd" --name local --data-dir "$C/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" --quota-backend-bytes 4294967296 \
    --unsafe-no-fsync=true --log-level warn
  wait_for etcd 60 python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$ETCD_CLIENT_PORT/health', timeout=2)" ||
    { tail -n 30 "$LOGS/etcd.log" >&2; die "etcd did not become healthy"; }

  log "starting kube-apiserver on https://127.0.0.1:$APISERVER_PORT"
  start_proc kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,DefaultIngressClass,StorageObjectInUseProtection,PersistentVolumeClaimResize,ResourceQuota,PodSecurity,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy \
    --allow-privileged=true --profiling=false --endpoint-reconciler-type=none \
    --storage-backend etcd3 --event-ttl 10m
  wait_for apiserver "$READY_TIMEOUT" kc get --raw /readyz ||
    { tail -n 40 "$LOGS/kube-apiserver.log" >&2; die "kube-apiserver did not become ready"; }

  log "starting kube-controller-manager and kube-scheduler"
  start_proc kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$C/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$C/controller-manager.kubeconfig" --authorization-kubeconfig "$C/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" --use-service-account-credentials=true \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false \
    --controllers '*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller' \
    --concurrent-deployment-syncs 10 --concurrent-replicaset-syncs 10 --concurrent-statefulset-syncs 10 \
    --concurrent-gc-syncs 20 --concurrent-namespace-syncs 10 --horizontal-pod-autoscaler-sync-period 30s
  start_proc kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$C/scheduler.kubeconfig" \
    --authentication-kubeconfig "$C/scheduler.kubeconfig" --authorization-kubeconfig "$C/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false

  log "starting kwok"
  start_proc kwok "$BIN/kwok" --kubeconfig "$C/kwok.kubeconfig" \
    --config "$(kwok_stages)" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip 10.244.0.1 --cidr 10.244.0.0/16 --node-lease-duration-seconds 40

  log "applying nodes, storage, system objects and CRDs"
  wait_for "default namespace" 60 kc get ns default || die "namespace default missing"
  nodes_yaml | kc apply -f - >/dev/null
  storage_yaml | kc apply -f - >/dev/null
  apply_dir "$UPSTREAM/crds"
  wait_for "kube-system default serviceaccount" 120 kc -n kube-system get serviceaccount default ||
    { tail -n 30 "$LOGS/kube-controller-manager.log" >&2; die "controller-manager did not create service accounts"; }
  system_yaml | kc apply -f - >/dev/null
  kc wait --for condition=established --timeout=60s crd --all >/dev/null

  start_proc janitor bash -c "$(declare -f kc janitor_loop); BIN='$BIN' KUBECONFIG_FILE='$KUBECONFIG_FILE' janitor_loop"

  log "waiting for nodes Ready and kube-system pods"
  wait_for nodes "$READY_TIMEOUT" kc wait --for=condition=Ready node --all --timeout=5s ||
    { tail -n 30 "$LOGS/kwok.log" >&2; die "nodes did not become Ready"; }
  wait_for coredns "$READY_TIMEOUT" kc -n kube-system rollout status deploy/coredns --timeout=5s ||
    { kc get pods -A >&2 || true; tail -n 30 "$LOGS/kube-controller-manager.log" >&2; die "coredns (fake) did not become ready"; }
  cmd_status >/dev/null || die "cluster not healthy after start"
  log "ready: $(kc get nodes --no-headers 2>/dev/null | wc -l) nodes, $(kc get pv --no-headers 2>/dev/null | wc -l) PVs"
  cmd_env
}

cmd_status() {
  local ok=0 n
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler kwok janitor; do
    if is_running "$n"; then echo "$n: running (pid $(cat "$RUN/$n.pid"))"; else echo "$n: stopped"; ok=1; fi
  done
  if [ -f "$KUBECONFIG_FILE" ] && kc get --raw /readyz >/dev/null 2>&1; then echo "apiserver: ready ($(grep server: "$KUBECONFIG_FILE" | awk '{print $2}'))"; else echo "apiserver: not ready"; ok=1; fi
  return $ok
}

cmd_stop() {
  local n
  for n in janitor kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_proc "$n"; done
  log "stopped"
  if [ "${1:-}" = "--purge" ]; then
    rm -rf "$C"; log "purged $C"
  fi
}

cmd_env() { echo "export KUBECONFIG=$KUBECONFIG_FILE"; }

case "${1:-}" in
  start) cmd_start ;;
  stop) shift; cmd_stop "${1:-}" ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 start|stop [--purge]|restart|status|env" >&2; exit 2 ;;
esac
