"""ANPR alerting suite: contracts, shared runtime and the `anpr` command."""
