"""What verifying a caller's token costs a service (anpr.runtime.identity), per call.

A real local issuer (cli.suite.issuer) serves its JWKS over HTTP; the verifier fetches it once, then
each call's token is checked as the interceptor checks it (header, key, RS256 signature, iss, aud,
exp, nbf, iat, claims to a Caller). Two cases: a token the process has not seen (the full check),
and one it verified before (a camera's or terminal's next call: remembered until it expires or its
key is retired). Prints microseconds per call and the rate of one core, ending with a name=value line.

    .venv/bin/python benchmarks/identity_bench.py [--calls 20000] [--new-tokens 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from anpr.runtime.auth import Caller, Role
from anpr.runtime.claims import ClaimMap
from anpr.runtime.identity import Endpoints, IssuerSettings, KeySet, Verifier
from cli.suite.issuer import LocalIssuer


async def measure(calls: int, new_tokens: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        issuer = LocalIssuer(Path(d) / "issuer.json")
        issuer.start()
        try:
            settings = IssuerSettings(issuer=issuer.url)
            keys = KeySet(settings, Endpoints(settings))
            verifier = Verifier(settings, keys, ClaimMap())
            await keys.refresh()
            tokens = {
                "camera": issuer.mint(Caller(Role.CAMERA, "acme-cam-0017", force="Thames Valley Police")),
                "terminal": issuer.mint(Caller(Role.TERMINAL, "pc-4411", force="Thames Valley Police", unit="TV-A7")),
            }
            out = {}
            fresh = [
                issuer.mint(Caller(Role.CAMERA, f"cam-{i}", force="Thames Valley Police")) for i in range(new_tokens)
            ]
            start = time.perf_counter()
            for token in fresh:
                await verifier.caller(token)
            elapsed = time.perf_counter() - start
            out["verify_new_token_us"] = elapsed / new_tokens * 1e6
            out["verify_new_token_per_s"] = new_tokens / elapsed
            for name, token in tokens.items():
                await verifier.caller(token)
                start = time.perf_counter()
                for _ in range(calls):
                    await verifier.caller(token)
                elapsed = time.perf_counter() - start
                out[f"verify_repeat_{name}_us"] = elapsed / calls * 1e6
                out[f"verify_repeat_{name}_per_s"] = calls / elapsed
            out["jwks_fetches"] = keys.fetches
            return out
        finally:
            issuer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20000, help="verifications of one token seen before")
    parser.add_argument("--new-tokens", type=int, default=2000, help="distinct tokens verified once each")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.calls, args.new_tokens))
    print(
        f"a token not seen before: {figures['verify_new_token_us']:.1f} us ({figures['verify_new_token_per_s']:,.0f}/s)"
    )
    print(f"a token seen before:     {figures['verify_repeat_camera_us']:.1f} us")
    print(
        " ".join(
            f"{name}={value:.1f}" if isinstance(value, float) else f"{name}={value}" for name, value in figures.items()
        )
    )


if __name__ == "__main__":
    main()
