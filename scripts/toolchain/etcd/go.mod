// Wrapper module: builds an etcd server binary from go.etcd.io/etcd/server/v3 (etcdmain).
// Upstream server/go.mod replaces its sibling modules with local paths; pin the published
// modules of the same release instead. (Debian bookworm only has etcd 3.4, too old for
// Kubernetes 1.35, which is built and tested against etcd 3.6.)
module platform.local/toolchain/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 v3.6.16

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 v3.6.16
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 v3.6.16
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 v3.6.16
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 v3.6.16
)
