"""One classification of failures (anpr.runtime.failures), and the loop every background job uses."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import grpc
import pytest
from grpc import aio

from anpr.runtime.errors import InvalidArgument, NotFound, Unavailable
from anpr.runtime.failures import Failure, Refused, RetryPolicy, classify, keep_running


def rpc_error(code: grpc.StatusCode) -> aio.AioRpcError:
    return aio.AioRpcError(code, aio.Metadata(), aio.Metadata(), details="x")


@pytest.mark.parametrize(
    "exc, kind",
    [
        (ConnectionRefusedError(), Failure.OUTAGE),
        (asyncpg.CannotConnectNowError(), Failure.OUTAGE),
        (asyncpg.InterfaceError("pool is closing"), Failure.OUTAGE),
        (asyncpg.SerializationError(), Failure.OUTAGE),
        (asyncpg.ReadOnlySQLTransactionError(), Failure.OUTAGE),
        (asyncpg.InvalidCachedStatementError(), Failure.OUTAGE),
        (asyncpg.OutdatedSchemaCacheError("cached statement plan is invalid"), Failure.OUTAGE),
        (rpc_error(grpc.StatusCode.UNAVAILABLE), Failure.OUTAGE),
        (rpc_error(grpc.StatusCode.PERMISSION_DENIED), Failure.OUTAGE),
        (Unavailable("down"), Failure.OUTAGE),
        (rpc_error(grpc.StatusCode.INVALID_ARGUMENT), Failure.REFUSED),
        (asyncpg.StringDataRightTruncationError(), Failure.REFUSED),
        (Refused("fewer accepted"), Failure.REFUSED),
        (InvalidArgument.of("vrm", "required"), Failure.REFUSED),
        (NotFound("no such entry"), Failure.REFUSED),
        (asyncpg.UndefinedColumnError(), Failure.BUG),
        (rpc_error(grpc.StatusCode.INTERNAL), Failure.BUG),
        (TypeError(), Failure.BUG),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.name,
)
def test_every_failure_is_an_outage_a_refusal_or_a_bug(exc, kind):
    assert classify(exc) is kind


async def test_a_background_loop_outlives_outages_and_bugs_and_logs_a_bug_with_its_traceback(caplog):
    failures = [ConnectionRefusedError(), KeyError("bug"), None, None]
    done = asyncio.Event()
    calls = []

    async def step():
        calls.append(1)
        exc = failures.pop(0) if failures else None
        if exc is not None:
            raise exc
        if not failures:
            done.set()
            return 3600.0  # done: park until cancelled
        return 0.0

    log = logging.getLogger("test.loop")
    with caplog.at_level(logging.WARNING, logger="test.loop"):
        task = asyncio.create_task(keep_running(step, log, "the job", policy=RetryPolicy(initial_s=0.001)))
        await asyncio.wait_for(done.wait(), 5)
        task.cancel()
    records = [(r.levelname, r.failure, r.exc_info is not None) for r in caplog.records]
    assert records == [("WARNING", "outage", False), ("ERROR", "bug", True)]
    assert len(calls) == 4
