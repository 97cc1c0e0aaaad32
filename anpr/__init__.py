"""ANPR alerting suite: contracts, shared runtime and the `anpr` command."""

import os

# gRPC's C-core fork handlers restart its poller in every child this process forks, even one that
# only execs (subprocess: initdb and pg_ctl of the embedded PostgreSQL, the services `anpr up` and
# the benchmarks start, a service's workers): with gRPC busy in another thread the child can crash
# before its exec (grpc/grpc#43055; 60 of 300 `subprocess.run` calls did here). No process of the
# suite forks to use gRPC in the child, so the handlers are turned off. gRPC reads this once, when
# it is first imported: every entry point (cli, services, benchmarks, tests) imports this package
# before grpc.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

# numpy asks the kernel for transparent huge pages for every array of 4 MiB or more (madvise). Where
# the kernel then compacts memory on the page fault (defrag=madvise, common), the matcher's bulk
# loads stall in it: 560 MB of fresh arrays took 3.0 s to fill here against 0.27 s without, and a
# million-entry index reload 3.3 s against 1.8 s. numpy reads this when it is first imported (after
# this package, by every entry point); an operator who wants huge pages sets it to 1.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
