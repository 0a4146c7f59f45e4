// Wrapper module: builds pulumi-resource-kubernetes. The Go module proxy only serves the
// provider submodule at one pseudo-version (commit f47bc2d6f199, 2026-01-15); no tagged
// provider/v4.34.2 is served. toolchain.sh copies cmd/pulumi-resource-kubernetes/main.go
// from the module cache into the build dir and regenerates the embedded schema files.
module platform.local/toolchain/pulumi-resource-kubernetes

go 1.24.7

require (
	github.com/pulumi/pulumi-kubernetes/provider/v4 v4.0.0-20260115033456-f47bc2d6f199
	github.com/pulumi/pulumi/pkg/v3 v3.218.0
	github.com/pulumi/pulumi/sdk/v3 v3.218.0
)

// upstream: replace github.com/pulumi/pulumi-kubernetes/sdk/v4 => ../sdk (local); use a served release.
replace github.com/pulumi/pulumi-kubernetes/sdk/v4 => github.com/pulumi/pulumi-kubernetes/sdk/v4 v4.29.0

// upstream provider pins pkg/sdk v3.215.0, which the proxy does not serve; v3.218.0 is the
// closest served release (v3.274.x breaks pkg/gen: codegen/schema API change).
replace (
	github.com/pulumi/pulumi/pkg/v3 => github.com/pulumi/pulumi/pkg/v3 v3.218.0
	github.com/pulumi/pulumi/sdk/v3 => github.com/pulumi/pulumi/sdk/v3 v3.218.0
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
