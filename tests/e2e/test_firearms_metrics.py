"""Firearms' own gauges as Prometheus scrapes them from a firearms process: the activations nobody
has acknowledged yet, and the age of the oldest."""

from __future__ import annotations

import asyncio
import re
import urllib.request

import pytest

from tests.e2e.processes import ProcessSuite
from tests.firearms_support import firearms_hit, raise_hits
from tests.support import eventually, free_port


@pytest.fixture
async def firearms(database_url, people, tmp_path):
    suite = ProcessSuite(database_url, people.tokens, collector_port=None, log_dir=tmp_path)
    port = free_port()
    try:
        suite.start("firearms", env={"ANPR_METRICS_PORT": str(port)})
        await suite.wait_serving("firearms")
        yield suite, port
    finally:
        await suite.stop_all()


def value(scrape: str, name: str, service: str) -> float | None:
    match = re.search(rf'^{name}\{{[^}}]*service="{service}"[^}}]*\}} (\S+)$', scrape, re.M)
    return float(match.group(1)) if match else None


async def test_activations_awaiting_acknowledgement_are_scraped(firearms, people):
    suite, port = firearms
    await raise_hits(suite.addr("firearms"), people, [firearms_hit(force="Empty Police")])  # nobody to acknowledge it

    def scrape() -> str:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()

    async def sampled() -> str | None:
        text = await asyncio.to_thread(scrape)
        return text if value(text, "anpr_activations_awaiting_ack", "firearms") == 1 else None

    text = await eventually(sampled, seconds=20, interval=0.5)
    assert value(text, "anpr_activations_oldest_unacknowledged_age_seconds", "firearms") >= 0
