"""The `anpr` command: the services' operations (serve, migrate, retention, dead letters), the
clients of administrators and commanders, the screens (patrol terminal, TFC console) and the suite on
one machine (`anpr up`, the launcher the tests and benchmarks share)."""

import anpr  # noqa: F401  (before grpc: gRPC's fork handlers, anpr/__init__.py)
