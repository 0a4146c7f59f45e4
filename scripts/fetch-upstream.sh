#!/usr/bin/env bash
# Fetch the upstream files pinned in scripts/upstream.lock (CRDs, kwok stages, Helm charts) into a cache
# outside the repository:  ${PLATFORM_UPSTREAM_DIR:-$HOME/.cache/platform-upstream}/<dest>/
#
# Each module comes from the Go module proxy with `go mod download -json MODULE@VERSION`, which
# verifies it against the Go checksum database (forced on here, whatever GOSUMDB/GONOSUMDB/
# GOPRIVATE/GOINSECURE say); the module's h1 hash must also equal the one pinned in the lock.
# Idempotent: when the cache was filled from the same lock, nothing is downloaded (works offline).
# Usage: bash scripts/fetch-upstream.sh [--force]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOCK="$HERE/upstream.lock"
CACHE="${PLATFORM_UPSTREAM_DIR:-$HOME/.cache/platform-upstream}"
log() { printf '[fetch-upstream] %s\n' "$*" >&2; }
die() { printf '[fetch-upstream] ERROR: %s\n' "$*" >&2; exit 1; }

if [ "${1:-}" != --force ] && [ -f "$CACHE/upstream.lock" ] && cmp -s "$LOCK" "$CACHE/upstream.lock"; then
  log "up to date in $CACHE"; exit 0
fi
command -v go >/dev/null || die "go is required to fetch the pinned upstream files (Go >= 1.26)"

start=$(date +%s)
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out"
# Outside any module; checksum verification on, whatever the environment says.
export GOSUMDB=sum.golang.org GONOSUMDB="" GONOSUMCHECK="" GOPRIVATE="" GOINSECURE="" GOFLAGS="-mod=mod"

while read -r dest modver sum paths; do
  case "$dest" in ''|'#'*) continue ;; esac
  [ -n "$paths" ] || die "upstream.lock: '$dest $modver' lists no paths"
  json="$(cd "$work" && go mod download -json "$modver" 2>&1)" || die "go mod download $modver failed: $json"
  read -r dir got < <(printf '%s' "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
if d.get("Error"):
    sys.exit("error: " + d["Error"])
print(d["Dir"], d["Sum"])') || die "go mod download $modver: $json"
  [ "$got" = "$sum" ] || die "$modver: module hash $got differs from $sum pinned in scripts/upstream.lock"
  mkdir -p "$work/out/$dest"
  for pattern in $paths; do
    # shellcheck disable=SC2206  # the glob is meant to expand inside the module directory
    matches=( "$dir"/$pattern )
    [ -e "${matches[0]}" ] || die "$modver has no file matching $pattern"
    for f in "${matches[@]}"; do
      [ -e "$work/out/$dest/$(basename "$f")" ] && die "two upstream files are both named $(basename "$f") in $dest/"
      if [ -d "$f" ]; then  # a chart: the whole directory, files read-only like the module's
        cp -R "$f" "$work/out/$dest/" && chmod -R u+w,go-w "$work/out/$dest/$(basename "$f")"
      else
        install -m 0644 "$f" "$work/out/$dest/"
      fi
    done
  done
  log "$modver ($sum): $(echo "$paths" | wc -w) path(s) -> $dest/"
done < "$LOCK"

cp "$LOCK" "$work/out/upstream.lock"   # the stamp: what the cache was filled from
mkdir -p "$(dirname "$CACHE")"
rm -rf "$CACHE.old"; [ -e "$CACHE" ] && mv "$CACHE" "$CACHE.old"
mv "$work/out" "$CACHE"; rm -rf "$CACHE.old"
log "fetched into $CACHE in $(( $(date +%s) - start ))s"
