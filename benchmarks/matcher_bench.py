"""Benchmark the matcher's in-memory VOI index (services/matcher/index.py).

    python benchmarks/matcher_bench.py [ENTRIES] [--lookups N] [--input str|bytes] [--seed S]

Generates ENTRIES (default 10,000,000) reproducible UK-style VRMs (current AB12CDE format plus prefix,
suffix, dateless/personalised and Northern Ireland ones, uniform over each format's marks, with 2% of
entries repeating another entry's VRM as when one vehicle is on several lists), builds the index,
and measures on one core:
load time, resident memory after the build (generation input freed), exact and look-alike matches per
second over a mix of exact hits, look-alike hits and misses, and the cost of compacting an overlay of
changes.  The last line is ``name=value`` pairs.

``--input str`` (default) hands ``VoiIndex.build`` a list of Python str, as a loader reading rows
from PostgreSQL would; ``--input bytes`` hands it a numpy ``S10`` array (the fast path).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import resource
import time

import numpy as np
import psutil

from services.matcher.index import DEFAULT_LOOKALIKE_CLASSES, LookalikeClasses, VoiIndex

GIB = 1 << 30
WIDTH = 10

_TAG = np.frombuffer(b"ABCDEFGHJKLMNOPRSTUVWXY", dtype=np.uint8)  # no I, Q, Z
_RANDOM = np.frombuffer(b"ABCDEFGHJKLMNOPRSTUVWXYZ", dtype=np.uint8)  # no I, Q
_YEAR = np.frombuffer(b"ABCDEFGHJKLMNPRSTVWXY", dtype=np.uint8)  # prefix/suffix year letters
_ANY = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_NI = np.frombuffer(b"IZ", dtype=np.uint8)
_AGE = np.array([f"{y:02d}".encode() for y in list(range(2, 27)) + list(range(51, 76))], dtype="S2")
_AGE = _AGE.view(np.uint8).reshape(-1, 2)

# share of each format: current, prefix, suffix, dateless, Northern Ireland
_FORMATS = np.array([0.75, 0.12, 0.05, 0.04, 0.04])
DUPLICATE_SHARE = 0.02


def _letters(rng: np.random.Generator, pool: np.ndarray, m: int, k: int) -> np.ndarray:
    return pool[rng.integers(0, pool.size, size=(m, k))]


def _digits(
    rng: np.random.Generator, m: int, lo_digits: int, hi_digits: int, count: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(m, hi_digits) ASCII digits left-aligned without leading zero, and each row's digit count.

    The digit count is drawn in proportion to how many numbers have it (9, 90, 900, ...), so marks
    are uniform over the format's space and short numbers are not over-represented (each real
    registration is issued once).
    """
    if count is None:
        weights = 9.0 * 10.0 ** np.arange(hi_digits - lo_digits + 1)
        count = lo_digits + rng.choice(weights.size, size=m, p=weights / weights.sum())
    out = np.zeros((m, hi_digits), dtype=np.uint8)
    value = rng.integers(1, 10, size=m)  # leading digit
    out[:, 0] = ord("0") + value
    for j in range(1, hi_digits):
        d = rng.integers(0, 10, size=m).astype(np.uint8) + ord("0")
        out[:, j] = np.where(j < count, d, 0)
    return out, count


def _put(buf: np.ndarray, rows: np.ndarray, col: np.ndarray | int, chars: np.ndarray) -> np.ndarray:
    """Write chars (m, k) (0 = skip) into buf[rows] starting at per-row column col; returns new col."""
    col = np.broadcast_to(np.asarray(col), rows.shape).copy()
    for j in range(chars.shape[1]):
        c = chars[:, j]
        present = c != 0
        buf[rows[present], col[present]] = c[present]
        col += present
    return col


