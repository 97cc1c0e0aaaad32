"""What one load generator of chain_bench saw in one run (chain_load's phases and chain_faults')."""

from __future__ import annotations

from grpc import aio

from anpr.v1 import ingest_pb2
from benchmarks import common

STORED = ingest_pb2.READ_STATUS_STORED


class Tally(common.Tally):
    """What one generator saw in one run: besides the base's, the reads stored and sent in the
    window, and the listed reads stored (and how many of them are firearms-marked) in the whole run."""

    def __init__(self, w0: float, w1: float):
        super().__init__(w0, w1)
        self.stored_in_window = 0
        self.listed = self.firearms = 0  # listed reads acknowledged as stored, in the whole run
        self.sent_in_window = 0
        self.listed_reads: list[tuple[str, str]] = []  # (read id, camera id) of listed reads stored

    def ack(
        self,
        t_sent: float,
        t_ack: float,
        results,
        listed: int,
        firearms: int,
        listed_reads: tuple[tuple[str, str], ...] = (),
    ) -> None:
        stored = 0
        for r in results:
            self.statuses[r.status] += 1
            stored += r.status == STORED
        if stored == len(results):
            self.listed += listed
            self.firearms += firearms
            self.listed_reads += listed_reads
        if self.w0 <= t_ack < self.w1:
            self.ack_ms.append((t_ack - t_sent) * 1000.0)
            self.stored_in_window += stored

    def failed(self, exc: BaseException) -> None:
        self.error(exc.code().name if isinstance(exc, aio.AioRpcError) else type(exc).__name__, str(exc))

    def result(self) -> dict:
        return {
            "statuses": {ingest_pb2.ReadStatus.Name(k): v for k, v in self.statuses.items()},
            "errors": dict(self.errors),
            "first_error": self.first_error,
            "ack_ms": self.ack_ms,
            "stored_in_window": self.stored_in_window,
            "listed": self.listed,
            "firearms": self.firearms,
            "sent_in_window": self.sent_in_window,
            "listed_reads": self.listed_reads,
        }
