"""ElizaOS control plane: the gRPC API, cluster state in etcd, scheduling."""
