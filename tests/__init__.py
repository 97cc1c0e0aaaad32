import anpr  # noqa: F401  (before grpc: gRPC's fork handlers, anpr/__init__.py)
