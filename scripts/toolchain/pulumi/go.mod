// Wrapper module: builds the Pulumi CLI (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi).
// Upstream pkg/go.mod replaces sdk/v3 with ../sdk (local); we pin the published sdk/v3
// of the same version instead and repeat the upstream non-local replace directives.
module platform.local/toolchain/pulumi

go 1.26.6

require (
	github.com/pulumi/pulumi/pkg/v3 v3.274.1
	github.com/pulumi/pulumi/sdk/v3 v3.274.1
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
