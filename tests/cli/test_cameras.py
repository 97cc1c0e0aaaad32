"""The `anpr` command against real services: the camera registry from the command line."""

from __future__ import annotations

import grpc
import pytest

from anpr.runtime.auth import Role
from anpr.runtime.errors import field_violations_of
from anpr.v1 import ingest_pb2, ingest_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.cli import anpr
from tests.support import InProcessSuite, channel, make_read


@pytest.fixture
async def ingest(database_url, tokens):
    suite = InProcessSuite(database_url, tokens)
    await suite.start("ingest", matcher_addr="127.0.0.1:9")
    yield suite
    await suite.stop()


async def test_camera_add_list_disable(ingest):
    addr = ingest.addr("ingest")
    admin = ingest.tokens[Role.CAMERA_ADMIN]
    code, out = await anpr(
        "camera",
        "add",
        "CAM-A1-J5",
        "--name",
        "A1 junction 5",
        "--lat",
        "52.1",
        "--lon",
        "-0.3",
        "--direction",
        "away",
        "--force",
        "Beds Police",
        "--addr",
        addr,
        token=admin,
    )
    assert code == 0 and "CAM-A1-J5: enabled" in out
    code, out = await anpr("camera", "list", "--addr", addr, token=admin)
    line = next(x for x in out.splitlines() if x.startswith("CAM-A1-J5"))
    assert "enabled" in line and "Beds Police" in line and "52.10000,-0.30000" in line

    code, out = await anpr("camera", "disable", "CAM-A1-J5", "--addr", addr, token=admin)
    assert code == 0 and "CAM-A1-J5: disabled" in out
    async with channel(addr, ingest.tokens[Role.CAMERA]) as ch:
        resp = await ingest_pb2_grpc.IngestServiceStub(ch).SubmitReads(
            iter([ingest_pb2.SubmitReadsRequest(reads=[make_read("AB12CDE", camera_id="CAM-A1-J5")])])
        )
    assert resp.results[0].status == ingest_pb2.READ_STATUS_REJECTED
    assert "disabled" in resp.results[0].violations[0].description

    # enabled again, renamed: what no flag changes is kept (the place, force and direction)
    code, out = await anpr("camera", "add", "CAM-A1-J5", "--name", "A1 J5 north", "--addr", addr, token=admin)
    assert code == 0 and "CAM-A1-J5: enabled" in out, out
    async with channel(addr, admin) as ch:
        cams = (await ingest_pb2_grpc.IngestServiceStub(ch).ListCameras(ingest_pb2.ListCamerasRequest())).cameras
    [cam] = [c for c in cams if c.camera_id == "CAM-A1-J5"]
    assert (cam.name, cam.force, cam.direction, cam.enabled) == ("A1 J5 north", "Beds Police", T.DIRECTION_AWAY, True)
    assert (cam.location.latitude, cam.location.longitude) == (52.1, -0.3)


async def test_camera_command_with_the_wrong_role_says_why(ingest):
    code, out = await anpr(
        *("camera", "add", "CAM-X", "--lat", "52.1", "--lon", "-0.3", "--force", "Beds Police"),
        *("--addr", ingest.addr("ingest")),
        token=ingest.tokens[Role.TERMINAL],
    )
    assert code != 0 and "PERMISSION_DENIED" in out


async def test_migrate_applies_every_schema_once_as_the_owner_and_never_as_a_service(empty_database):
    refused_code, refused = await anpr("migrate", database_url=empty_database.service_url("ingest"))
    code, out = await anpr("migrate", database_url=empty_database.owner_url)
    again_code, again = await anpr("migrate", "ingest", database_url=empty_database.owner_url)
    assert refused_code != 0 and "migrations of ingest run as the owner, not as the service's login" in refused
    assert code == 0, out
    assert [line.split(":")[0] for line in out.splitlines()] == ["ingest", "matcher", "notify", "firearms"]
    assert "applied 0001_reads" in out and "applied 0001_activations" in out
    assert again_code == 0 and again.strip() == "ingest: up to date"


async def test_a_camera_is_registered_only_with_its_place_and_force(ingest):
    addr, admin = ingest.addr("ingest"), ingest.tokens[Role.CAMERA_ADMIN]
    code, out = await anpr(
        "camera", "add", "CAM-NOWHERE", "--lat", "52.1", "--force", "Beds", "--addr", addr, token=admin
    )
    assert code == 2 and "--lat and --lon" in out
    code, out = await anpr("camera", "add", "CAM-NOWHERE", "--addr", addr, token=admin)
    assert code == 2 and "--lat and --lon and --force" in out
    code, out = await anpr(  # refused by the service: in the command's words
        "camera", "add", "CAM-NOWHERE", "--lat", "91", "--lon", "0", "--force", "Beds", "--addr", addr, token=admin
    )
    assert code == 2 and "INVALID_ARGUMENT: --lat: must be between -90 and 90" in out, out
    async with channel(addr, admin) as ch:  # a client in another language is told the same
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ingest_pb2_grpc.IngestServiceStub(ch).UpsertCamera(
                ingest_pb2.UpsertCameraRequest(camera=T.Camera(camera_id="CAM-NOWHERE", enabled=True))
            )
        cams = (await ingest_pb2_grpc.IngestServiceStub(ch).ListCameras(ingest_pb2.ListCamerasRequest())).cameras
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations_of(err.value)] == ["camera.location", "camera.force"]
    assert "CAM-NOWHERE" not in {c.camera_id for c in cams}
