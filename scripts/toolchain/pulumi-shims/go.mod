// Minimal stand-ins for two Pulumi plugins whose Go modules the Go module proxy does not
// serve on this workplace (403 "This module version is not available"):
//   - github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 (any version)
//   - github.com/pulumi/pulumi-random/provider/v4 (any version)
// See scripts/TOOLCHAIN.md. Both are written here against the published pulumi sdk/v3.
module platform.local/toolchain/pulumi-shims

go 1.26.6

require (
	github.com/pulumi/pulumi/sdk/v3 v3.274.1
	golang.org/x/crypto v0.58.0
	google.golang.org/grpc v1.83.2
	google.golang.org/protobuf v1.36.11
)
