"""One classification of failures, used by every retry loop, relay, follower and escalator.

Whatever goes wrong is one of three things:

- OUTAGE: something this process depends on is away for now (PostgreSQL restarting, a peer service
  down or not yet ready, a deadline passed, a peer refusing our credentials until an operator mends
  them). Nothing is wrong with the work itself: keep it and try again with backoff, log a warning.
- REFUSED: the work itself will never be accepted as it is (a peer's INVALID_ARGUMENT or
  FAILED_PRECONDITION, a value PostgreSQL cannot store, a domain error of ours). Retrying cannot help:
  split it, set it aside (a dead letter), or answer the caller with the reason.
- BUG: anything else (a SQL error that is not about a value, a TypeError, a peer's INTERNAL). Log it
  with its traceback; a relay tries a few more times, then sets the record aside, so that a bug
  never blocks the records behind it.

`RetryPolicy` says how long to wait between tries; `keep_running` is the loop every background
job of the runtime and the services uses.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import grpc

from anpr.runtime.errors import AnprError, Unavailable


class Failure(enum.Enum):
    OUTAGE = "outage"
    REFUSED = "refused"
    BUG = "bug"


# What an unreachable or restarting PostgreSQL raises (and a closed pool). InterfaceError covers
# "pool is closing" and lost connections; a serialization failure or deadlock is transient too.
PG_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    # A primary that became a standby (a failover in progress) refuses writes until clients reach the
    # new primary.
    asyncpg.ReadOnlySQLTransactionError,
    # A prepared statement whose tables a migration changed (a rolling upgrade): asyncpg drops the
    # statement, and the next try prepares it again.
    asyncpg.InvalidCachedStatementError,
    asyncpg.OutdatedSchemaCacheError,
)
# What PostgreSQL refuses because of a value it was given: a caller's mistake that got through.
PG_REFUSALS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)

# A peer's answer: the status codes that mean "not now" and those that mean "never like this".
GRPC_OUTAGES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    }
)
GRPC_REFUSALS = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
    }
)


class Refused(Exception):
    """The receiver will never accept this work as it is (invalid, too large, inconsistent)."""


def classify(exc: BaseException) -> Failure:
    if isinstance(exc, Refused):
        return Failure.REFUSED
    if isinstance(exc, AnprError):
        return Failure.OUTAGE if isinstance(exc, Unavailable) else Failure.REFUSED
    if isinstance(exc, grpc.aio.AioRpcError):
        code = exc.code()
        if code in GRPC_OUTAGES:
            return Failure.OUTAGE
        return Failure.REFUSED if code in GRPC_REFUSALS else Failure.BUG
    if isinstance(exc, PG_REFUSALS):
        return Failure.REFUSED
    if isinstance(exc, PG_OUTAGES):
        return Failure.OUTAGE
    return Failure.BUG


def is_outage(exc: BaseException) -> bool:
    return classify(exc) is Failure.OUTAGE


def describe(exc: BaseException) -> str:
    """What a log line says of a failure: the gRPC code or the exception's type (never its text, which
    may hold values such as plates)."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code().name
    return type(exc).__name__


def log_failure(logger: logging.Logger, message: str, exc: BaseException, **extra) -> Failure:
    """Log `exc` as its kind deserves: a warning for an outage or refusal, an error with the
    traceback for a bug (a peer's bug has no traceback here: its status code). Returns the kind."""
    kind = classify(exc)
    fields = {**extra, "failure": kind.value, "error": describe(exc)}
    if kind is Failure.BUG:
        local = not isinstance(exc, grpc.aio.AioRpcError)
        logger.error(message, extra=fields, exc_info=exc if local else None)
    else:
        logger.warning(message, extra=fields)
    return kind


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between tries, and how often a bug is tried again before the work is set
    aside (relays) or the loop goes on with the next round (followers)."""

    initial_s: float = 0.05
    max_s: float = 1.0
    bug_attempts: int = 3

    def backoff(self, attempt: int) -> float:
        return min(self.max_s, self.initial_s * (2 ** max(0, attempt - 1)))


DEFAULT_POLICY = RetryPolicy()
# Background loops that poll the database: slower backoff, up to a few seconds.
LOOP_POLICY = RetryPolicy(initial_s=0.2, max_s=5.0)


async def keep_running(
    step: Callable[[], Awaitable[float | None]], logger: logging.Logger, what: str, *, policy: RetryPolicy = LOOP_POLICY
) -> None:
    """Call `step()` until cancelled; what it returns is the pause before the next call (None or 0:
    at once, after a yield to the event loop). A failure is logged by its kind (`log_failure`) and the step is tried again after the
    policy's backoff, growing while failures go on: an outage ends by itself, and a bug in one round
    must not stop the job for good."""
    attempt = 0
    while True:
        try:
            pause = await step()
            attempt = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            attempt += 1
            pause = policy.backoff(attempt)
            log_failure(logger, f"{what} failed; will retry", exc, retry_in_s=round(pause, 3))
        await asyncio.sleep(pause or 0)  # at least a yield: a step that never awaits must not starve the loop
