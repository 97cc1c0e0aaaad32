"""Plate patches as notify and firearms show them: fetched from ingest, which keeps the images of
the reads (GetReadPlatePatch, with this service's token)."""

from __future__ import annotations

import grpc

from anpr.runtime.errors import FailedPrecondition, NotFound, Unavailable
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, types_pb2

TIMEOUT_S = 5.0


class PlatePatches:
    def __init__(self, ingest: ingest_pb2_grpc.IngestServiceStub | None):
        self._ingest = ingest  # None: the service was not given ANPR_INGEST_ADDR

    async def of(self, read: types_pb2.Read, viewer: str, reason: str) -> bytes:
        """The plate patch of `read` (empty when the camera sent none), for `viewer` (a subject)
        with `reason`, both audited by ingest too. FailedPrecondition when this service has no
        ingest to ask, NotFound when the read is gone (retention), Unavailable when ingest cannot
        answer."""
        if self._ingest is None:
            raise FailedPrecondition("plate patches are not configured on this service (ANPR_INGEST_ADDR)")
        request = ingest_pb2.GetReadPlatePatchRequest(
            read_id=read.read_id, captured_at=read.captured_at, viewer=viewer, reason=reason
        )
        try:
            return (await self._ingest.GetReadPlatePatch(request, timeout=TIMEOUT_S)).plate_image
        except grpc.aio.AioRpcError as err:
            error = NotFound if err.code() == grpc.StatusCode.NOT_FOUND else Unavailable
            raise error("the read store could not give the plate patch") from None
