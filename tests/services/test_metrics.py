"""Metrics as Prometheus scrapes them from a real ingest: reads by status, the outbox's depth and age
per topic, and dead letters (matcher is unreachable here, so the queued reads wait)."""

from __future__ import annotations

import asyncio
import re
import urllib.request

import asyncpg
import pytest

from anpr.runtime import metrics
from anpr.runtime.auth import Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc
from tests.support import InProcessSuite, channel, eventually, free_port, make_read


@pytest.fixture
async def ingest(database_url, tokens):
    suite = InProcessSuite(database_url, tokens)
    port = free_port()
    try:
        await suite.start("ingest", matcher_addr="127.0.0.1:9", metrics_port=port)
        yield suite, port
    finally:
        await suite.stop()
        metrics.shutdown_metrics()


def value(scrape: str, name: str, **labels: str) -> float | None:
    for line in scrape.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return None


async def test_reads_outbox_and_dead_letters_are_scraped(ingest, database_url):
    suite, port = ingest
    assert metrics.Exporters.http_server is not None, "metrics were configured earlier in this process without the port"
    async with channel(suite.addr("ingest"), suite.tokens[Role.CAMERA]) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        await stub.SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=[make_read("AB12CDE"), make_read("BAD*")])]))
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO ingest.outbox (topic, payload, records, created_at) "
            "VALUES ('dead-letter:match', 'x', 3, now() - interval '1 hour')"
        )
    finally:
        await conn.close()

    def scrape() -> str:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()

    async def sampled() -> str | None:
        text = await asyncio.to_thread(scrape)
        return text if value(text, "anpr_outbox_dead_letters", topic="match") else None

    text = await eventually(sampled, seconds=20, interval=0.5)
    assert value(text, "anpr_reads_total", status="stored") == 1
    assert value(text, "anpr_reads_total", status="rejected") == 1
    assert value(text, "anpr_outbox_dead_letters", service="ingest", topic="match") == 3  # records, not rows
    assert value(text, "anpr_outbox_depth", service="ingest", topic="match") >= 1
    assert value(text, "anpr_outbox_oldest_age_seconds", service="ingest", topic="match") >= 0
