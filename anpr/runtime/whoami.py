"""anpr.v1.IdentityService, which every service serves: WhoAmI answers the caller's identity as the
auth interceptor verified it (`current_caller()`), whatever verified the token."""

from __future__ import annotations

from grpc import aio

from anpr.runtime.auth import Role, current_caller
from anpr.v1 import identity_pb2, identity_pb2_grpc

SERVICE = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name
METHOD_ROLES = {f"/{SERVICE}/WhoAmI": frozenset(Role)}  # every role may ask who it is


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    async def WhoAmI(self, request, context):
        c = current_caller()
        return identity_pb2.WhoAmIResponse(
            subject=c.subject, role=str(c.role), force=c.force, national=c.national, unit=c.unit, covert=c.covert
        )


def add_to_server(server: aio.Server) -> None:
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(), server)
