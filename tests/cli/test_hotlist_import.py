"""`anpr hotlist import`: a CSV extract replaces a list; bad rows are reported by line."""

from __future__ import annotations

import pytest

from anpr.runtime.auth import Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.cli import anpr
from tests.support import InProcessSuite, channel, make_read, next_alert, subscribe

HEADER = "vrm,make,model,colour,action,warning_markers,reason,pnc_id,source_reference,weed_date\n"
GOOD = [
    "KX19 ZTB,Ford,Focus,Blue,STOP_VEHICLE,DRUGS,Supply of controlled drugs,24/118822K,IR-1,2099-01-01\n",
    "LR68HGW,BMW,X5,Black,DO_NOT_STOP_REPORT_SIGHTING,FIREARMS;VIOLENT,Firearms discharge,25/004417Q,IR-2,\n",
    "OLD10NE,Audi,A3,Grey,STOP_VEHICLE,,Lapsed entry,26/1A,IR-3,2001-01-01\n",
]
BAD = [
    "AB12*CD,Ford,Ka,Red,STOP_VEHICLE,,Bad plate,,,\n",
    "YD21MPO,Ford,Ka,Red,PURSUE,LASERS,Unknown action,,,\n",
]


@pytest.fixture
async def suite(database_url, tokens):
    s = InProcessSuite(database_url, tokens)
    await s.start_all()
    yield s
    await s.stop()


async def test_import_reports_bad_rows_by_line_and_imports_nothing(suite, tmp_path):
    extract = tmp_path / "pnc.csv"
    extract.write_text(HEADER + GOOD[0] + BAD[0] + GOOD[1] + BAD[1])
    code, out = await anpr(
        "hotlist",
        "import",
        str(extract),
        "--list",
        "PNC",
        "--source",
        "pnc",
        "--quiet",
        "--addr",
        suite.addr("matcher"),
        token=suite.tokens[Role.HOTLIST_ADMIN],
    )
    assert code == 1
    assert "line 3: vrm: 'AB12*CD' is not 1-10 letters and digits" in out
    assert "line 5: action: 'PURSUE' is not one of the actions; warning_markers: unknown marker 'LASERS'" in out
    assert "nothing imported" in out
    async with channel(suite.addr("matcher"), suite.tokens[Role.HOTLIST_ADMIN]) as ch:
        lists = (await matcher_pb2_grpc.MatcherServiceStub(ch).ListHotlists(matcher_pb2.ListHotlistsRequest())).hotlists
    assert not lists


async def test_a_bad_row_after_thousands_sent_leaves_an_existing_list_as_it_was(suite, tmp_path):
    """An existing list's import is sent as the file is read; a bad row late in it cancels the call."""

    async def imported(path, *more) -> tuple[int, str]:
        return await anpr(
            *("hotlist", "import", str(path), "--list", "PNC", "--source", "pnc", "--quiet", *more),
            *("--addr", suite.addr("matcher")),
            token=suite.tokens[Role.HOTLIST_ADMIN],
        )

    first = tmp_path / "first.csv"
    first.write_text(HEADER + GOOD[0])
    assert (await imported(first))[0] == 0
    # a new list's settings for this one (which is not covert): refused, naming them, not ignored
    code, out = await imported(first, "--covert", "--priority", "5")
    assert (
        code == 2
        and "--priority and --covert: the list 'PNC' exists (source pnc_national, priority 0, not covert" in out
    ), out
    assert "nothing imported" in out and "anpr hotlist set --list NAME" in out
    # the list's settings are changed by `anpr hotlist set`, then the import with them goes through
    admin, matcher = suite.tokens[Role.HOTLIST_ADMIN], suite.addr("matcher")
    code, out = await anpr(
        "hotlist", "set", "--list", "PNC", "--covert", "--priority", "5", "--addr", matcher, token=admin
    )
    assert code == 0 and "PNC: source pnc_national, priority 5, covert, look-alikes matched" in out, out
    assert (await imported(first, "--covert", "--priority", "5"))[0] == 0
    code, out = await anpr(
        "hotlist", "set", "--list", "PNC", "--no-covert", "--priority", "0", "--addr", matcher, token=admin
    )
    assert code == 0 and "priority 0, not covert" in out, out
    code, out = await anpr("hotlist", "set", "--list", "PNX", "--covert", "--addr", matcher, token=admin)
    assert code == 2 and "no hotlist named 'PNX'" in out, out
    many = tmp_path / "many.csv"  # 5 messages' worth of good rows, then a bad one
    many.write_text(
        HEADER + "".join(f"ZZ{i:05d},Ford,Ka,Red,STOP_VEHICLE,,Reason,,,\n" for i in range(10_000)) + BAD[0]
    )
    code, out = await imported(many)
    assert code == 1 and "line 10002: vrm: 'AB12*CD'" in out and "nothing imported" in out, out
    code, out = await anpr("hotlist", "list", "--addr", suite.addr("matcher"), token=suite.tokens[Role.HOTLIST_ADMIN])
    assert "PNC\t1 entry" in out
    code, out = await imported(many, "--skip-bad-rows")
    assert code == 0 and "imported 10000 entries into 'PNC'" in out and "skipped 1 bad row" in out, out