def generate_vrms(n: int, seed: int) -> np.ndarray:
    """n UK-style VRMs as an (n, 10) uint8 array, NUL padded (reproducible for a seed)."""
    rng = np.random.default_rng(seed)
    buf = np.zeros((n, WIDTH), dtype=np.uint8)
    kind = rng.choice(len(_FORMATS), size=n, p=_FORMATS)
    # current (2001-): AB12CDE
    r = np.flatnonzero(kind == 0)
    c = _put(buf, r, 0, _letters(rng, _TAG, r.size, 2))
    c = _put(buf, r, c, _AGE[rng.integers(0, len(_AGE), size=r.size)])
    _put(buf, r, c, _letters(rng, _RANDOM, r.size, 3))
    # prefix (1983-2001): A123BCD
    r = np.flatnonzero(kind == 1)
    c = _put(buf, r, 0, _letters(rng, _YEAR, r.size, 1))
    c = _put(buf, r, c, _digits(rng, r.size, 1, 3)[0])
    _put(buf, r, c, _letters(rng, _RANDOM, r.size, 3))
    # suffix (1963-1983): ABC123D
    r = np.flatnonzero(kind == 2)
    c = _put(buf, r, 0, _letters(rng, _RANDOM, r.size, 3))
    c = _put(buf, r, c, _digits(rng, r.size, 1, 3)[0])
    _put(buf, r, c, _letters(rng, _YEAR, r.size, 1))
    # dateless / personalised: 1-3 letters + 1-4 digits, or 1-4 digits + 1-3 letters
    r = np.flatnonzero(kind == 3)
    shapes = [(nl, nd) for nl in (1, 2, 3) for nd in (1, 2, 3, 4)]  # letters, digits
    weights = np.array([26.0**nl * 9 * 10.0 ** (nd - 1) for nl, nd in shapes])
    shape = rng.choice(len(shapes), size=r.size, p=weights / weights.sum())
    nl = np.array([sh[0] for sh in shapes])[shape]
    letters = _letters(rng, _ANY, r.size, 3)
    letters[np.arange(3) >= nl[:, None]] = 0
    digits = _digits(rng, r.size, 1, 4, count=np.array([sh[1] for sh in shapes])[shape])[0]
    first = rng.random(r.size) < 0.5
    a = np.where(first[:, None], np.pad(letters, ((0, 0), (0, 1))), digits)
    b = np.where(first[:, None], digits, np.pad(letters, ((0, 0), (0, 1))))
    c = _put(buf, r, 0, a)
    _put(buf, r, c, b)
    # Northern Ireland: AIZ 1234
    r = np.flatnonzero(kind == 4)
    c = _put(buf, r, 0, _letters(rng, _ANY, r.size, 1))
    c = _put(buf, r, c, _NI[rng.integers(0, 2, size=(r.size, 2))])
    _put(buf, r, c, _digits(rng, r.size, 1, 4)[0])
    # the same vehicle on several lists: a share of entries repeat another entry's VRM
    dup = np.flatnonzero(rng.random(n) < DUPLICATE_SHARE)
    buf[dup] = buf[rng.integers(0, n, size=dup.size)]
    return buf


def rows_to_str(buf: np.ndarray) -> list[str]:
    out: list[str] = []
    s = buf.view(f"S{WIDTH}").ravel()
    for start in range(0, s.size, 1 << 20):
        out.extend(s[start : start + (1 << 20)].astype(f"U{WIDTH}").tolist())
    return out


def make_queries(buf: np.ndarray, count: int, seed: int, classes: LookalikeClasses) -> tuple[list[str], dict[str, int]]:
    """40% exact hits, 20% one-look-alike-character misreads of entries, 40% fresh (mostly misses)."""
    rng = np.random.default_rng(seed + 1)
    n_hit, n_like = int(count * 0.4), int(count * 0.2)
    sample = rows_to_str(buf[rng.integers(0, buf.shape[0], size=n_hit + n_like)])
    mates = {ch: [m for m in cls if m != ch] for cls in classes.classes for ch in cls}
    like = []
    for v in sample[n_hit:]:
        pos = [i for i, ch in enumerate(v) if ch in mates]
        if pos:
            i = pos[int(rng.integers(0, len(pos)))]
            alts = mates[v[i]]
            v = v[:i] + alts[int(rng.integers(0, len(alts)))] + v[i + 1 :]
        like.append(v)
    misses = rows_to_str(generate_vrms(count - n_hit - n_like, seed + 2))
    queries = sample[:n_hit] + like + misses
    order = rng.permutation(len(queries))
    return [queries[i] for i in order], {"exact_hit": n_hit, "lookalike_hit": n_like, "fresh": len(misses)}


def time_matches(index: VoiIndex, queries: list[str], rounds: int, batch: int = 5_000) -> tuple[float, float, int, int]:
    """Seconds of process CPU time for all queries at max_differences 0 and 1, and reads with a hit.

    The queries are split into batches; each batch is timed in both modes, alternating which goes
    first, over several rounds, and the best time of each batch is kept.  Using this process's CPU time
    and per-batch minimums keeps other work on a shared machine out of the figures; the matching
    itself is single-threaded (one core).
    """
    match = index.match
    batches = [queries[i : i + batch] for i in range(0, len(queries), batch)]
    best = [[float("inf")] * len(batches) for _ in (0, 1)]
    found = [0, 0]
    clock = time.process_time
    for r in range(rounds):
        for b, qs in enumerate(batches):
            for d in (0, 1) if (r + b) % 2 == 0 else (1, 0):
                hits = 0
                t0 = clock()
                for q in qs:
                    if match(q, max_differences=d):
                        hits += 1
                best[d][b] = min(best[d][b], clock() - t0)
                if r == 0:
                    found[d] += hits
    return sum(best[0]), sum(best[1]), found[0], found[1]


