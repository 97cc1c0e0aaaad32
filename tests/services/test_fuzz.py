"""A bounded sample of the fuzz suite (benchmarks/fuzzing.py; the long run is benchmarks/fuzz.py): every
RPC of the four services and the hotlist CSV reader, then a listed read must still alert."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.fuzzing import Findings, alerting_works, every_rpc, fuzz_csv, fuzz_rpcs, register_cameras
from tests.support import InProcessSuite


@pytest.fixture
async def suite(database_url, tokens):
    s = InProcessSuite(database_url, tokens)
    await s.start_all()
    await register_cameras(s)
    yield s
    await s.stop()


async def test_every_rpc_answers_hostile_requests_with_the_right_status_and_alerting_survives(suite):
    findings = Findings()
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(fuzz_rpcs, suite, loop, 12, findings)
    assert findings.calls >= 6 * len(every_rpc())
    assert not findings.problems, "\n".join(findings.problems)
    assert findings.codes["INVALID_ARGUMENT"] > 0 and findings.codes["OK"] > 0  # the fuzzer reaches both
    assert await alerting_works(suite)


def test_the_csv_reader_never_raises_and_accepts_only_what_the_contract_allows():
    findings = Findings()
    fuzz_csv(150, findings)
    assert findings.calls == 150
    assert not findings.problems, "\n".join(findings.problems)