async def test_import_then_reimport_replaces_the_list_and_alerts_carry_the_csv_fields(suite, tmp_path):
    extract = tmp_path / "pnc.csv"
    extract.write_text(HEADER + "".join(GOOD) + BAD[0])
    code, out = await anpr(
        "hotlist",
        "import",
        str(extract),
        "--list",
        "PNC",
        "--source",
        "pnc",
        "--skip-bad-rows",
        "--addr",
        suite.addr("matcher"),
        token=suite.tokens[Role.HOTLIST_ADMIN],
    )
    assert code == 0, out
    assert "imported 3 entries into 'PNC'" in out and "skipped 1 bad row" in out
    assert ": 3 added, 0 changed, 0 removed" in out, out
    assert "checking" not in out  # no progress bar for a few rows, nor into a log

    extract.write_text(HEADER + GOOD[1])  # the next extract drops the first entry
    code, out = await anpr(
        "hotlist",
        "import",
        str(extract),
        "--list",
        "PNC",
        "--quiet",
        "--addr",
        suite.addr("matcher"),
        token=suite.tokens[Role.HOTLIST_ADMIN],
    )
    assert code == 0, out
    assert ": 0 added, 0 changed, 2 removed" in out, out  # what the extract changed in the list
    code, out = await anpr("hotlist", "list", "--addr", suite.addr("matcher"), token=suite.tokens[Role.HOTLIST_ADMIN])
    assert "PNC\t1 entry\tpnc_national" in out

    async with (
        channel(suite.addr("notify"), suite.tokens[Role.CONTROL_ROOM]) as ch,
        channel(suite.addr("ingest"), suite.tokens[Role.CAMERA]) as cam,
    ):
        stream = subscribe(ch, Role.CONTROL_ROOM, from_start=True)
        await ingest_pb2_grpc.IngestServiceStub(cam).SubmitReads(
            iter(
                [
                    ingest_pb2.SubmitReadsRequest(
                        reads=[make_read("KX19ZTB"), make_read("OLD10NE"), make_read("LR68HGW")]
                    )
                ]
            )
        )
        alert = await next_alert(stream, 15)
        stream.cancel()
    entry = alert.hit.entry
    assert alert.hit.read.vrm == "LR68HGW"
    assert entry.action == T.ACTION_DO_NOT_STOP_REPORT_SIGHTING and entry.pnc_id == "25/004417Q"
    assert list(entry.warning_markers) == [T.WARNING_MARKER_FIREARMS, T.WARNING_MARKER_VIOLENT]
    assert entry.vehicle.make == "BMW" and entry.source_reference == "IR-2"


