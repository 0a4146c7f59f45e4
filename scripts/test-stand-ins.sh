#!/usr/bin/env bash
# Go tests of the stand-in plugins (scripts/toolchain/pulumi-shims: the random provider's
# upstream rules, the language host's RunPlugin): `go vet` and `go test ./...` in a copy of the
# module outside the repository (its go.sum is generated there, never committed).
# Run by `make test` (and so by .ci/run); the Go build cache makes it fast after a toolchain build.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${PLATFORM_TOOLCHAIN_DIR:-$HOME/.cache/platform-toolchain}/src/pulumi-shims-test"
command -v go >/dev/null || { echo "[test-stand-ins] ERROR: go is required" >&2; exit 1; }
rm -rf "$DIR"; mkdir -p "$DIR"
cp -r "$HERE/toolchain/pulumi-shims/." "$DIR/"
cd "$DIR"
export CGO_ENABLED="${CGO_ENABLED:-0}" GOFLAGS="${GOFLAGS:--buildvcs=false}"
go mod tidy
unformatted="$(gofmt -l .)"
[ -z "$unformatted" ] || { echo "[test-stand-ins] not gofmt-formatted: $unformatted" >&2; exit 1; }
go vet ./...
go test -trimpath -count=1 ./...
