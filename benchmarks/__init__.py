"""Benchmark scripts that print figures (never timed asserts in the tests), the top floor of the house.

Each runs as a file or as a module: `.venv/bin/python benchmarks/chain_bench.py` or
`python -m benchmarks.chain_bench`; their shared pieces are in `benchmarks.common`.
"""

import anpr  # noqa: F401  (before grpc: gRPC's fork handlers, anpr/__init__.py)
