// Wrapper module: generates a package's TypeScript and Go SDKs from its schema with Pulumi's own
// codegen (pkg/v3/codegen/{nodejs,go}), which is what `pulumi package gen-sdk` reaches through the
// nodejs and go language hosts; those hosts' modules are refused by the Go module proxy here.
module platform.local/toolchain/pulumi-sdkgen

go 1.26.6

require github.com/pulumi/pulumi/pkg/v3 v3.274.1

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
