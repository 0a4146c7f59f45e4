#!/usr/bin/env bash
# Build promtool (Prometheus's rule checker) from Go modules into a cache outside the repo and
# print its path. Idempotent: an existing binary of the pinned version is reused (no rebuild).
#
#   scripts/promtool.sh            # -> $PLATFORM_TOOLCHAIN_DIR/bin/promtool (default ~/.cache/platform-toolchain)
#
# tests/test_monitoring.py runs `promtool check rules` and `promtool test rules` with it.
# Prometheus 3.16's module version is v0.316.0 (v0.3XX.Y = 3.XX.Y); the first build takes a while.
set -euo pipefail

VERSION="v0.316.0"
MODULE="github.com/prometheus/prometheus"
DIR="${PLATFORM_TOOLCHAIN_DIR:-$HOME/.cache/platform-toolchain}"
BIN="$DIR/bin/promtool"

# `go version -m` reads the module version stamped into the binary: no stamp file to drift.
if [[ -x "$BIN" ]] && go version -m "$BIN" 2>/dev/null | grep -qE "^\s+mod\s+$MODULE\s+$VERSION(\s|$)"; then
    echo "$BIN"
    exit 0
fi

mkdir -p "$DIR/bin" "$DIR/logs"
# Build into a temporary GOBIN and move it in place, so an interrupted build never leaves a
# half-written binary that the check above would trust.
tmp="$(mktemp -d "$DIR/bin/.promtool.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "building promtool $VERSION (log: $DIR/logs/promtool-build.log)" >&2
if ! GOBIN="$tmp" GOFLAGS="${GOFLAGS:--buildvcs=false}" go install "$MODULE/cmd/promtool@$VERSION" >"$DIR/logs/promtool-build.log" 2>&1; then
    tail -20 "$DIR/logs/promtool-build.log" >&2
    exit 1
fi
mv -f "$tmp/promtool" "$BIN"
echo "$BIN"