def rss() -> int:
    return psutil.Process().memory_info().rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("entries", nargs="?", type=int, default=10_000_000)
    ap.add_argument("--lookups", type=int, default=200_000)
    ap.add_argument("--input", choices=("str", "bytes"), default="str")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5, help="timing rounds (best per batch is kept)")
    ap.add_argument("--changes", type=int, default=20_000, help="overlay changes before timing compact()")
    args = ap.parse_args()
    n = args.entries

    classes = LookalikeClasses(DEFAULT_LOOKALIKE_CLASSES)
    gc.collect()
    rss_base = rss()

    t0 = time.perf_counter()
    buf = generate_vrms(n, args.seed)
    queries, mix = make_queries(buf, args.lookups, args.seed, classes)
    vrms = rows_to_str(buf) if args.input == "str" else buf.view(f"S{WIDTH}").ravel()
    ids = np.arange(1, n + 1, dtype=np.int64)
    gen_s = time.perf_counter() - t0
    if args.input == "str":
        del buf
    rss_input = rss()
    print(
        f"generated {n:,} VRMs as {args.input} in {gen_s:.1f}s (e.g. {', '.join(map(str, vrms[:6]))}); "
        f"RSS with input {rss_input / GIB:.2f} GiB"
    )

    t0 = time.perf_counter()
    index = VoiIndex.build(vrms, ids, classes=classes)
    load_s = time.perf_counter() - t0
    del vrms, ids
    if args.input == "bytes":
        del buf
    gc.collect()
    rss_after = rss()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        rss_trimmed = rss()
    except (OSError, AttributeError):
        rss_trimmed = rss_after
    print(f"load: {load_s:.2f}s for {len(index):,} entries ({n / load_s / 1e6:.2f} M/s)")
    print(
        f"memory: RSS after build {rss_after / GIB:.3f} GiB = Python + numpy + the index"
        f" + {len(queries):,} query "
        f"strings; generation input freed (baseline before generating {rss_base / GIB:.3f} GiB; "
        f"after malloc_trim {rss_trimmed / GIB:.3f} GiB; index arrays {index.nbytes / GIB:.3f} GiB = "
        f"{index.nbytes / max(n, 1):.0f} B/entry; process peak incl. generation {peak / GIB:.2f} GiB)"
    )

    exact_t, like_t, exact_found, like_found = time_matches(index, queries, args.rounds)
    exact_per_s = len(queries) / exact_t
    like_per_s = len(queries) / like_t
    ratio = like_t / exact_t
    print(f"queries: {len(queries):,} = {mix}; one thread, process CPU time, best of {args.rounds} rounds per batch")
    print(
        f"exact (max_differences=0):      {exact_per_s:,.0f}/s  {1e6 / exact_per_s:.2f} us  with a hit {exact_found:,}"
    )
    print(f"look-alike (max_differences=1): {like_per_s:,.0f}/s  {1e6 / like_per_s:.2f} us  with a hit {like_found:,}")
    print(f"look-alike cost / exact cost: {ratio:.3f}")

    rng = np.random.default_rng(args.seed + 3)
    targets = rng.integers(1, n + 1, size=args.changes).tolist()
    t0 = time.perf_counter()
    for k, eid in enumerate(targets):
        if k % 2:
            index.remove(eid)
        else:
            index.add(queries[k % len(queries)], n + 1 + k)
    change_us = (time.perf_counter() - t0) / max(len(targets), 1) * 1e6
    t0 = time.perf_counter()
    compacted = index.compact()
    compact_s = time.perf_counter() - t0
    assert len(compacted) == len(index) and compacted.overlay_size == 0
    print(f"overlay: {args.changes:,} add/remove at {change_us:.1f} us each; compact() {compact_s:.2f}s")

    print(
        f"entries={n} input={args.input} load_s={load_s:.2f} rss_gib={rss_after / GIB:.3f} "
        f"index_gib={index.nbytes / GIB:.3f} exact_per_s={exact_per_s:.0f} lookalike_per_s={like_per_s:.0f} "
        f"lookalike_over_exact={ratio:.3f} compact_s={compact_s:.2f}"
    )


if __name__ == "__main__":
    main()