async def test_hostile_extracts_get_line_numbered_errors_never_a_traceback(suite, tmp_path):
    extract = tmp_path / "hostile.csv"
    rows = [
        GOOD[0].encode(),
        b"AB12CDE,Ford,Ka,Red,STOP_VEHICLE,,Bad \xff\xfe bytes,,,\n",  # line 3: not UTF-8
        b"CD12EFG,Ford,Ka,Red,STOP_VEHICLE,,Far weed,,,9999-12-31T23:00:00-05:00\n",  # line 4: beyond 9999 in UTC
        b"EF12GHI,Ford,Ka,Red,STOP_VEHICLE,,Nul \x00 here,,,\n",  # line 5: NUL
        ("GH12IJK,Ford,Ka,Red,STOP_VEHICLE,," + "r" * 5000 + ",,,\n").encode(),  # line 6: over the limit
        GOOD[0].encode(),  # line 7: repeats line 2
        ("IJ12KLM,Ford,Ka,Red,STOP_VEHICLE,," + "x" * 200_000 + ",,,\n").encode(),  # line 8: over csv's limit
    ]
    extract.write_bytes(HEADER.encode() + b"".join(rows))
    code, out = await anpr(
        "hotlist",
        "import",
        str(extract),
        "--list",
        "PNC",
        "--source",
        "pnc",
        "--quiet",
        "--addr",
        suite.addr("matcher"),
        token=suite.tokens[Role.HOTLIST_ADMIN],
    )
    assert code == 1 and "Traceback" not in out, out
    for line, problem in [
        (3, "not valid UTF-8"),
        (4, "weed_date"),
        (5, "reason: must not contain NUL"),
        (6, "reason: at most 4096 characters"),
        (7, "entry_id: repeats the entry of line 2"),
        (8, "not valid CSV"),
    ]:
        assert f"line {line}: " in out and problem in out.split(f"line {line}: ", 1)[1].split("\n", 1)[0], (line, out)


async def test_a_header_only_file_does_not_empty_a_list_unless_asked(suite, tmp_path):
    extract = tmp_path / "pnc.csv"
    extract.write_text(HEADER + GOOD[0])
    args = (
        "hotlist",
        "import",
        str(extract),
        "--list",
        "PNC",
        "--source",
        "pnc",
        "--quiet",
        "--addr",
        suite.addr("matcher"),
    )
    assert (await anpr(*args, token=suite.tokens[Role.HOTLIST_ADMIN]))[0] == 0
    extract.write_text(HEADER)
    code, out = await anpr(*args, token=suite.tokens[Role.HOTLIST_ADMIN])
    assert code == 1 and "--allow-empty" in out
    code, out = await anpr("hotlist", "list", "--addr", suite.addr("matcher"), token=suite.tokens[Role.HOTLIST_ADMIN])
    assert "PNC\t1 entry" in out
    code, out = await anpr(*args, "--allow-empty", token=suite.tokens[Role.HOTLIST_ADMIN])
    assert code == 0, out
    code, out = await anpr("hotlist", "list", "--addr", suite.addr("matcher"), token=suite.tokens[Role.HOTLIST_ADMIN])
    assert "PNC\t0 entries" in out


async def test_a_lists_calibration_is_asked_for_by_the_lists_name(suite, tmp_path):
    extract = tmp_path / "pnc.csv"
    extract.write_text(HEADER + GOOD[0])
    admin, matcher = suite.tokens[Role.HOTLIST_ADMIN], suite.addr("matcher")
    code, out = await anpr(
        *("hotlist", "import", str(extract), "--list", "PNC", "--source", "pnc", "--quiet", "--addr", matcher),
        token=admin,
    )
    assert code == 0, out
    code, out = await anpr("calibration", "show", "PNC", "--list", "--addr", matcher, token=admin)
    assert code == 0 and "hotlist PNC (" in out and "nothing learnt yet" in out, out
    code, out = await anpr("calibration", "reset", "PNX", "--list", "--addr", matcher, token=admin)
    assert code == 2 and "no hotlist named 'PNX'" in out, out
