"""Historical hits: a new entry checked against the reads of the last hours (ingest's SearchReads
for its VRM and likely misreadings), or the entries of a large import by one bulk scan of the read
store (ingest's ScanReads), scored like live reads."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np
from opentelemetry import context as otel_context
from opentelemetry import trace

from anpr.runtime.outbox import OutboxRecord
from anpr.runtime.telemetry import ATTR_HIT_COUNT, ATTR_READ_COUNT, context_from_traceparent, current_traceparent
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, types_pb2
from anpr.vrm import normalise_vrm
from services.matcher import matching, store
from services.matcher.hits import Found, HitMaker

log = logging.getLogger(__name__)

# A list import that adds more entries than this (a full national extract) is checked by one bulk
# job (a scan of the recent reads against the index) rather than a search of the read store per entry.
HISTORICAL_CHECKS_PER_IMPORT = 10_000
BULK_SCAN_PAGE = 1000  # reads per ScanReads page: matched, and their hits recorded, together
BULK_SCAN_TIMEOUT_S = 6 * 3600  # the whole scan; a job that fails is run again from the start
BULK_LOG_EVERY = 100_000  # reads between progress log lines


async def queue_import_checks(conn, hotlist_id: str, done: store.ImportResult) -> None:
    """Historical checks of an import's new entries (and of those it brought back or gave a new
    VRM): one per entry, or one bulk job for them all when there are more than
    HISTORICAL_CHECKS_PER_IMPORT."""
    if done.added + done.rewatched <= HISTORICAL_CHECKS_PER_IMPORT:
        await store.queue_historical_check(conn, done.added_ids + done.rewatched_ids, current_traceparent())
        return
    await store.queue_bulk_check(conn, store.BulkCheck(hotlist_id, done.first_version), current_traceparent())
    log.info(
        "import checked against recent reads by one bulk job",
        extra={"hotlist_id": hotlist_id, "added": done.added, "limit": HISTORICAL_CHECKS_PER_IMPORT},
    )


def _in_sorted(ids: np.ndarray, entry: int) -> bool:
    i = int(np.searchsorted(ids, entry))
    return i < len(ids) and int(ids[i]) == entry


@dataclass
class HistoricalChecks:
    """The outbox topic of historical checks: each record a new entry, or a bulk job."""

    pool: asyncpg.Pool
    ingest: ingest_pb2_grpc.IngestServiceStub
    lookback_s: int  # how far back reads are checked
    matcher: matching.Matcher
    hits: HitMaker
    refresh: Callable[[], Awaitable[None]]  # the live index brought up to date

    async def deliver(self, records: Sequence[OutboxRecord]) -> None:
        """Historical hits: each record is a new entry (its id), or the new entries of an import
        too large to check one by one (a store.BulkCheck)."""
        for rec in records:
            if not rec.payload:
                continue
            token = otel_context.attach(context_from_traceparent(rec.traceparent))
            try:
                job = store.BulkCheck.parse(rec.payload)
                await (self._check_entry(rec.payload.decode()) if job is None else self._check_bulk(job))
            finally:
                otel_context.detach(token)

    async def _check_entry(self, entry_id: str) -> None:
        """One new entry against the reads of the last hours: ingest's search for its VRM and its
        likely misreadings, scored like live reads."""
        async with self.pool.acquire() as conn:
            cand = await store.entry_by_entry_id(conn, entry_id)
        if cand is None:
            return
        vrm = normalise_vrm(cand.entry.vrm)
        resp = await self.ingest.SearchReads(
            ingest_pb2.SearchReadsRequest(
                vrm=vrm,
                vrms=matching.misreadings(vrm, self.matcher.profile),
                lookback_seconds=self.lookback_s,
                page_size=1000,
            ),
            timeout=30,
            wait_for_ready=True,
        )
        await self.refresh()
        await self._record_historical(resp, lambda entry: entry == cand.id)

    async def _check_bulk(self, job: store.BulkCheck) -> None:
        """The entries an import added or changed against every read of the last hours: one scan of
        the read store (ingest's ScanReads), each page matched against the whole index and its
        hits on those entries kept. A re-run (after a crash) makes the same hit ids: no new alert."""
        started, scanned, hits = time.monotonic(), 0, 0
        await self.refresh()
        async with self.pool.acquire() as conn:
            wanted = await store.entry_ids_since(conn, job.hotlist_id, job.first_version)
        if not len(wanted):  # deleted since
            return
        stream = self.ingest.ScanReads(
            ingest_pb2.ScanReadsRequest(lookback_seconds=self.lookback_s, page_size=BULK_SCAN_PAGE),
            timeout=BULK_SCAN_TIMEOUT_S,
            wait_for_ready=True,
        )
        async for page in stream:
            hits += await self._record_historical(page, lambda entry: _in_sorted(wanted, entry))
            if (scanned + len(page.reads)) // BULK_LOG_EVERY > scanned // BULK_LOG_EVERY:
                log.info(
                    "historical bulk check progress",
                    extra={"hotlist_id": job.hotlist_id, "reads": scanned + len(page.reads), "hits": hits},
                )
            scanned += len(page.reads)
        seconds = round(time.monotonic() - started, 3)
        log.info(
            "historical bulk check done",
            extra={
                "hotlist_id": job.hotlist_id,
                "entries": len(wanted),
                "reads": scanned,
                "hits": hits,
                "seconds": seconds,
            },
        )
        span = trace.get_current_span()
        span.set_attribute(ATTR_READ_COUNT, scanned)
        span.set_attribute(ATTR_HIT_COUNT, hits)

    async def _record_historical(self, page: FoundReads, keep: Callable[[int], bool]) -> int:
        """Match a page of reads (with their places) as they would match now, live, and record their
        hits on the entries `keep` wants as historical, in one transaction; returns how many hits
        are new. A read whose live answer does not include an entry (it is exactly another listed
        vehicle, or the entry is beyond its cap) makes no historical hit on it either."""
        pairs = sorted(_with_places(page), key=lambda p: (p[0].captured_at.seconds, p[0].captured_at.nanos))
        reads = [read for read, _ in pairs]  # sorted by capture: dedup keeps the first
        traceparent = current_traceparent()
        found = [
            Found.historical_of(read, place, m, traceparent, result.over_cap)
            for (read, place), result in zip(pairs, self.matcher.match_many(reads), strict=True)
            for m in result.matches
            if keep(m.entry_id)
        ]
        if not found:
            return 0
        async with self.pool.acquire() as conn:
            return len((await self.hits.record(conn, found)).repeats)  # NOTIFYs the relays (no hand-over)


FoundReads = ingest_pb2.SearchReadsResponse | ingest_pb2.ScanReadsResponse


def _with_places(page: FoundReads) -> list[tuple[types_pb2.Read, ingest_pb2.ReadPlace | None]]:
    """Each read of a page with its place (None from an ingest too old to send them)."""
    if len(page.places) != len(page.reads):
        return [(read, None) for read in page.reads]
    return list(zip(page.reads, page.places, strict=True))
