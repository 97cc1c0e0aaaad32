"""Server streams that no identity can hoard, and that close cleanly when the client goes away.

Every response stream of every service (Subscribe, StreamActivations, StreamReads, ScanReads) is
driven here, by the outermost server interceptor (anpr.runtime.auth.AuthInterceptor):

- **At most `max_per_identity` open streams per identity** (the verified subject) on this replica;
  one more is refused with RESOURCE_EXHAUSTED before its handler runs.
- **A client that does not read is let go.** Each message is written with `context.write`, and a
  write that cannot complete within `write_timeout_s` (the client's flow-control window stays
  full: it does not read) ends the stream with RESOURCE_EXHAUSTED. The client opens it again and
  resumes from the last sequence it received.
- **The handlers' generators are closed in the call's own task.** grpc.aio leaves a response
  generator suspended at its `yield` when the client cancels while a message is being written;
  the event loop's finaliser then closes it in a new task, where OpenTelemetry's context tokens
  and our caller's ContextVar token cannot be reset ("Failed to detach context", "ValueError ...
  was created in a different Context": two error tracebacks for every cancelled stream). Here the
  generator is closed (`aclose`) in the `finally` of the call itself, so every wrapper below exits
  where it entered.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager

import grpc

log = logging.getLogger(__name__)

Refusal = tuple[grpc.StatusCode, str]


class StreamGuard:
    """The per-identity stream slots of one server, and the driver of its response streams."""

    def __init__(self, max_per_identity: int = 0, write_timeout_s: float | None = None):
        self.max_per_identity = max_per_identity  # 0: no limit
        self.write_timeout_s = write_timeout_s  # None: no limit
        self.open: Counter[str] = Counter()  # subject -> streams open on this server

    def _take(self, subject: str) -> bool:
        if self.max_per_identity and self.open[subject] >= self.max_per_identity:
            return False
        self.open[subject] += 1
        return True

    def _give(self, subject: str) -> None:
        self.open[subject] -= 1
        if self.open[subject] <= 0:
            del self.open[subject]

    async def _write(self, context, message) -> None:
        if self.write_timeout_s is None:
            await context.write(message)
            return
        try:
            async with asyncio.timeout(self.write_timeout_s):
                await context.write(message)
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the stream was not read for {self.write_timeout_s:g} s: open it again and resume"
                " from the last sequence received",
            )

    def drive(
        self,
        behavior: Callable[..., AsyncIterator],
        rpc: str,
        subject: str,
        refusal: Callable[[object], Refusal | None],
        bound: Callable[[], AbstractContextManager],
    ):
        """A coroutine handler for the response stream `behavior`: refused when `refusal(context)`
        says so or `subject` holds all its slots; otherwise run inside `bound()` (the caller's
        context), each message written within the time limit, the generator closed at the end."""

        from anpr.runtime import metrics  # (servers only: the commands that import auth need none of it)

        async def stream(request, context) -> None:
            if refused := refusal(context):
                await context.abort(*refused)
            if not self._take(subject):
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"at most {self.max_per_identity} open streams per identity: close one first",
                )
            metrics.STREAMS.add(1, {"method": rpc})
            try:
                with bound():
                    responses = behavior(request, context)
                    try:
                        async for message in responses:
                            await self._write(context, message)
                    finally:
                        await responses.aclose()
            except asyncio.CancelledError:
                log.debug("stream cancelled by the client", extra={"method": rpc})
                raise
            finally:
                metrics.STREAMS.add(-1, {"method": rpc})
                self._give(subject)

        return stream
