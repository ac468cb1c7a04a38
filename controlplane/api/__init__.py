"""Public gRPC API servicers: thin adapters from protobuf to domain calls."""
